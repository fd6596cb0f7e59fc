"""Pseudonymous linkage keys: the same child, reported by different agencies, gets one key.

key = HMAC-SHA-256(hub linkage secret, canonical identifier string), hex.

Canonical string (normalisation rules: services/hubkit/linkage.py):
- a modulus-11 valid NHS number alone: `nhs:<10 digits>`;
- otherwise given name, family name, date of birth (YYYY-MM-DD) and postcode district, all
  four needed: `demo:<given>|<family>|<dob>|<district>`.
Without the secret the key cannot be reversed or recomputed from guessed identifiers, which
is why only the child index holds it. These are exactly the keys adapters computed before
the index existed, so notices already on the bus stay linked.

Pure: no I/O; the secret is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from services.hubkit.linkage import (
    ChildIdentifiers,
    ChildKeys,
    IdentifiersIncomplete,
    is_valid_nhs_number,
    normalise_name,
    normalise_nhs_number,
    postcode_district,
)

__all__ = ["LinkageKeyer", "canonical_identifiers", "child_key"]


def canonical_identifiers(identifiers: ChildIdentifiers) -> str:
    """The string the key is made from; raises IdentifiersIncomplete when there is none."""
    nhs_number = identifiers.nhs_number
    if nhs_number and is_valid_nhs_number(nhs_number):
        return f"nhs:{normalise_nhs_number(nhs_number)}"
    parts = (
        normalise_name(identifiers.given_name or ""),
        normalise_name(identifiers.family_name or ""),
        identifiers.date_of_birth.isoformat() if identifiers.date_of_birth else "",
        postcode_district(identifiers.postcode or ""),
    )
    if not all(parts):
        raise IdentifiersIncomplete(
            "a linkage key needs a valid NHS number, or given name, family name, "
            "date of birth and postcode"
        )
    return "demo:" + "|".join(parts)


def child_key(secret: bytes, identifiers: ChildIdentifiers) -> str:
    """The child's pseudonymous linkage key (64 hex characters)."""
    canonical = canonical_identifiers(identifiers)
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkageKeyer(ChildKeys):
    """`child_key` over one secret, as ChildKeys. The index's own edge uses it with the hub's
    secret; tools that make SYNTHETIC notices directly (services/synthetic, `safehub policy
    sample`, benchmarks, tests) use it with a throwaway secret of their own."""

    secret: bytes

    def key(self, identifiers: ChildIdentifiers) -> str:
        return child_key(self.secret, identifiers)
