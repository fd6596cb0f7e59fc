"""School URNs: however a sender writes one, the hub keeps one canonical form (rule R9)."""

from __future__ import annotations

import pytest

from services.hubkit.school_urn import normalise_school_urn


@pytest.mark.parametrize(
    "raw",
    [
        "123456",
        "URN 123456",
        "urn-123456",
        " URN:123456 ",
        "URN-123456",
        "URN: 123456",
        "Urn123456",
        "urn_123456",
        "\t123456\n",
    ],
)
def test_every_way_of_writing_a_urn_gives_the_canonical_form(raw: str) -> None:
    assert normalise_school_urn(raw) == "URN-123456"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12345",  # five digits
        "1234567",  # seven digits
        "URN",
        "URN-12345A",
        "UPN 123456",  # a pupil number prefix is not a school URN
        "123 456",
        "URN--123456",
        "URN 123456 extra",
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits are not ASCII digits
    ],
)
def test_anything_else_is_not_a_urn(raw: str) -> None:
    assert normalise_school_urn(raw) is None


def test_canonical_form_is_a_fixed_point() -> None:
    canonical = normalise_school_urn("999999")
    assert canonical == "URN-999999"
    assert normalise_school_urn(canonical) == canonical
