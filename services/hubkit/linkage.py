"""Pseudonymous linkage keys: the same child, reported by different agencies, gets one key.

key = HMAC-SHA-256(hub linkage secret, canonical identifier string), hex.

Normalisation (so realistic variations of the same identifiers agree):
- NHS number, when present and modulus-11 valid, is used alone: digits only
  ("943 476 5919" and "943-476-5919" are the same). Canonical form `nhs:<10 digits>`.
- Otherwise: given name + family name + date of birth + postcode district.
  Names: Unicode NFKD, accents dropped, case-folded, then only letters a-z kept, so spaces,
  hyphens and apostrophes do not matter ("Anne-Marie O'Neil" == "anne marie oneil").
  Postcode: upper-cased, spaces removed; a full postcode is cut to its outward code (the
  inward code is always three characters): "zz1 1aa" -> "ZZ1". Date of birth as YYYY-MM-DD.
  Canonical form `demo:<given>|<family>|<dob>|<district>`.
Without the secret the key cannot be reversed or recomputed from guessed identifiers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "IdentifiersIncomplete",
    "LinkageKeyer",
    "is_valid_nhs_number",
    "normalise_name",
    "normalise_nhs_number",
    "postcode_district",
    "provision_linkage_secret",
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
class LinkageKeyer:
    secret: bytes

    def canonical(
        self,
        *,
        nhs_number: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        date_of_birth: dt.date | None = None,
        postcode: str | None = None,
    ) -> str:
        if nhs_number and is_valid_nhs_number(nhs_number):
            return f"nhs:{normalise_nhs_number(nhs_number)}"
        parts = (
            normalise_name(given_name or ""),
            normalise_name(family_name or ""),
            date_of_birth.isoformat() if date_of_birth else "",
            postcode_district(postcode or ""),
        )
        if not all(parts):
            raise IdentifiersIncomplete(
                "a linkage key needs a valid NHS number, or given name, family name, "
                "date of birth and postcode"
            )
        return "demo:" + "|".join(parts)

    def key_for(
        self,
        *,
        nhs_number: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        date_of_birth: dt.date | None = None,
        postcode: str | None = None,
    ) -> str:
        canonical = self.canonical(
            nhs_number=nhs_number,
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            postcode=postcode,
        )
        return hmac.new(self.secret, canonical.encode(), hashlib.sha256).hexdigest()


def provision_linkage_secret(path: Path) -> None:
    """Create the hub's linkage secret (32 random bytes, mode 0600) unless it exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
