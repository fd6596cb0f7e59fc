"""Field-level errors and problem documents (RFC 9457) every adapter answers with.

A `FieldError` names *where* (an RFC 6901 JSON pointer into the submitted document, or into
one CSV row), *what kind* (a stable machine code) and *what was wrong* (one sentence).
Errors never echo the submitted value: it may be personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.hubkit.problems import problem_type_uri

__all__ = [
    "FieldError",
    "Problem",
    "field_errors_from_validation",
    "json_pointer",
]


class FieldError(BaseModel):
    """One precise problem with the submitted record."""

    model_config = ConfigDict(frozen=True)

    pointer: str = Field(
        description=(
            "RFC 6901 JSON pointer to the offending value in the submitted JSON document "
            "(for a CSV row: to the column within that row); '' means the whole document."
        ),
        examples=["/subject/nhs_number"],
    )
    code: str = Field(
        description="Stable machine-readable error code, e.g. 'missing', 'nhs_number_checksum'.",
        examples=["nhs_number_checksum"],
    )
    message: str = Field(
        description="What was wrong, in one sentence; never repeats the submitted value.",
        examples=["NHS number fails the modulus-11 check digit."],
    )


class Problem(BaseModel):
    """An RFC 9457 problem document: why the request was refused and nothing published.

    The schema of what the adapter edge renders (services/adapters/ingest/http.py, through
    services/hubkit/problems.py), for OpenAPI: the hub's members, then `errors`, `notice_id`.
    """

    type: str = Field(
        description="URI identifying the problem type.",
        examples=[problem_type_uri("invalid-record")],
    )
    title: str = Field(
        description="Short summary of the problem type.",
        examples=["Record failed validation"],
    )
    status: int = Field(description="HTTP status code.", examples=[422])
    detail: str = Field(
        description="Explanation specific to this request.",
        examples=["2 fields are invalid; nothing was published."],
    )
    errors: list[FieldError] = Field(
        default_factory=list,
        description="Field-level errors; empty when the problem is not about a field.",
        examples=[
            [
                {
                    "pointer": "/subject/nhs_number",
                    "code": "nhs_number_checksum",
                    "message": "NHS number fails the modulus-11 check digit.",
                }
            ]
        ],
    )
    notice_id: str | None = Field(
        default=None,
        description="Notice id the record maps to, when known (e.g. for a 409 conflict).",
        examples=["3f2c9a4e-5b1d-5e7f-8a9b-0c1d2e3f4a5b"],
    )


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def json_pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 pointer from path segments: ('subject', 'names', 0) -> '/subject/names/0'."""
    return "".join("/" + _escape(segment) for segment in path)


def _document_path(loc: Sequence[Any], document: Any, *, missing: bool) -> list[str | int]:
    """Walk `loc` through the submitted document, dropping pydantic's own segments.

    Pydantic puts union tags (the discriminator value, or a model name) into `loc`; they are
    not in the document. A segment is kept when the document has it, or when it is the last
    segment of a 'missing' error (the missing field itself).
    """
    path: list[str | int] = []
    node: Any = document
    for index, segment in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, Mapping) and isinstance(segment, str):
            if segment in node:
                path.append(segment)
                node = node[segment]
                continue
            if last and missing:
                path.append(segment)
            continue
        if isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
            path.append(segment)
            node = node[segment]
            continue
        if last and missing and isinstance(node, list | Mapping):
            path.append(segment)
    return path


_CODE_ALIASES = {
    "missing": "missing",
    "extra_forbidden": "unknown_field",
    "union_tag_invalid": "unknown_record_type",
    "union_tag_not_found": "missing",
}


def field_errors_from_validation(
    errors: Iterable[Mapping[str, Any]],
    document: Any,
    *,
    strip: Sequence[str | int] = (),
) -> list[FieldError]:
    """Pydantic / FastAPI validation errors as FieldErrors with JSON pointers.

    `strip` removes a leading location prefix (FastAPI puts 'body' first).
    """
    result: list[FieldError] = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if strip and loc[: len(strip)] == list(strip):
            loc = loc[len(strip) :]
        kind = str(error.get("type", "invalid"))
        context = error.get("ctx") or {}
        if kind == "json_invalid":
            result.append(
                FieldError(
                    pointer="",
                    code="json_invalid",
                    message=f"body is not valid JSON: {context.get('error', 'decode error')}",
                )
            )
            continue
        path = _document_path(loc, document, missing=kind == "missing")
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            discriminator = str(context.get("discriminator", "")).strip("'\"")
            if discriminator and discriminator.isidentifier():
                path.append(discriminator)
        message = str(error.get("msg", "invalid value"))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        code = _CODE_ALIASES.get(kind, kind)
        cause = context.get("error")
        if kind == "value_error" and isinstance(cause, ValueError):
            code = getattr(cause, "code", code)
            field = getattr(cause, "field", None)
            if isinstance(field, str):
                path.append(field)
            elif isinstance(field, tuple):
                path.extend(field)
        result.append(FieldError(pointer=json_pointer(path), code=code, message=message))
    return result
