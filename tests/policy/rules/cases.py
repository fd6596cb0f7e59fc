"""Policy inputs for the parity and contract tests: notices of every type and shape.

Hand-built samples (every optional field filled, then varied one rule at a time) plus notices
from the project's synthetic generator, rendered to JSON exactly as the gateway sends them;
and notices with the child's context from the child index (`input.context`) for the rules
that read it (R7, R8, R9, R12).
"""

from __future__ import annotations

import copy
from typing import Any

from services.hubkit.child_context import empty_context
from services.hubkit.notice import to_json_value
from tests.factories import notices

__all__ = ["CASES", "sample"]

_ORGS = {
    "POLICE": "POL-XX01",
    "HEALTH": "NHS-RXX00",
    "CHILDRENS_SERVICES": "LA-E09000099",
    "VOLUNTARY_SECTOR": "VCS-SYN001",
    "MASH": "MASH-E09000099",
}

SENDERS = {
    "SAFEGUARDING_CONTACT": ["POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"],
    "DOMESTIC_ABUSE_INCIDENT": ["POLICE"],
    "MISSING_EPISODE": ["POLICE", "CHILDRENS_SERVICES"],
    "EXPLOITATION_CONCERN": ["POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"],
    "TRAFFICKING_NRM": ["POLICE", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR"],
    "HEALTH_SAFEGUARDING_ALERT": ["HEALTH"],
    "CSC_STATUS_CHANGE": ["CHILDRENS_SERVICES"],
    "POLICE_INTELLIGENCE": ["POLICE"],
    "MASH_DECISION": ["MASH"],
    "VCS_UPDATE": ["VOLUNTARY_SECTOR"],
}

_COMMON: dict[str, Any] = {
    "notice_id": "6f1d3c2e-0000-5000-8000-000000000001",
    "source": {
        "agency": "POLICE",
        "organisation_code": "POL-XX01",
        "source_reference": "SYN-0001",
        "source_system": "synthetic",
    },
    "created_at": "2026-11-20T10:00:00.000+00:00",
    "subject": {
        "linkage_key": "5afe0001",
        "nhs_number": "9990000018",
        "la_child_id": "LAC000001",
        "upn": "A123456789012",
        "given_name": "Avery",
        "family_name": "Ashdown",
        "date_of_birth": "2015-03-01",
        "age_years": 11,
        "postcode_district": "ZZ1",
        "looked_after": False,
        "responsible_la": "LA-E09000099",
        "placing_la": None,
        "exploitation_flagged": False,
    },
    "concerns": [{"code": "NEGLECT", "census_factor": None}],
    "risk": {"level": "MEDIUM", "immediate_danger": False},
    "narrative": {
        "summary": "Synthetic summary.",
        "full_account": "Synthetic full account.",
        "sensitivity": "SENSITIVE",
    },
    "classification": "OFFICIAL_SENSITIVE",
    "intelligence_grading": None,
    "consent": {
        "status": "NOT_SOUGHT",
        "reason_not_sought": "Seeking consent could increase risk.",
    },
    "family_informed": {"informed": False, "reason_not_informed": "Risk of harm."},
    "referrer": {
        "role": "neighbour",
        "name": "Synthetic Referrer",
        "organisation": None,
        "contact": "07700 900000",
    },
    "third_parties": [
        {"role": "mother", "name": "Synthetic Parent", "organisation": None, "contact": None}
    ],
    "contact_point": {
        "role": "Safeguarding desk",
        "organisation": "POL-XX01",
        "telephone": "0300 000 0100",
        "secure_email": None,
    },
}

_DETAIL: dict[str, dict[str, Any]] = {
    "SAFEGUARDING_CONTACT": {"reason": "Seen out late.", "children_in_household": 2},
    "DOMESTIC_ABUSE_INCIDENT": {
        "incident_at": "2026-11-19T22:00:00.000+00:00",
        "dash_risk": "HIGH",
        "children_present": True,
        "marac_referral": True,
        "school_urn": "URN-999999",
    },
    "MISSING_EPISODE": {
        "status": "RETURNED",
        "risk_grade": "MEDIUM",
        "ssda903_code": "M",
        "started_at": "2026-11-19T08:00:00.000+00:00",
        "ended_at": "2026-11-19T17:00:00.000+00:00",
        "return_interview_due_at": "2026-11-22T17:00:00.000+00:00",
        "carer_contact": "0300 000 0200",
        "episodes_last_90_days": 3,
    },
    "EXPLOITATION_CONCERN": {"exploitation_types": ["CRIMINAL"], "indicators": ["new phone"]},
    "TRAFFICKING_NRM": {
        "exploitation_type": "CRIMINAL",
        "first_responder_organisation": "Synthetic Children's Charity",
        "referred_at": "2026-11-19T12:00:00.000+00:00",
        "exploitation_account": "Synthetic account.",
    },
    "HEALTH_SAFEGUARDING_ALERT": {
        "setting": "ED",
        "seen_at": "2026-11-19T23:00:00.000+00:00",
        "snomed_codes": ["1064311000000109"],
        "clinical_detail": "Synthetic clinical detail.",
        "navigator_risk_summary": "Synthetic risk summary.",
        "cpis_flag": {
            "plan_type": "CHILD_PROTECTION_PLAN",
            "plan_start": "2026-01-01",
            "plan_end": None,
            "responsible_la_contact": "0300 000 0004",
        },
        "released_for_cp_decision": False,
        "unscheduled_care": True,
    },
    "CSC_STATUS_CHANGE": {
        "change": "CP_PLAN_STARTED",
        "effective_date": "2026-11-18",
        "cp_category": "NEG",
        "legal_status": None,
        "primary_need": "N1",
        "assessment_factors": ["10A"],
        "allocated_worker": None,
        "referral_source": None,
        "period_start_date": None,
    },
    "POLICE_INTELLIGENCE": {
        "sanitised_text": "Synthetic sanitised intelligence.",
        "source_details": "Synthetic source detail.",
    },
    "MASH_DECISION": {
        "rag": "RED",
        "outcome": "S47_STRATEGY_DISCUSSION",
        "rationale": "Synthetic rationale.",
        "family_agreement": False,
        "decided_by_role": "MASH manager",
        "related_notice_ids": ["6f1d3c2e-0000-5000-8000-000000000009"],
        "agreed_actions": ["Strategy discussion today"],
    },
    "VCS_UPDATE": {
        "kind": "ENGAGEMENT",
        "category_of_need": "Emotional wellbeing",
        "agreed_actions": ["Weekly mentoring"],
        "safety_instructions": "Do not visit alone.",
        "outcome_summary": "Engaged well.",
    },
}


def _grading(scheme: str, code: str) -> dict[str, str]:
    return {
        "scheme": scheme,
        "source_evaluation": "2",
        "intelligence_assessment": "B",
        "handling_code": code,
    }


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def sample(notice_type: str, agency: str | None = None, **patch: Any) -> dict[str, Any]:
    """A notice of `notice_type` with every optional field filled, then `patch` merged in."""
    agency = agency or SENDERS[notice_type][0]
    notice = _merge(
        _COMMON,
        {
            "notice_type": notice_type,
            "source": {"agency": agency, "organisation_code": _ORGS[agency]},
            "contact_point": {"organisation": _ORGS[agency]},
            "detail": _DETAIL[notice_type],
            "intelligence_grading": _grading("GRADING_3X5X2", "P")
            if notice_type == "POLICE_INTELLIGENCE"
            else None,
        },
    )
    return _merge(notice, patch)


def _variants() -> dict[str, dict[str, Any]]:
    v: dict[str, dict[str, Any]] = {}
    for notice_type, senders in SENDERS.items():
        for agency in senders:
            for classification in ("OFFICIAL", "OFFICIAL_SENSITIVE"):
                v[f"{notice_type}/{agency}/{classification}"] = sample(
                    notice_type, agency, classification=classification
                )
    health = "HEALTH_SAFEGUARDING_ALERT"
    v["R4 sexual health"] = sample(
        health, detail={"setting": "SEXUAL_HEALTH", "unscheduled_care": False, "cpis_flag": None}
    )
    v["R4 SARC released"] = sample(
        health, detail={"setting": "SARC", "released_for_cp_decision": True}
    )
    v["R13 no CP-IS flag"] = sample(health, detail={"cpis_flag": None})
    v["R3 clinical account from police"] = sample(
        "SAFEGUARDING_CONTACT", narrative={"sensitivity": "CLINICAL"}
    )
    v["R5 police-confidential account"] = sample(
        "SAFEGUARDING_CONTACT", narrative={"sensitivity": "POLICE_CONFIDENTIAL"}
    )
    intel = "POLICE_INTELLIGENCE"
    v["R5 handling C"] = sample(intel, intelligence_grading=_grading("GRADING_3X5X2", "C"))
    for code in "12345":
        v[f"R6 legacy {code}"] = sample(intel, intelligence_grading=_grading("LEGACY_5X5X5", code))
    v["R5 unknown code"] = sample(intel, intelligence_grading=_grading("GRADING_3X5X2", "X"))
    v["R5 ungraded"] = sample(intel, intelligence_grading=None)
    v["R5 DA graded C"] = sample(
        "DOMESTIC_ABUSE_INCIDENT", intelligence_grading=_grading("GRADING_3X5X2", "C")
    )
    v["R5 DA graded P"] = sample(
        "DOMESTIC_ABUSE_INCIDENT", intelligence_grading=_grading("GRADING_3X5X2", "P")
    )
    missing = "MISSING_EPISODE"
    v["R8 absent"] = sample(missing, detail={"risk_grade": "NO_APPARENT_RISK"})
    v["R8 absent CSE flagged"] = sample(
        missing, detail={"risk_grade": "NO_APPARENT_RISK"}, subject={"exploitation_flagged": True}
    )
    v["R8 absent county lines"] = sample(
        missing,
        detail={"risk_grade": "NO_APPARENT_RISK"},
        concerns=[{"code": "COUNTY_LINES", "census_factor": "24A"}],
    )
    v["R7 reported"] = sample(
        missing, detail={"status": "REPORTED", "ended_at": None, "return_interview_due_at": None}
    )
    v["R7 looked after, placed"] = sample(
        missing, subject={"looked_after": True, "placing_la": "LA-E09000001"}
    )
    v["R7 another LA"] = sample(missing, subject={"responsible_la": "LA-E09000001"})
    v["R7 no LA named"] = sample(missing, subject={"responsible_la": None})
    v["R7 return interview outcome"] = sample(
        "VCS_UPDATE", detail={"kind": "RETURN_INTERVIEW_OUTCOME"}
    )
    da = "DOMESTIC_ABUSE_INCIDENT"
    for age in (3, 4, 16, 17, None):
        v[f"R9 age {age}"] = sample(da, subject={"age_years": age})
    v["R9 no child present"] = sample(da, detail={"children_present": False})
    v["R9 another school"] = sample(da, detail={"school_urn": "URN-100000"})
    v["R9 no school"] = sample(da, detail={"school_urn": None})
    decision = "MASH_DECISION"
    outcomes = ("NFA", "ADVICE_SIGNPOSTING", "S17_ASSESSMENT", "IMMEDIATE_PROTECTION", "OPEN_CASE")
    for outcome in outcomes:
        v[f"R11 {outcome}"] = sample(decision, detail={"outcome": outcome})
    v["R11 early help without agreement"] = sample(
        decision, detail={"outcome": "EARLY_HELP", "family_agreement": False}
    )
    v["R11 early help agreed"] = sample(
        decision, detail={"outcome": "EARLY_HELP", "family_agreement": True}
    )
    v["R11 looked after s17"] = sample(
        decision, detail={"outcome": "S17_ASSESSMENT"}, subject={"looked_after": True}
    )
    v["R1 no reasons recorded"] = sample(
        "SAFEGUARDING_CONTACT",
        family_informed={"reason_not_informed": None},
        consent={"reason_not_sought": None},
    )
    v["R14 nobody named"] = sample(missing, referrer=None, third_parties=[])
    v["unknown fields"] = sample(
        "SAFEGUARDING_CONTACT", secret_extra="x", detail={"extra_detail": "y"}
    )
    v["empty fields"] = sample(
        "SAFEGUARDING_CONTACT", concerns=[], narrative={"full_account": None}
    )
    return v


def _invalid() -> dict[str, Any]:
    contact = sample("SAFEGUARDING_CONTACT")
    return {
        "invalid: no classification": {"notice": {**contact, "classification": None}},
        "invalid: classification missing": {
            "notice": {k: v for k, v in contact.items() if k != "classification"}
        },
        "invalid: unknown type": {"notice": {**contact, "notice_type": "GOSSIP"}},
        "invalid: unknown agency": {"notice": _merge(contact, {"source": {"agency": "EDUCATION"}})},
        "invalid: unauthorised sender": {
            "notice": _merge(sample("POLICE_INTELLIGENCE"), {"source": {"agency": "HEALTH"}})
        },
        "invalid: no linkage key": {"notice": _merge(contact, {"subject": {"linkage_key": ""}})},
        "invalid: no detail": {"notice": {**contact, "detail": None}},
        "invalid: empty notice": {"notice": {}},
        "invalid: null notice": {"notice": None},
        "invalid: no notice": {},
    }


def _context(**fields: Any) -> dict[str, Any]:
    return {**empty_context("5afe0001"), **fields}


def _episode(agency: str, started_at: str | None, notice_id: str) -> dict[str, Any]:
    return {
        "agency": agency,
        "status": "RETURNED",
        "risk_grade": "NO_APPARENT_RISK",
        "started_at": started_at,
        "notice_id": notice_id,
    }


def _in_context() -> dict[str, dict[str, Any]]:
    """Notices with the child's context, as the gateway asks (the context beside the notice)."""
    absent = sample("MISSING_EPISODE", detail={"risk_grade": "NO_APPARENT_RISK"})
    episodes = [
        _episode("POLICE", "2026-11-19T08:00:00.000+00:00", "this"),
        _episode("CHILDRENS_SERVICES", "2026-11-19T08:00:00.000+00:00", "this again"),
        _episode("CHILDRENS_SERVICES", "2026-10-01T10:00:00.000+00:00", "earlier"),
        _episode("VOLUNTARY_SECTOR", "2026-08-21T08:00:00.000+00:00", "at the edge"),
        _episode("POLICE", "2026-08-01T08:00:00.000+00:00", "too old"),
        _episode("HEALTH", None, "no start"),
    ]
    placed = _context(looked_after=True, placing_la="LA-E09000001")
    unnamed_la = {"subject": {"responsible_la": None}}
    elsewhere = _context(responsible_la="LA-E09000001")
    return {
        "context: empty": {"notice": absent, "context": _context()},
        "context: not an object": {"notice": absent, "context": "flagged"},
        "context: R8 flagged by another agency": {
            "notice": absent,
            "context": _context(
                exploitation={"flagged": True, "flagged_by": ["HEALTH"], "types": ["SEXUAL"]}
            ),
        },
        "context: R8 looked after": {"notice": absent, "context": _context(looked_after=True)},
        "context: R8 repeat episodes": {
            "notice": absent,
            "context": _context(missing_episodes=episodes),
        },
        "context: R8 two episodes": {
            "notice": absent,
            "context": _context(missing_episodes=episodes[:3]),
        },
        "context: R7 responsible LA": {
            "notice": _merge(sample("MISSING_EPISODE"), unnamed_la),
            "context": elsewhere,
        },
        "context: R7 placing LA": {"notice": sample("MISSING_EPISODE"), "context": placed},
        "context: R9 school": {
            "notice": sample(
                "DOMESTIC_ABUSE_INCIDENT",
                subject={"age_years": None},
                detail={"school_urn": None},
            ),
            "context": _context(school_urn="URN-999999"),
        },
        "context: R12 responsible LA": {
            "notice": _merge(sample("TRAFFICKING_NRM"), unnamed_la),
            "context": elsewhere,
        },
        "context: R12 placing LA": {"notice": sample("TRAFFICKING_NRM"), "context": placed},
    }


def _synthetic() -> dict[str, dict[str, Any]]:
    generator = notices(seed=20261120)
    return {
        f"synthetic {notice_type} #{i}": {"notice": to_json_value(generator.notice(notice_type))}
        for notice_type in SENDERS
        for i in range(3)
    }


CASES: dict[str, Any] = {
    **{name: {"notice": notice} for name, notice in _variants().items()},
    **_synthetic(),
    **_invalid(),
    **_in_context(),
}
