"""What the hub's pseudonymous linkage keys are made from, shared by those who send identifiers
and the child index that keys them (services/childindex). The linkage secret and the keying
itself live only in the child index: an adapter holds identifiers, never the means to turn
guessed identifiers into a child's key.

Normalisation (so realistic variations of the same identifiers agree):
- NHS number, when present and modulus-11 valid, is used alone: digits only
  ("943 476 5919" and "943-476-5919" are the same).
- Otherwise: given name + family name + date of birth + postcode district.
  Names: Unicode NFKD, accents dropped, case-folded, then only letters a-z kept, so spaces,
  hyphens and apostrophes do not matter ("Anne-Marie O'Neil" == "anne marie oneil").
  Postcode: upper-cased, spaces removed; a full postcode is cut to its outward code (the
  inward code is always three characters): "zz1 1aa" -> "ZZ1".
The NHS-number check and the postcode district are also what adapters and CP-IS validate with.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ChildIdentifiers",
    "ChildKeys",
    "IdentifiersIncomplete",
    "enough_to_search",
    "is_valid_nhs_number",
    "normalise_name",
    "normalise_nhs_number",
    "postcode_district",
]


class IdentifiersIncomplete(ValueError):
    """Neither a valid NHS number nor name + date of birth + postcode district were given."""


def normalise_nhs_number(raw: str) -> str:
    return re.sub(r"\D", "", raw)


def is_valid_nhs_number(raw: str) -> bool:
    """NHS number modulus-11 check: weights 10..2 over the first nine digits."""
    digits = normalise_nhs_number(raw)
    if len(digits) != 10 or len(raw.strip()) > 12:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def normalise_name(raw: str) -> str:
    decomposed = unicodedata.normalize("NFKD", raw)
    without_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z]", "", without_accents.casefold())


def postcode_district(raw: str) -> str:
    compact = re.sub(r"\s", "", raw).upper()
    return compact[:-3] if len(compact) > 4 else compact


@dataclass(frozen=True, slots=True)
class ChildIdentifiers:
    """The identifiers a sender holds for one child, as it holds them (not normalised): what
    it sends the child index to get the child's pseudonymous key. Hashable, so a batch can ask
    once per child."""

    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    postcode: str | None = None
    # Used by the child index's probabilistic matching, not by the v0 canonical key.
    sex: str | None = None  # "F" or "M" as the sender records it; None when not known
    upn: str | None = None
    la_child_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The request body of the child index's resolve endpoint."""
        return {
            "nhs_number": self.nhs_number,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "postcode": self.postcode,
            "sex": self.sex,
            "upn": self.upn,
            "la_child_id": self.la_child_id,
        }


class ChildKeys:
    """How a child gets its linkage key: `key_for` the identifiers a record holds, by keyword;
    raises IdentifiersIncomplete when they give none (neither a valid NHS number nor name,
    date of birth and postcode). Subclasses say in `key` what the identifiers get: the child
    index's keyer hashes them (services/childindex/domain.py); an adapter's mapping passes ask
    the index (services/adapters/ingest/child_keys.py)."""

    __slots__ = ()

    def key_for(
        self,
        *,
        nhs_number: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        date_of_birth: dt.date | None = None,
        postcode: str | None = None,
        sex: str | None = None,
        upn: str | None = None,
        la_child_id: str | None = None,
    ) -> str:
        return self.key(
            ChildIdentifiers(
                nhs_number, given_name, family_name, date_of_birth, postcode, sex, upn, la_child_id
            )
        )

    def key(self, identifiers: ChildIdentifiers) -> str:
        raise NotImplementedError


def enough_to_search(identifiers: ChildIdentifiers) -> bool:
    """Whether typed identifiers are enough to search the child index on (issue 16): a valid
    NHS number, a UPN or an LA child id; or a family name with a given name or a date of
    birth; or a given name with a date of birth. Less (a family name alone, a date of birth
    alone) would list whole families or year groups. The child index applies it
    (services/childindex/search.py); the console checks it first to say what is missing."""
    if identifiers.nhs_number and is_valid_nhs_number(identifiers.nhs_number):
        return True
    if (identifiers.upn or "").strip() or (identifiers.la_child_id or "").strip():
        return True
    given = bool((identifiers.given_name or "").strip())
    family = bool((identifiers.family_name or "").strip())
    born = identifiers.date_of_birth is not None
    return (family and (given or born)) or (given and born)
