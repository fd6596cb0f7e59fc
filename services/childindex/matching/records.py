"""What the matcher reads from a record, and the normalised row it compares.

`IdentifiedRecord` is the port: any object with these attributes (an agency record, a resolve
request) can be matched; ground truth a caller may hold (who the child really is) is never
read. `match_row` turns one into the flat row Splink compares: names as in
services/hubkit/linkage.py (letters a-z only), plus the columns that comparisons and blocking
rules need (nickname-normalised given name, double-barrel parts, birth year, postcode
district). Pure.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from services.hubkit.linkage import (
    is_valid_nhs_number,
    normalise_name,
    normalise_nhs_number,
    postcode_district,
)

__all__ = ["IdentifiedRecord", "formal_given_name", "match_row"]

_NICKNAMES_FILE = Path(__file__).with_name("nicknames.json")


class IdentifiedRecord(Protocol):
    @property
    def record_id(self) -> str: ...
    @property
    def given_name(self) -> str | None: ...
    @property
    def family_name(self) -> str | None: ...
    @property
    def sex(self) -> str | None: ...
    @property
    def date_of_birth(self) -> dt.date | None: ...
    @property
    def postcode(self) -> str | None: ...
    @property
    def nhs_number(self) -> str | None: ...
    @property
    def upn(self) -> str | None: ...
    @property
    def la_child_id(self) -> str | None: ...


@cache
def _nicknames() -> dict[str, str]:
    table: dict[str, str] = json.loads(_NICKNAMES_FILE.read_text())
    return {short: formal for short, formal in table.items() if not short.startswith("_")}


def formal_given_name(normalised: str) -> str:
    """The formal name a short form stands for ("alex" -> "alexander"), else the name itself."""
    return _nicknames().get(normalised, normalised)


def match_row(record: IdentifiedRecord) -> dict[str, Any]:
    given = normalise_name(record.given_name or "") or None
    family = normalise_name(record.family_name or "") or None
    parts = [
        part
        for part in (normalise_name(p) for p in re.split(r"[-\s]+", record.family_name or ""))
        if part
    ]
    dob = record.date_of_birth
    nhs = record.nhs_number
    postcode = re.sub(r"\s", "", record.postcode or "").upper() or None
    return {
        "record_id": record.record_id,
        "given_name": given,
        "given_name_formal": formal_given_name(given) if given else None,
        "family_name": family,
        "family_name_parts": parts or None,
        "sex": record.sex or None,
        "date_of_birth": dob.isoformat() if dob else None,
        "birth_year": dob.year if dob else None,
        "postcode": postcode,
        "postcode_district": postcode_district(postcode) if postcode else None,
        "nhs_number": normalise_nhs_number(nhs) if nhs and is_valid_nhs_number(nhs) else None,
        "upn": (record.upn or "").strip().upper() or None,
        "la_child_id": (record.la_child_id or "").strip().upper() or None,
    }
