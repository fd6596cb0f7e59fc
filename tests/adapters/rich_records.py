"""Rich native records: every field each format allows, filled (synthetic values), and what
of each is, by design, not carried into the notice (with why). Issue 21's round trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from services.adapters.health.models import CONCERN_EXTENSION, CONCERN_SYSTEM, REFERRAL_EXTENSION
from services.synthetic.native import NativeRecords

__all__ = ["ALIASES", "HEALTH_NOT_CARRIED", "SHAPES", "not_carried", "rich_record"]

_LINKAGE = "sent to the child index to link the child; not shared (only the district is)"
_PEOPLE = {
    "referrer": {
        "role": "school nurse",
        "name": "Sam Example",
        "organisation": "Synthetic Academy",
        "contact": "07700 900123",
    },
    "third_parties": [
        {
            "role": "older associate",
            "name": "Jo Sample",
            "organisation": "Synthetic Garage Ltd",
            "contact": "07700 900456",
        }
    ],
}
_COMMON_NOT_CARRIED = {
    "/revision": "revision 1 is the reference itself ('/r<n>' only for a correction)",
    "/subject/sex": _LINKAGE,
    "/subject/postcode": _LINKAGE,
    "/child/sex": _LINKAGE,
    "/child/postcode": _LINKAGE,
    "/sex": _LINKAGE,
    "/postcode": _LINKAGE,
    "/record_type": "selects the notice type and the shape (notice_type, detail.change)",
    "/classification": "carried as the notice's classification, written OFFICIAL_SENSITIVE",
}
_NOT_CARRIED: Mapping[str, Mapping[str, str]] = {
    "POLICE": _COMMON_NOT_CARRIED,
    "CHILDRENS_SERVICES": _COMMON_NOT_CARRIED,
    "VOLUNTARY_SECTOR": {
        **_COMMON_NOT_CARRIED,
        "/kind": "selects the notice type (an NRM_REFERRAL is a TRAFFICKING_NRM notice)",
    },
}
HEALTH_NOT_CARRIED: Mapping[str, str] = {
    "/resourceType": "FHIR bookkeeping",
    "/id": "FHIR bookkeeping",
    "/type": "always 'collection'",
    "*/fullUrl": "FHIR bookkeeping",
    "*/resource/resourceType": "FHIR bookkeeping",
    "*/resource/id": "FHIR bookkeeping",
    "*/resource/status": "FHIR bookkeeping",
    "*/subject/reference": "the Bundle's own Patient",
    "*/system": "the code or identifier system (read to find the value)",
    "*/url": "the extension's name (read to find the value)",
    "*/use": "read to choose the name and the address",
    "*/resource/gender": _LINKAGE,
    "*/postalCode": _LINKAGE,
    "*/class/code": "read: EMER makes the alert unscheduled care (detail.unscheduled_care)",
    "*/text/status": "FHIR bookkeeping (the narrative's text is carried)",
    "*/text/div": "checked as text: see test_a_flags_text_reaches_the_health_navigators_detail",
}


def not_carried(agency: str, shape: str) -> dict[str, str]:
    """What of a rich record of `shape` is not expected in its notice, and why."""
    rules = dict(HEALTH_NOT_CARRIED if agency == "HEALTH" else _NOT_CARRIED[agency])
    if shape.startswith("LOOKED_AFTER"):
        rules["/child/looked_after"] = "the change says it: STARTED true, ENDED false"
    return rules


SHAPES: list[tuple[str, str]] = [
    ("POLICE", "PUBLIC_PROTECTION_NOTICE"),
    ("POLICE", "DASH_INCIDENT"),
    ("POLICE", "MISSING_PERSON"),
    ("POLICE", "INTELLIGENCE_REPORT"),
    ("POLICE", "NRM"),
    ("HEALTH", "BUNDLE"),
    ("CHILDRENS_SERVICES", "CIN_REFERRAL"),
    ("CHILDRENS_SERVICES", "CP_PLAN_STARTED"),
    ("CHILDRENS_SERVICES", "CP_PLAN_ENDED"),
    ("CHILDRENS_SERVICES", "LOOKED_AFTER_STARTED"),
    ("CHILDRENS_SERVICES", "LOOKED_AFTER_ENDED"),
    ("CHILDRENS_SERVICES", "S47"),
    ("CHILDRENS_SERVICES", "NRM"),
    ("VOLUNTARY_SECTOR", "ENGAGEMENT"),
    ("VOLUNTARY_SECTOR", "CONCERN"),
    ("VOLUNTARY_SECTOR", "RETURN_INTERVIEW_OUTCOME"),
    ("VOLUNTARY_SECTOR", "NRM"),
]
"""Every shape of record the JSON routes take (rich_record builds each)."""


ALIASES: Mapping[str, str] = {
    "/family_informed": "informed",
    # The referral extension's booleans, by the sub-extension's place in rich_record's list.
    "/entry/1/resource/extension/0/extension/1/valueBoolean": "immediate_danger",
    "/entry/1/resource/extension/0/extension/5/valueBoolean": "informed",
    "/entry/1/resource/extension/0/extension/10/valueBoolean": "released_for_cp_decision",
}


def rich_record(records: NativeRecords, agency: str, shape: str) -> dict[str, Any]:
    child = records.child(looked_after=True, exploitation_flagged=True)
    day = dt.date(2026, 11, 2)
    match agency, shape:
        case "POLICE", "PUBLIC_PROTECTION_NOTICE":
            return _police(records.police_ppn(child))
        case "POLICE", "DASH_INCIDENT":
            document = records.police_dash(child)
            document["subject"]["school_urn"] = f"URN-{child.school_urn}"
            return _police(document)
        case "POLICE", "MISSING_PERSON":
            back = dt.datetime(2026, 11, 18, 3, 10, tzinfo=dt.UTC)
            document = records.police_missing(
                child,
                status="RETURNED",
                missing_since=back - dt.timedelta(hours=9),
                found_or_returned_at=back,
                episodes_last_90_days=3,
            )
            return _police(document)
        case "POLICE", "INTELLIGENCE_REPORT":
            return _police(records.police_intelligence(child, legacy=False))
        case "POLICE", "NRM":
            return _police(records.police_nrm_referral(child))
        case "HEALTH", "BUNDLE":
            return _health(records.health_bundle(child, cp_plan_since=dt.date(2026, 1, 5)))
        case "CHILDRENS_SERVICES", "CIN_REFERRAL":
            return _csc(records.csc_referral(child))
        case "CHILDRENS_SERVICES", "CP_PLAN_STARTED":
            return _csc(records.csc_cp_plan(child, started=day))
        case "CHILDRENS_SERVICES", "CP_PLAN_ENDED":
            return _csc(records.csc_cp_plan(child, started=day, ended=day + dt.timedelta(days=9)))
        case "CHILDRENS_SERVICES", "LOOKED_AFTER_STARTED":
            return _csc(records.csc_looked_after(child, start=day))
        case "CHILDRENS_SERVICES", "LOOKED_AFTER_ENDED":
            record = _csc(records.csc_looked_after(child, start=day))
            record.update(change="ENDED", end_date=(day + dt.timedelta(days=30)).isoformat())
            return record
        case "CHILDRENS_SERVICES", "S47":
            return _csc(records.csc_s47(child))
        case "CHILDRENS_SERVICES", "NRM":
            referral = _csc(records.csc_nrm_referral(child))
            del referral["allocated_worker"]  # refused on an NRM referral: no place for it
            return referral
        case "VOLUNTARY_SECTOR", "NRM":
            return _vcs(records.vcs_update(child, kind="NRM_REFERRAL"))
        case "VOLUNTARY_SECTOR", kind:
            form = records.vcs_update(child, kind=kind)
            form["safety_instructions"] = "Do not visit alone after dark."
            if kind == "RETURN_INTERVIEW_OUTCOME":
                form["outcome_summary"] = "Push factors at placement; pull from associates."
            return _vcs(form)
    raise ValueError((agency, shape))


def _police(document: dict[str, Any]) -> dict[str, Any]:
    document["subject"]["placing_la"] = "LA-E09000098"
    document["risk"]["immediate_danger"] = True
    document["sensitivity"] = "SENSITIVE"
    document["classification"] = "OFFICIAL-SENSITIVE"
    document["full_account"] = "Officers attended after a neighbour's call; child upset."
    return {**document, **_PEOPLE}


def _csc(document: dict[str, Any]) -> dict[str, Any]:
    document["child"]["placing_la"] = "LA-E09000098"
    document["risk"]["immediate_danger"] = True
    document["full_account"] = "Strategy discussion held with police and health."
    document["family_informed"] = {
        "informed": False,
        "reason_not_informed": "Telling the family could put the child at risk.",
    }
    document["allocated_worker"] = {
        "role": "Allocated social worker, Safeguarding Team 2",
        "organisation": "Synthetic Borough Children's Services",
        "telephone": "0300 000 0311",
        "secure_email": "team2@synthetic-borough.example",
    }
    document["referrer"] = _PEOPLE["referrer"]
    return document


def _vcs(form: dict[str, Any]) -> dict[str, Any]:
    form["full_account"] = "Remy said older boys give him lifts and ask him to hold bags."
    form["immediate_danger"] = True
    form["worker_email"] = "missing.service@synthetic-charity.example"
    if form["kind"] != "NRM_REFERRAL":
        form["consent_status"] = "NOT_SOUGHT"
        form["consent_reason_not_sought"] = "Seeking consent could increase the risk."
        form["family_informed"] = False
        form["family_not_informed_reason"] = "Family members may be involved."
    return form


def _health(bundle: dict[str, Any]) -> dict[str, Any]:
    encounter = bundle["entry"][1]["resource"]
    encounter["extension"] = [
        {
            "url": REFERRAL_EXTENSION,
            "extension": [
                {"url": "riskLevel", "valueCode": "HIGH"},
                {"url": "immediateDanger", "valueBoolean": True},
                {"url": "navigatorRiskSummary", "valueString": "Injury; CP plan open."},
                {"url": "consentStatus", "valueCode": "NOT_SOUGHT"},
                {"url": "consentReasonNotSought", "valueString": "Could increase the risk."},
                {"url": "familyInformed", "valueBoolean": False},
                {"url": "familyNotInformedReason", "valueString": "Carer may be involved."},
                {"url": "contactRole", "valueString": "Named nurse for safeguarding"},
                {"url": "contactTelephone", "valueString": "0300 000 0400"},
                {"url": "contactEmail", "valueString": "safeguarding@trust.example"},
                {"url": "releasedForCpDecision", "valueBoolean": True},
            ],
        }
    ]
    observation = bundle["entry"][2]["resource"]
    observation["text"] = {
        "status": "additional",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">Observation narrative: bruising.</div>',
    }
    flag = bundle["entry"][3]["resource"]
    flag["code"]["text"] = "Flag text: known to children's services"
    flag["text"] = {
        "status": "additional",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Flag narrative: neglect '
        "concerns</p></div>",
    }
    flag["extension"] = [
        {"url": CONCERN_EXTENSION, "valueCoding": {"system": CONCERN_SYSTEM, "code": "NEGLECT"}}
    ]
    return bundle
