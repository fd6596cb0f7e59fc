"""What a lookup may ask: a modulus-11 NHS number and an unscheduled care setting."""

from __future__ import annotations

import pytest

from services.cpis.domain.requests import UnscheduledSetting, parse_nhs_number, parse_setting
from services.cpis.errors import NhsNumberInvalid, SettingRefused


@pytest.mark.parametrize(
    "raw", ["9990000018", "999 000 0018", "999-000-0018", " 9990000018 ", "943 476 5919"]
)
def test_valid_nhs_numbers_come_back_as_ten_digits(raw: str) -> None:
    assert parse_nhs_number(raw) == raw.replace(" ", "").replace("-", "")


def test_a_wrong_check_digit_is_refused_with_the_reason() -> None:
    with pytest.raises(NhsNumberInvalid, match="modulus-11"):
        parse_nhs_number("9990000019")


@pytest.mark.parametrize("raw", ["999000001", "99900000188", "99a0000018", "", "9990000018x"])
def test_anything_but_ten_digits_is_refused(raw: str) -> None:
    with pytest.raises(NhsNumberInvalid, match="10 digits"):
        parse_nhs_number(raw)


def test_a_check_digit_of_ten_is_never_valid() -> None:
    # 000000006: weighted sum 12 -> 11 - 1 = 10, which no NHS number can carry.
    with pytest.raises(NhsNumberInvalid):
        parse_nhs_number("0000000060")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ED", UnscheduledSetting.ED),
        ("ed", UnscheduledSetting.ED),
        (" MIU ", UnscheduledSetting.MIU),
    ],
)
def test_settings_the_schema_can_record_are_accepted(
    raw: str, expected: UnscheduledSetting
) -> None:
    assert parse_setting(raw) is expected


@pytest.mark.parametrize(
    "raw", ["UTC", "walk-in", "Walk in centre", "OOH_GP", "out-of-hours GP", "ambulance"]
)
def test_other_unscheduled_settings_are_refused_because_the_schema_cannot_say_them(
    raw: str,
) -> None:
    with pytest.raises(SettingRefused, match="cannot yet record it") as refused:
        parse_setting(raw)
    assert "ED, MIU" in refused.value.reason


@pytest.mark.parametrize("raw", ["MATERNITY", "GP", "CAMHS", "sexual_health"])
def test_scheduled_settings_are_refused_as_not_unscheduled_care(raw: str) -> None:
    with pytest.raises(SettingRefused, match="not an unscheduled care setting"):
        parse_setting(raw)


def test_an_unknown_setting_is_refused_with_what_is_accepted() -> None:
    with pytest.raises(SettingRefused, match="use one of ED, MIU"):
        parse_setting("canteen")
