"""Field-level errors: JSON pointers into the submitted document, never the submitted value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError

from services.adapters.ingest.models import CodedValueError
from services.adapters.ingest.problems import field_errors_from_validation, json_pointer


class _Leaf(BaseModel):
    value: int


class _A(BaseModel):
    kind: Literal["A"]
    items: list[_Leaf]
    name: str


class _B(BaseModel):
    kind: Literal["B"]


_Union = Annotated[_A | _B, Field(discriminator="kind")]


class _Wrapper(BaseModel):
    record: _Union


def _errors(document: Mapping[str, object]) -> list[tuple[str, str]]:
    try:
        _Wrapper.model_validate(document)
    except ValidationError as error:
        return [(e.pointer, e.code) for e in field_errors_from_validation(error.errors(), document)]
    raise AssertionError("expected errors")


def test_pointer_escaping() -> None:
    assert json_pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"
    assert json_pointer([]) == ""


def test_union_tags_are_not_in_pointers() -> None:
    document = {"record": {"kind": "A", "items": [{"value": 1}, {"value": "x"}]}}
    assert _errors(document) == [
        ("/record/items/1/value", "int_parsing"),
        ("/record/name", "missing"),
    ]


def test_unknown_tag_points_at_the_discriminator() -> None:
    assert _errors({"record": {"kind": "Z"}}) == [("/record/kind", "unknown_record_type")]


def test_messages_never_echo_the_value() -> None:
    secret = "Jane Example, 12 Acacia Avenue"
    try:
        _Wrapper.model_validate({"record": {"kind": "A", "items": [], "name": ["x"], "x": secret}})
    except ValidationError as error:
        errors = field_errors_from_validation(error.errors(), {})
    assert all(secret not in e.message for e in errors)


def test_coded_value_errors_carry_their_code_and_field() -> None:
    class Model(BaseModel):
        start: int
        end: int

        def model_post_init(self, _: object) -> None:
            if self.end < self.start:
                raise CodedValueError("date_order", "end before start", field="end")

    document = {"start": 5, "end": 1}
    try:
        Model.model_validate(document)
    except ValidationError as error:
        errors = field_errors_from_validation(error.errors(), document)
    assert [(e.pointer, e.code, e.message) for e in errors] == [
        ("/end", "date_order", "end before start")
    ]


def test_json_decode_errors() -> None:
    errors = field_errors_from_validation(
        [
            {
                "type": "json_invalid",
                "loc": ("body", 3),
                "msg": "JSON decode error",
                "ctx": {"error": "Expecting value"},
            }
        ],
        None,
        strip=("body",),
    )
    assert [(e.pointer, e.code) for e in errors] == [("", "json_invalid")]
