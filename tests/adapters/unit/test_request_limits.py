"""The pure parts of the ingest limits: nesting depth, body limits, CSV cells, names."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from services.adapters.ingest.csv_batch import csv_columns, read_csv
from services.adapters.ingest.errors import BatchInvalid
from services.adapters.ingest.guard import (
    BodyLimits,
    body_limit,
    declared_length,
    exceeds_depth,
    is_json,
)
from services.adapters.ingest.models import CodedValueError, PersonName, check_person_name
from services.adapters.ingest.settings import AdapterSettings
from services.adapters.voluntary_sector.models import VcsUpdateForm

LIMITS = BodyLimits(max_json_bytes=1024, max_upload_bytes=4096, max_json_depth=3)


@pytest.mark.parametrize(
    ("body", "deeper"),
    [
        (b'{"a": [1, {"b": 2}]}', False),  # exactly 3 levels
        (b'{"a": [1, {"b": [2]}]}', True),  # 4 levels
        (b'{"a": "[[[[[[{{{{{{"}', False),  # brackets in strings do not count
        (b'{"a": "\\"[[[[[["}', False),  # nor after an escaped quote
        (b"[][][][][][][][][]", False),  # many, but shallow
        (b"[" * 10_000, True),  # invalid and deep: refused without recursion
        (b"", False),
    ],
)
def test_exceeds_depth(body: bytes, deeper: bool) -> None:
    assert exceeds_depth(body, 3) is deeper


def test_body_limit_by_content_type() -> None:
    assert body_limit("multipart/form-data; boundary=x", LIMITS) == 4096
    assert body_limit("application/json", LIMITS) == 1024
    assert body_limit(None, LIMITS) == 1024


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        ("application/json", True),
        ("application/fhir+json; charset=utf-8", True),
        (None, True),
        ("multipart/form-data; boundary=x", False),
        ("text/csv", False),
    ],
)
def test_is_json(content_type: str | None, json: bool) -> None:
    assert is_json(content_type) is json


@pytest.mark.parametrize(
    ("value", "length"), [("12", 12), (" 7 ", 7), (None, None), ("-1", None), ("x", None)]
)
def test_declared_length(value: str | None, length: int | None) -> None:
    assert declared_length(value) == length


def test_default_limits() -> None:
    settings = AdapterSettings()
    assert settings.max_json_bytes == 1024 * 1024
    assert settings.max_json_depth == 32
    assert settings.max_csv_cell_chars == 20_000


def _csv(cell: str) -> bytes:
    columns, _, _ = csv_columns(VcsUpdateForm)
    row = ["x"] * len(columns)
    row[0] = cell
    return (",".join(columns) + "\n" + ",".join(row) + "\n").encode()


@pytest.mark.parametrize("chars", [101, 200_000])
def test_a_cell_over_the_limit_rejects_the_upload(chars: int) -> None:
    # 200,000 is also over the csv module's own limit, which used to escape as a 500.
    with pytest.raises(BatchInvalid) as raised:
        read_csv(_csv("A" * chars), VcsUpdateForm, max_rows=10, max_cell_chars=100)
    (error,) = raised.value.errors
    assert error.code == "cell_too_long"
    assert "100 characters" in error.message


def test_a_cell_at_the_limit_is_read() -> None:
    (row,) = read_csv(_csv("A" * 100), VcsUpdateForm, max_rows=10, max_cell_chars=100)
    assert row.row == 1  # read (and validated on its own), not refused


@pytest.mark.parametrize("name", ["Avery", "Kestrel-Moor", "O'Brien", "Zoë", "محمد", "李"])
def test_ordinary_names_pass(name: str) -> None:
    assert check_person_name(name) == name


@pytest.mark.parametrize(
    ("char", "code"),
    [
        *[(c, "name_bidi_control") for c in "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"],
        *[(c, "name_bidi_control") for c in "\u2066\u2067\u2068\u2069"],
        *[(c, "name_control_character") for c in "\x00\x07\t\n\x1b\x7f\x85"],
    ],
)
def test_control_and_bidi_characters_are_refused(char: str, code: str) -> None:
    with pytest.raises(CodedValueError) as raised:
        check_person_name(f"Av{char}ery")
    assert raised.value.code == code
    assert "Av" not in str(raised.value)  # the message never repeats the name


def test_person_name_type_raises_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(PersonName).validate_python("Eve\u202eyrav")
