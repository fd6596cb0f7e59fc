"""The access notification: a HEALTH_SAFEGUARDING_ALERT the CP-IS service sends, as agency
CPIS, to tell the LA that owns a plan that unscheduled care looked the child up (rule R13).
Pure: the access (with its id and time) and the plans are passed in.

One notice per owning LA (a child's CP plan and looked-after status may be owned by
different LAs), carrying that LA's plan as `detail.cpis_flag`. The gateway routes it to that
responsible LA only; nothing is broadcast. What it holds:

    subject         linkage key, NHS number, responsible LA (from the register); no name,
                    date of birth or address: CP-IS holds none (the schema's required name
                    strings are empty)
    detail          unscheduled_care=true, the setting, seen_at (the time of the lookup),
                    cpis_flag (plan type, start, end, the LA's contact); no clinical detail,
                    no SNOMED codes, no risk summary (the clinician writes a referral if
                    there is a concern)
    contact_point   the presenting organisation's safeguarding team (from the subscribers
                    data: its AGENCY_SAFEGUARDING_TEAM entry), so the LA knows whom to call;
                    the CP-IS register's own contact when the organisation has none listed
    classification  OFFICIAL_SENSITIVE

The notice id is derived from the access id and the LA (`notice_id_for`), so a notification
re-sent after a failure is the same notice, never a second one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.cpis.domain.access import Access
from services.cpis.domain.register import Plan, PlanType
from services.hubkit.notice import notice_id_for
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "CLASSIFICATION",
    "NOTICE_TYPE",
    "RISK_LEVEL",
    "SAFEGUARDING_TEAM_ROLE",
    "NotificationOrigin",
    "access_notices",
    "parse_contact",
    "presenting_contact",
]

NOTICE_TYPE = "HEALTH_SAFEGUARDING_ALERT"
CLASSIFICATION = "OFFICIAL_SENSITIVE"
# The subscribers data names each agency's safeguarding team with this role.
SAFEGUARDING_TEAM_ROLE = "AGENCY_SAFEGUARDING_TEAM"
# The schema needs a risk level. CP-IS makes no assessment of its own: a child protection
# plan means the LA judged the child at continuing risk of significant harm, and the
# notification neither raises nor lowers that (never immediate danger). Owned by IG.
RISK_LEVEL = "MEDIUM"
_SETTING_WORDS = {"ED": "an emergency department", "MIU": "a minor injuries unit"}


@dataclass(frozen=True, slots=True)
class NotificationOrigin:
    """Who sends the notification: the CPIS agency (policies/safehub/agencies/data.json)."""

    agency: str
    organisation_code: str
    source_system: str = "safehub-cpis"


def parse_contact(text: str, *, organisation: str) -> dict[str, Any]:
    """A ContactPoint from a subscriber's 'role, organisation, telephone' contact line."""
    parts = [p.strip() for p in text.rsplit(",", 2)]
    if len(parts) == 3 and all(parts):
        role, organisation_name, telephone = parts
        return {
            "role": role,
            "organisation": organisation_name,
            "telephone": telephone,
            "secure_email": None,
        }
    return {
        "role": text.strip(),
        "organisation": organisation,
        "telephone": "",
        "secure_email": None,
    }


def presenting_contact(
    organisation: str, subscribers: Sequence[SubscriberEntry], *, fallback: SubscriberEntry
) -> dict[str, Any]:
    """The presenting organisation's safeguarding team, or `fallback` (the CP-IS register)."""
    for entry in subscribers:
        if entry.role == SAFEGUARDING_TEAM_ROLE and entry.organisation == organisation:
            return parse_contact(entry.contact, organisation=organisation)
    return parse_contact(fallback.contact, organisation=fallback.organisation)


def _at_ms(value: dt.datetime) -> dt.datetime:
    utc = value.astimezone(dt.UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _notice(
    *,
    access: Access,
    plan: Plan,
    nhs_number: str,
    origin: NotificationOrigin,
    contact_point: dict[str, Any],
) -> dict[str, Any]:
    assert access.setting is not None
    seen_at = _at_ms(access.at)
    reference = f"cpis-access/{access.access_id}/{plan.responsible_la}"
    where = _SETTING_WORDS.get(access.setting.value, access.setting.value)
    return {
        "notice_id": notice_id_for(
            agency=origin.agency,
            organisation_code=origin.organisation_code,
            source_reference=reference,
        ),
        "notice_type": NOTICE_TYPE,
        "source": {
            "agency": origin.agency,
            "organisation_code": origin.organisation_code,
            "source_reference": reference,
            "source_system": origin.source_system,
        },
        "created_at": seen_at,
        "subject": {
            "linkage_key": plan.linkage_key,
            "nhs_number": nhs_number,
            "la_child_id": None,
            "upn": None,
            "given_name": "",
            "family_name": "",
            "date_of_birth": None,
            "age_years": None,
            "postcode_district": None,
            "looked_after": plan.plan_type is PlanType.LOOKED_AFTER and plan.is_open,
            "responsible_la": plan.responsible_la,
            "placing_la": None,
            "exploitation_flagged": False,
        },
        "concerns": [],
        "risk": {"level": RISK_LEVEL, "immediate_danger": False},
        "narrative": {
            "summary": (
                f"CP-IS access: the child was looked up in {where} "
                f"({seen_at.strftime('%Y-%m-%d %H:%M')} UTC). CP-IS shares no clinical "
                "detail; contact the presenting organisation's safeguarding team."
            ),
            "full_account": None,
            "sensitivity": "ROUTINE",
        },
        "classification": CLASSIFICATION,
        "intelligence_grading": None,
        "consent": {
            "status": "NOT_REQUIRED",
            "reason_not_sought": (
                "An automatic CP-IS access notification to the local authority that owns the "
                "plan (rule R13); it does not rest on consent."
            ),
        },
        "family_informed": {
            "informed": False,
            "reason_not_informed": (
                "An automatic notification: the clinician who saw the child and the local "
                "authority decide whether and when to tell the family."
            ),
        },
        "referrer": None,
        "third_parties": [],
        "contact_point": contact_point,
        "detail": {
            "setting": access.setting.value,
            "seen_at": seen_at,
            "snomed_codes": [],
            "clinical_detail": "",
            "navigator_risk_summary": "",
            "cpis_flag": {
                "plan_type": plan.plan_type.value,
                "plan_start": plan.start,
                "plan_end": plan.end,
                "responsible_la_contact": plan.la_contact,
            },
            "released_for_cp_decision": False,
            "unscheduled_care": True,
        },
    }


def access_notices(
    *,
    access: Access,
    held: Sequence[Plan],
    nhs_number: str,
    origin: NotificationOrigin,
    contact_point: dict[str, Any],
) -> list[dict[str, Any]]:
    """One notice per LA owning a held plan, each with that LA's first plan in `held` order
    (`held_plans`: open plans first). Empty when nothing is held (a miss notifies nobody)."""
    if access.setting is None:
        raise ValueError("an access without a setting was refused; it notifies nobody")
    first_per_la: dict[str, Plan] = {}
    for plan in held:
        first_per_la.setdefault(plan.responsible_la, plan)
    return [
        _notice(
            access=access,
            plan=plan,
            nhs_number=nhs_number,
            origin=origin,
            contact_point=contact_point,
        )
        for plan in first_per_la.values()
    ]
