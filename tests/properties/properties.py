"""The three properties, as functions from (notice, decisions) to a list of violations, so the
hypothesis tests (one notice per example, shrunk on failure) and the scale run (10,000
notices in batches) check exactly the same thing.

1. Ceilings: no decision permits a path beyond its recipient's IG ceiling
   (`Ceilings.load(policies).excess(role, notice_type, permitted)`).
2. Relationships: adding subscribers of existing roles in other organisations changes no
   decision for the original subscribers, and an extra subscriber outside the MASH gets DENY
   unless the notice names its organisation.
3. Sensitive services: no explanation, permitted contact or permitted field sent to a
   recipient not entitled to know of a sexual health, termination, pregnancy or SARC
   attendance mentions the service. Entitled: the health navigator always; the MASH manager
   when the attendance was released for a child protection decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from services.gateway.domain.redaction import is_permitted, redact

__all__ = [
    "COMMISSIONED",
    "EXTRA_SUBSCRIBERS",
    "SENSITIVE_TERMS",
    "ceiling_violations",
    "named_organisations",
    "relationship_violations",
    "sensitive_service_violations",
]

EXTRA_SUBSCRIBERS: dict[str, dict[str, Any]] = {
    # One extra subscriber of every role, each in an organisation of its own. The MASH roles
    # here belong to another authority's MASH, so they are outside *this* MASH.
    "prop-mash-manager-e09000001": {
        "agency": "CHILDRENS_SERVICES",
        "organisation": "LA-E09000001",
        "role": "MASH_MANAGER",
        "team": "MASH",
        "inside_mash": False,
        "purposes": ["SAFEGUARDING_TRIAGE", "CHILD_PROTECTION_ENQUIRY"],
    },
    "prop-health-navigator-ryy00": {
        "agency": "HEALTH",
        "organisation": "NHS-RYY00",
        "role": "HEALTH_NAVIGATOR",
        "team": "MASH",
        "inside_mash": False,
        "purposes": ["SAFEGUARDING_TRIAGE", "HEALTH_SAFEGUARDING"],
    },
    "prop-police-researcher-yy02": {
        "agency": "POLICE",
        "organisation": "POL-YY02",
        "role": "POLICE_RESEARCHER",
        "team": "MASH",
        "inside_mash": False,
        "purposes": ["SAFEGUARDING_TRIAGE", "POLICING_SAFEGUARDING"],
    },
    "prop-social-worker-e09000001": {
        "agency": "CHILDRENS_SERVICES",
        "organisation": "LA-E09000001",
        "role": "SOCIAL_WORKER",
        "team": "CHILDRENS_SOCIAL_CARE",
        "inside_mash": False,
        "purposes": ["CHILD_PROTECTION_ENQUIRY", "LOOKED_AFTER_CARE"],
    },
    "prop-return-interviews-vcs-other": {
        "agency": "VOLUNTARY_SECTOR",
        "organisation": "VCS-OTHER",
        "role": "RETURN_INTERVIEW_WORKER",
        "team": "RETURN_HOME_INTERVIEWS",
        "inside_mash": False,
        "purposes": ["RETURN_HOME_INTERVIEW"],
    },
    "prop-school-111111": {
        "agency": "EDUCATION",
        "organisation": "URN-111111",
        "role": "DESIGNATED_SAFEGUARDING_LEAD",
        "team": "SCHOOL",
        "inside_mash": False,
        "purposes": ["OPERATION_ENCOMPASS"],
    },
    "prop-edt-e09000001": {
        "agency": "CHILDRENS_SERVICES",
        "organisation": "LA-E09000001",
        "role": "EMERGENCY_DUTY_TEAM",
        "team": "EMERGENCY_DUTY_TEAM",
        "inside_mash": False,
        "purposes": ["IMMEDIATE_SAFEGUARDING", "CHILD_PROTECTION_ENQUIRY"],
    },
    "prop-agency-team-yy02": {
        "agency": "POLICE",
        "organisation": "POL-YY02",
        "role": "AGENCY_SAFEGUARDING_TEAM",
        "team": "PUBLIC_PROTECTION_UNIT",
        "inside_mash": False,
        "purposes": ["REFERRER_FEEDBACK"],
    },
    "prop-public-protection-yy02": {
        "agency": "POLICE",
        "organisation": "POL-YY02",
        "role": "POLICE_PUBLIC_PROTECTION",
        "team": "PUBLIC_PROTECTION_UNIT",
        "inside_mash": False,
        "purposes": ["REFERRER_FEEDBACK", "POLICING_SAFEGUARDING"],
    },
    "prop-cpis-register-other": {
        "agency": "HEALTH",
        "organisation": "CPIS-OTHER",
        "role": "CPIS_REGISTER",
        "team": "CPIS",
        "inside_mash": False,
        "purposes": ["UNSCHEDULED_CARE"],
    },
    "prop-unscheduled-care-ryy00": {
        "agency": "HEALTH",
        "organisation": "NHS-RYY00",
        "role": "UNSCHEDULED_CARE_CLINICIAN",
        "team": "EMERGENCY_DEPARTMENT",
        "inside_mash": False,
        "purposes": ["UNSCHEDULED_CARE"],
    },
    "prop-early-help-vcs-other": {
        "agency": "VOLUNTARY_SECTOR",
        "organisation": "VCS-OTHER",
        "role": "EARLY_HELP_WORKER",
        "team": "EARLY_HELP",
        "inside_mash": False,
        "purposes": ["EARLY_HELP_SUPPORT"],
    },
    "prop-vcs-mash-partner": {
        "agency": "VOLUNTARY_SECTOR",
        "organisation": "VCS-SYN002",
        "role": "VCS_MASH_PARTNER",
        "team": "MASH",
        "inside_mash": True,
        "purposes": ["SAFEGUARDING_TRIAGE"],
    },
}
for _entry in EXTRA_SUBSCRIBERS.values():
    _entry["classifications"] = ["OFFICIAL", "OFFICIAL_SENSITIVE"]
    _entry["contact"] = f"Synthetic {_entry['role'].lower()}, {_entry['organisation']}"

COMMISSIONED = {"LA-E09000099": "VCS-SYN001"}
"""Return home interview provider commissioned by each local authority (the hub's one)."""

SENSITIVE_TERMS = (
    "sexual health",
    "termination",
    "pregnan",
    "sarc",
    "sexual assault",
)
"""A sexual health, termination or SARC attendance, however it is worded."""

_URN = re.compile(r"(?:URN\s*[-:_]?\s*)?([0-9]{6})", re.IGNORECASE | re.ASCII)


def _urn(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    match = _URN.fullmatch(raw.strip())
    return f"URN-{match.group(1)}" if match else None


def named_organisations(notice: Mapping[str, Any]) -> set[str]:
    """Organisations the notice names, so that a recipient outside the MASH may be told: the
    responsible LA, the placing LA of a looked-after child, the child's school (URN
    normalised), the return home interview provider commissioned by the responsible LA, the
    referring organisations, the early help organisation, and the CP-IS register."""
    subject = notice.get("subject") or {}
    detail = notice.get("detail") or {}
    named = {subject.get("responsible_la"), _urn(detail.get("school_urn")), "CPIS-REGISTER"}
    if subject.get("looked_after"):
        named.add(subject.get("placing_la"))
    named.add(COMMISSIONED.get(str(subject.get("responsible_la"))))
    named.update(detail.get("referring_organisations") or ())
    named.add(detail.get("early_help_organisation"))
    return {str(o) for o in named if o}


def _brief(notice: Mapping[str, Any]) -> str:
    subject = notice.get("subject") or {}
    detail = notice.get("detail") or {}
    keys = ("outcome", "status", "setting", "kind", "change", "school_urn")
    return (
        f"{notice.get('notice_type')} from {notice.get('source', {}).get('agency')} "
        f"responsible_la={subject.get('responsible_la')} placing_la={subject.get('placing_la')} "
        f"looked_after={subject.get('looked_after')} "
        + " ".join(f"{k}={detail[k]}" for k in keys if k in detail)
    )


def ceiling_violations(
    notice: Mapping[str, Any],
    decisions: Mapping[str, Mapping[str, Any]],
    roles: Mapping[str, str],
    ceilings: Any,
) -> list[str]:
    found = []
    for subscriber_id, decision in decisions.items():
        if decision["outcome"] == "DENY":
            continue
        role = roles[subscriber_id]
        excess = ceilings.excess(role, notice["notice_type"], decision["permitted_fields"])
        if excess:
            found.append(
                f"{subscriber_id} ({role}) {decision['outcome']} beyond its ceiling on "
                f"{notice['notice_type']}: {sorted(excess)} | {_brief(notice)}"
            )
    return found


def relationship_violations(
    notice: Mapping[str, Any],
    with_extras: Mapping[str, Mapping[str, Any]],
    without_extras: Mapping[str, Mapping[str, Any]],
    extras: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    found = [
        f"adding subscribers changed the decision for {subscriber_id} on "
        f"{notice['notice_type']}: {_decision_brief(without_extras[subscriber_id])} became "
        f"{_decision_brief(with_extras.get(subscriber_id))} | {_brief(notice)}"
        for subscriber_id in sorted(without_extras)
        if with_extras.get(subscriber_id) != without_extras[subscriber_id]
    ]
    named = named_organisations(notice)
    for subscriber_id, entry in extras.items():
        if entry["inside_mash"] or entry["organisation"] in named:
            continue
        decision = with_extras[subscriber_id]
        if decision["outcome"] != "DENY":
            found.append(
                f"{subscriber_id} ({entry['role']} of {entry['organisation']}, which the "
                f"notice does not name) got {decision['outcome']} on {notice['notice_type']}: "
                f"{sorted(decision['permitted_fields'])} | {_brief(notice)}"
            )
    return found


def _decision_brief(decision: Mapping[str, Any] | None) -> str:
    if decision is None:
        return "no decision"
    return f"{decision['outcome']} {sorted(decision['permitted_fields'])}"


def _mentions(text: str) -> list[str]:
    lowered = text.lower().replace("_", " ")
    return [term for term in SENSITIVE_TERMS if term in lowered]


def sensitive_service_violations(
    notice: Mapping[str, Any],
    decisions: Mapping[str, Mapping[str, Any]],
    roles: Mapping[str, str],
) -> list[str]:
    detail = notice.get("detail") or {}
    released = detail.get("released_for_cp_decision") is True
    found = []
    for subscriber_id, decision in decisions.items():
        role = roles[subscriber_id]
        if role == "HEALTH_NAVIGATOR" or (role == "MASH_MANAGER" and released):
            continue
        permitted = decision["permitted_fields"]
        told = {"explanation": str(decision["explanation"])}
        if decision["outcome"] != "DENY":
            if is_permitted("contact_point", permitted) or any(
                p.startswith("contact_point.") for p in permitted
            ):
                told["contact"] = json.dumps(notice.get("contact_point"))
            told["fields"] = json.dumps(redact(notice, permitted), default=str)
        for what, text in told.items():
            terms = _mentions(text)
            if terms:
                found.append(
                    f"{subscriber_id} ({role}, {decision['outcome']}) is told of the service "
                    f"in its {what} on {notice['notice_type']}: {', '.join(terms)} in "
                    f"{text[:300]!r} | {_brief(notice)}"
                )
    return found
