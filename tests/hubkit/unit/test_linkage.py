"""Identifier rules shared by adapters, CP-IS and the child index (hubkit/linkage.py)."""

import datetime as dt

import pytest

from services.hubkit.linkage import ChildIdentifiers, is_valid_nhs_number, postcode_district


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


def test_postcode_district() -> None:
    assert postcode_district("zz1 1aa") == "ZZ1"
    assert postcode_district("ZZ10 1AA") == "ZZ10"
    assert postcode_district("ZZ1") == "ZZ1"


def test_identifiers_travel_as_json_with_an_iso_date() -> None:
    sent = ChildIdentifiers(given_name="Kit", date_of_birth=dt.date(2013, 5, 17), sex="F")
    assert sent.to_json() == {
        "nhs_number": None,
        "given_name": "Kit",
        "family_name": None,
        "date_of_birth": "2013-05-17",
        "postcode": None,
        "sex": "F",
        "upn": None,
        "la_child_id": None,
    }
