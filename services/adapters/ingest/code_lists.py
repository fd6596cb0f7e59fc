"""Code lists on the OpenAPI page, taken from the vocabulary each validator checks against.

A closed vocabulary an adapter validates with a set (a CIN referral source, an assessment
factor, a census sex code, a FHIR care setting) would otherwise exist only in the source. Here
it becomes the field's `enum`, built from that same set, so the published list and the
accepted list cannot drift apart: `CodeList` annotates a pydantic field, `code_list_schema`
makes a named component for a vocabulary the health adapter reads out of FHIR elements (whose
generic models cannot carry it on a field).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["CodeList", "code_list_schema", "code_order"]

_NUMBERED = re.compile(r"([0-9]+)(.*)")


def code_order(code: str) -> tuple[int, str]:
    """Census-style codes in the order their guides list them: 2A before 10, 9A before 10A."""
    match = _NUMBERED.fullmatch(code)
    return (int(match.group(1)), match.group(2)) if match else (-1, code)


def _ordered(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(codes), key=code_order))


@dataclass(frozen=True, slots=True)
class CodeList:
    """Field annotation: publish `codes` as the field's JSON-schema `enum`.

    `Annotated[str, AfterValidator(check), CodeList.of(VOCABULARY)]`, with `check` testing
    membership of the same VOCABULARY."""

    codes: tuple[str, ...]

    @classmethod
    def of(cls, codes: Iterable[str]) -> CodeList:
        return cls(_ordered(codes))

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["enum"] = list(self.codes)
        return schema


def code_list_schema(codes: Iterable[str], description: str) -> dict[str, Any]:
    """A named OpenAPI component for a vocabulary: a string with these codes as its enum."""
    return {"type": "string", "enum": list(_ordered(codes)), "description": description}
