import datetime as dt

import pytest

from services.hubkit.linkage import (
    IdentifiersIncomplete,
    LinkageKeyer,
    is_valid_nhs_number,
    postcode_district,
)

KEYER = LinkageKeyer(b"unit-test-secret")
DOB = dt.date(2013, 5, 17)


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("943 476 5919", True),
        ("943-476-5919", True),
        ("9434765919", True),
        ("9434765918", False),
        ("943476591", False),
        ("999 000 0000", False),
    ],
)
def test_nhs_number_modulus_11(raw: str, valid: bool) -> None:
    assert is_valid_nhs_number(raw) is valid


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
    assert KEYER.canonical(nhs_number="9434765919") == "nhs:9434765919"


def test_invalid_nhs_number_falls_back_to_demographics() -> None:
    assert (
        KEYER.canonical(
            nhs_number="1234567890",
            given_name="Kit",
            family_name="Lane",
            date_of_birth=DOB,
            postcode="ZZ9 9ZZ",
        )
        == "demo:kit|lane|2013-05-17|ZZ9"
    )


def test_key_depends_on_secret() -> None:
    other = LinkageKeyer(b"another-secret")
    assert other.key_for(nhs_number="9434765919") != KEYER.key_for(nhs_number="9434765919")


def test_incomplete_identifiers_are_refused() -> None:
    with pytest.raises(IdentifiersIncomplete):
        KEYER.key_for(given_name="Kit", family_name="Lane")


def test_postcode_district() -> None:
    assert postcode_district("zz1 1aa") == "ZZ1"
    assert postcode_district("ZZ10 1AA") == "ZZ10"
    assert postcode_district("ZZ1") == "ZZ1"
