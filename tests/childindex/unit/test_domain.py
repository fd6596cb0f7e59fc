"""The child index's keying (services/childindex/domain.py): realistic variations of the same
identifiers link, different children do not, and the key is exactly the HMAC the adapters
computed before the index existed (so notices already on the bus stay linked)."""

import datetime as dt
import hashlib
import hmac

import pytest

from services.childindex.domain import LinkageKeyer, canonical_identifiers, child_key
from services.hubkit.linkage import ChildIdentifiers, IdentifiersIncomplete

SECRET = b"unit-test-secret"
KEYER = LinkageKeyer(SECRET)
DOB = dt.date(2013, 5, 17)


def test_the_key_is_the_hmac_of_the_canonical_identifiers() -> None:
    # The formula adapters used before the child index: HMAC-SHA-256(secret, canonical), hex.
    by_nhs = ChildIdentifiers(nhs_number="943 476 5919")
    expected = hmac.new(SECRET, b"nhs:9434765919", hashlib.sha256).hexdigest()
    assert child_key(SECRET, by_nhs) == expected == KEYER.key_for(nhs_number="943 476 5919")
    by_name = ChildIdentifiers(
        given_name="Kit", family_name="Lane", date_of_birth=DOB, postcode="ZZ9 9ZZ"
    )
    expected = hmac.new(SECRET, b"demo:kit|lane|2013-05-17|ZZ9", hashlib.sha256).hexdigest()
    assert child_key(SECRET, by_name) == expected


@pytest.mark.parametrize(
    ("given", "family", "postcode"),
    [
        ("Anne-Marie", "O'Neil", "ZZ1 1AA"),
        ("anne marie", "ONEIL", "zz11aa"),
        ("  ANNE MARIE ", "O Neil", "ZZ1"),
        ("Anne\u2013Marie", "O\u2019Neil", "zz1 1aa"),  # en dash, curly apostrophe
        ("Ánne-Marie", "O'Néil", "ZZ1  1AA"),
    ],
)
def test_realistic_variations_link_to_one_key(given: str, family: str, postcode: str) -> None:
    reference = KEYER.key_for(
        given_name="Anne-Marie", family_name="O'Neil", date_of_birth=DOB, postcode="ZZ1 1AA"
    )
    assert (
        KEYER.key_for(given_name=given, family_name=family, date_of_birth=DOB, postcode=postcode)
        == reference
    )


def test_different_children_get_different_keys() -> None:
    a = KEYER.key_for(given_name="Anne", family_name="Neil", date_of_birth=DOB, postcode="ZZ1")
    b = KEYER.key_for(given_name="Anne", family_name="Neil", date_of_birth=DOB, postcode="ZZ2")
    c = KEYER.key_for(
        given_name="Anne", family_name="Neil", date_of_birth=DOB.replace(day=18), postcode="ZZ1"
    )
    assert len({a, b, c}) == 3


def test_nhs_number_wins_over_demographics_and_ignores_spacing() -> None:
    by_nhs = KEYER.key_for(nhs_number="943 476 5919", given_name="X", family_name="Y")
    assert by_nhs == KEYER.key_for(nhs_number="9434765919")
    assert canonical_identifiers(ChildIdentifiers(nhs_number="9434765919")) == "nhs:9434765919"


def test_invalid_nhs_number_falls_back_to_demographics() -> None:
    assert (
        canonical_identifiers(
            ChildIdentifiers(
                nhs_number="1234567890",
                given_name="Kit",
                family_name="Lane",
                date_of_birth=DOB,
                postcode="ZZ9 9ZZ",
            )
        )
        == "demo:kit|lane|2013-05-17|ZZ9"
    )


def test_key_depends_on_secret() -> None:
    other = LinkageKeyer(b"another-secret")
    assert other.key_for(nhs_number="9434765919") != KEYER.key_for(nhs_number="9434765919")


def test_incomplete_identifiers_are_refused() -> None:
    with pytest.raises(IdentifiersIncomplete):
        KEYER.key_for(given_name="Kit", family_name="Lane")
