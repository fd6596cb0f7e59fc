"""What a lookup request may ask: an NHS number and the unscheduled care setting. Pure.

NHS number: 10 digits (spaces or hyphens allowed between them, as people type it), with a
valid modulus-11 check digit (the check itself is `services.hubkit.linkage`'s, shared with
the adapters and the linkage keyer).

Setting: CP-IS is looked up in *unscheduled* care (emergency department, minor
injuries unit, urgent treatment centre, walk-in centre, out-of-hours GP, ambulance). The
access notification records the setting as the notice schema's `CareSetting`, which today
can say ED and MIU only, so those two are accepted. The other unscheduled settings are
refused with a reason that says so (the schema needs the symbol first: a new Avro enum
symbol, compatibility-checked), and scheduled settings (GP surgery, maternity, CAMHS ...) are
refused because CP-IS is not a lookup for them here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

from services.cpis.errors import NhsNumberInvalid, SettingRefused
from services.hubkit.linkage import is_valid_nhs_number, normalise_nhs_number

__all__ = [
    "SCHEDULED_SETTINGS",
    "UNREPRESENTABLE_SETTINGS",
    "UnscheduledSetting",
    "parse_nhs_number",
    "parse_setting",
]

_NHS_SHAPE = re.compile(r"^\d[\d -]{8,14}\d$")


def parse_nhs_number(raw: str) -> str:
    """The NHS number as 10 digits, or NhsNumberInvalid."""
    text = raw.strip()
    digits = normalise_nhs_number(text)
    if len(digits) != 10 or _NHS_SHAPE.fullmatch(text) is None:
        raise NhsNumberInvalid("an NHS number is 10 digits (spaces or hyphens allowed)")
    if not is_valid_nhs_number(digits):
        raise NhsNumberInvalid(
            "this NHS number fails the modulus-11 check digit: check it was typed correctly"
        )
    return digits


class UnscheduledSetting(StrEnum):
    """Unscheduled care settings the access notification can record (CareSetting symbols)."""

    ED = "ED"
    MIU = "MIU"


# Unscheduled care settings CareSetting has no symbol for yet, with how people write them.
UNREPRESENTABLE_SETTINGS: Mapping[str, str] = {
    "UTC": "an urgent treatment centre",
    "URGENT_TREATMENT_CENTRE": "an urgent treatment centre",
    "WALK_IN": "a walk-in centre",
    "WALK_IN_CENTRE": "a walk-in centre",
    "WIC": "a walk-in centre",
    "OOH_GP": "an out-of-hours GP service",
    "OUT_OF_HOURS_GP": "an out-of-hours GP service",
    "GP_OUT_OF_HOURS": "an out-of-hours GP service",
    "AMBULANCE": "an ambulance service",
}
# CareSetting symbols that are not unscheduled care.
SCHEDULED_SETTINGS = frozenset(
    {"MATERNITY", "SEXUAL_HEALTH", "TERMINATION", "SARC", "CAMHS", "GP", "COMMUNITY"}
)
_ACCEPTED = ", ".join(s.value for s in UnscheduledSetting)


def parse_setting(raw: str) -> UnscheduledSetting:
    """The setting the child presented at, or SettingRefused with the reason."""
    key = re.sub(r"[\s-]+", "_", raw.strip()).upper()
    try:
        return UnscheduledSetting(key)
    except ValueError:
        pass
    if key in UNREPRESENTABLE_SETTINGS:
        raise SettingRefused(
            f"{UNREPRESENTABLE_SETTINGS[key]} is unscheduled care, but the hub cannot yet "
            f"record it in the access notification (the notice schema's CareSetting has "
            f"{_ACCEPTED} of the unscheduled care settings); use one of {_ACCEPTED}, or ask "
            "for the setting to be added to the schema"
        )
    if key in SCHEDULED_SETTINGS:
        raise SettingRefused(
            f"{key} is not an unscheduled care setting; CP-IS is looked up when a child "
            f"presents in unscheduled care: one of {_ACCEPTED}"
        )
    raise SettingRefused(f"unknown care setting; use one of {_ACCEPTED}")
