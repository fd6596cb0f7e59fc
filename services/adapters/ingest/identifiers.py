"""The child identifiers agencies record besides name, date of birth, postcode and NHS number:
sex and the unique pupil number (UPN), each as the agency's own system writes it, and what
the child index is sent for it (services/hubkit/linkage.py `ChildIdentifiers`).

The index is sent sex as "F", "M" or None: a value that says "not known", "not specified",
"other" or "unknown" is None, never a guess. Sex is a matching field only (the probabilistic
matcher weighs agreement); it is not part of the notice.

    police, voluntary sector  RecordedSex: F, M, U (not known or not recorded)
    children's services       CIN census code (ISO/IEC 5218): 1 male, 2 female, 0 not known,
                              9 not specified; the SSDA903 SEX column uses 1 and 2
    health (FHIR)             Patient.gender: female, male, other, unknown
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints

from services.adapters.ingest.code_lists import CodeList
from services.adapters.ingest.models import CodedValueError

__all__ = [
    "CENSUS_SEX_CODES",
    "CensusSex",
    "FhirGender",
    "RecordedSex",
    "Upn",
    "census_sex",
    "fhir_sex",
    "recorded_sex",
]

IndexSex = Literal["F", "M"]


class RecordedSex(StrEnum):
    """Sex as police and voluntary-sector systems record it."""

    F = "F"
    M = "M"
    U = "U"  # not known or not recorded


def recorded_sex(value: RecordedSex | None) -> IndexSex | None:
    if value is RecordedSex.F:
        return "F"
    if value is RecordedSex.M:
        return "M"
    return None


# CIN census / SSDA903 codes (ISO/IEC 5218): the values are the codes the returns use.
CENSUS_SEX_CODES: dict[str, IndexSex | None] = {"1": "M", "2": "F", "0": None, "9": None}


def _census_sex_code(raw: str) -> str:
    code = raw.strip()
    if code not in CENSUS_SEX_CODES:
        raise CodedValueError(
            "sex_code", "sex must be a census code: 1 male, 2 female, 0 not known, 9 not specified"
        )
    return code


CensusSex = Annotated[
    str,
    StringConstraints(max_length=4),
    AfterValidator(_census_sex_code),
    CodeList.of(CENSUS_SEX_CODES),
]
"""A CIN census sex code: 1, 2, 0 or 9."""


def census_sex(code: str | None) -> IndexSex | None:
    return CENSUS_SEX_CODES.get(code) if code is not None else None


FhirGender = Literal["male", "female", "other", "unknown"]
"""FHIR administrative gender (http://hl7.org/fhir/administrative-gender)."""


def fhir_sex(gender: str | None) -> IndexSex | None:
    # "other" and "unknown" say nothing the matcher can compare: sent as not known.
    if gender == "female":
        return "F"
    if gender == "male":
        return "M"
    return None


_UPN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")


def _upn(raw: str) -> str:
    code = raw.strip().upper()
    if not _UPN.fullmatch(code):
        raise CodedValueError("upn_format", "UPN must be a letter, 11 digits and a digit or letter")
    return code


Upn = Annotated[str, StringConstraints(max_length=20), AfterValidator(_upn)]
"""A unique pupil number: 13 characters, a letter, 11 digits and a digit or letter;
upper-cased."""
