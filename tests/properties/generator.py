"""Generated SafeguardingNotices: every notice type, sender, classification, grading (3x5x2
and legacy 5x5x5, with and without a dissemination authorisation) and combination of the
flags and organisation references the sharing rules read.

One builder, two drivers (as tests/gateway/notices.py): `notices(vocab)` is a hypothesis
strategy whose draws shrink towards the simplest notice (every option list starts with its
simplest value), and `random_notices(vocab, seed, count)` draws the same way from a seeded
stream, for the 10,000-notice scale run where shrinking is not wanted.

Notices are built in the Avro record shape (datetimes and dates as objects, so
`test_generator.py` can check each one encodes with the hub's schemas); `as_policy_input`
renders one as the JSON the gateway sends OPA. Service words (sexual health, termination,
SARC) appear only where a sensitive health attendance would put them: in the alert's setting,
its texts and the attending service's own contact.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

from services.hubkit.notice import notice_id_for, to_json_value

__all__ = [
    "SENSITIVE_SETTINGS",
    "Vocab",
    "as_policy_input",
    "build_notice",
    "notices",
    "random_notices",
]

T = TypeVar("T")
Choose = Callable[[Sequence[Any]], Any]

SENSITIVE_SETTINGS = {
    "SEXUAL_HEALTH": "sexual health clinic",
    "TERMINATION": "termination of pregnancy service",
    "SARC": "sexual assault referral centre (SARC)",
}
SETTINGS = ["ED", "MIU", "GP", "CAMHS", "MATERNITY", "COMMUNITY", *SENSITIVE_SETTINGS]
UNSCHEDULED = ["ED", "MIU"]
LAS = ["LA-E09000099", "LA-E09000001", "LA-E09000002"]
SCHOOL_URNS = [
    None,
    "URN-999999",
    "999999",
    "URN 999999",
    "urn-999999",
    "URN-111111",
    "111111",
    "URN 111111",
    "URN-100000",
]
REFERRING = [
    None,
    [],
    ["POL-XX01"],
    ["POL-YY02"],
    ["NHS-RXX00", "VCS-SYN001"],
    ["VCS-OTHER"],
    ["LA-E09000001"],
    ["NHS-RYY00", "POL-XX01"],
]
EARLY_HELP_ORGS = [None, "VCS-SYN001", "VCS-OTHER", "LA-E09000001"]
CONCERNS = [
    "NEGLECT",
    "CHILD_SEXUAL_EXPLOITATION",
    "CHILD_CRIMINAL_EXPLOITATION",
    "COUNTY_LINES",
    "TRAFFICKING",
    "MISSING",
    "DOMESTIC_ABUSE",
    "SEXUAL_ABUSE",
    "GANGS",
]
# When the notice was created: the MASH open, the MASH closed (Sunday night), an evening.
CREATED = [
    dt.datetime(2026, 11, 18, 11, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 20, 20, 30, tzinfo=dt.UTC),
]
NHS_NUMBER = "9990000018"
EXPLOITATION_TYPES = [
    "CRIMINAL",
    "SEXUAL",
    "COUNTY_LINES",
    "ONLINE",
    "LABOUR",
    "DOMESTIC_SERVITUDE",
    "ORGAN_REMOVAL",
]
CSC_CHANGES = [
    "CP_PLAN_STARTED",
    "CP_PLAN_ENDED",
    "LOOKED_AFTER_STARTED",
    "LOOKED_AFTER_ENDED",
    "S47_ENQUIRY_STARTED",
    "STRATEGY_DISCUSSION_HELD",
    "CIN_REFERRAL_ACCEPTED",
]
MASH_OUTCOMES = [
    "S17_ASSESSMENT",
    "NFA",
    "ADVICE_SIGNPOSTING",
    "EARLY_HELP",
    "S47_STRATEGY_DISCUSSION",
    "IMMEDIATE_PROTECTION",
    "OPEN_CASE",
]


@dataclass(frozen=True, slots=True)
class Vocab:
    """What the agreement says about senders (read from the policy snapshot's data)."""

    organisations: dict[str, str]
    """agency -> organisation code."""
    senders: dict[str, tuple[str, ...]]
    """notice type -> agencies allowed to send it."""

    @classmethod
    def load(cls, policies_dir: Path) -> Vocab:
        agencies = json.loads((policies_dir / "safehub/agencies/data.json").read_text())
        isa = json.loads((policies_dir / "safehub/isa/data.json").read_text())
        return cls(
            organisations={code: str(a["organisation"]) for code, a in agencies.items()},
            senders={t: tuple(v["senders"]) for t, v in sorted(isa["notice_types"].items())},
        )


def _person(role: str, name: str, contact: str | None) -> dict[str, Any]:
    return {"role": role, "name": name, "organisation": None, "contact": contact}


def _contact(role: str, organisation: str) -> dict[str, Any]:
    return {
        "role": role,
        "organisation": organisation,
        "telephone": "0300 000 0100",
        "secure_email": None,
    }


def build_notice(
    choose: Choose, vocab: Vocab, serial: int, notice_types: Sequence[str] | None = None
) -> dict[str, Any]:
    """One notice (of one of `notice_types`, default any); every choice the sharing rules
    could turn on is made by `choose`."""
    notice_type = choose(sorted(notice_types or vocab.senders))
    allowed = list(vocab.senders[notice_type])
    # Mostly an authorised sender; sometimes any agency (the policy must then fail closed).
    agency = choose([*allowed, *allowed, *allowed, *sorted(vocab.organisations)])
    organisation = vocab.organisations[agency]
    created: dt.datetime = choose(CREATED)
    reference = f"PROP-{serial:08d}"
    looked_after = choose([False, True])
    age = choose([10, None, 3, 4, 16, 17, 18, 19])
    subject = {
        "linkage_key": f"5afe{serial:012x}",
        "nhs_number": choose([NHS_NUMBER, None]),
        "la_child_id": choose([None, "LAC000001"]),
        "upn": choose([None, "A123456789012"]),
        "given_name": "Avery",
        "family_name": "Ashdown",
        "date_of_birth": None
        if age is None
        else created.date().replace(year=created.year - age) - dt.timedelta(days=40),
        "age_years": age,
        "postcode_district": "ZZ1",
        "looked_after": looked_after,
        "responsible_la": choose([*LAS, None]),
        "placing_la": choose([None, *LAS]),
        "exploitation_flagged": choose([False, True]),
    }
    concerns = sorted({choose(CONCERNS) for _ in range(choose([1, 0, 2, 3]))})
    status = choose(["NOT_SOUGHT", "GIVEN", "REFUSED", "NOT_REQUIRED"])
    informed = choose([True, False])
    notice: dict[str, Any] = {
        "notice_id": notice_id_for(
            agency=agency, organisation_code=organisation, source_reference=reference
        ),
        "notice_type": notice_type,
        "source": {
            "agency": agency,
            "organisation_code": organisation,
            "source_reference": reference,
            "source_system": choose([None, "synthetic"]),
        },
        "created_at": created,
        "subject": subject,
        "concerns": [{"code": c, "census_factor": None} for c in concerns],
        "risk": {
            "level": choose(["MEDIUM", "NO_APPARENT_RISK", "LOW", "HIGH"]),
            "immediate_danger": choose([False, True]),
        },
        "narrative": {
            "summary": "Synthetic summary.",
            "full_account": choose([None, "Synthetic full account."]),
            "sensitivity": choose(["SENSITIVE", "ROUTINE", "CLINICAL", "POLICE_CONFIDENTIAL"]),
        },
        "classification": choose(["OFFICIAL_SENSITIVE", "OFFICIAL", None]),
        "intelligence_grading": _grading(choose, notice_type),
        "consent": {
            "status": status,
            "reason_not_sought": choose([None, "Could increase the risk to the child."]),
        },
        "family_informed": {
            "informed": informed,
            "reason_not_informed": None if informed else choose([None, "Risk of harm."]),
        },
        "referrer": choose([None, _person("neighbour", "Synthetic Referrer", "07700 900000")]),
        "third_parties": choose([[], [_person("mother", "Synthetic Parent", None)]]),
        "contact_point": _contact("Safeguarding desk", organisation),
        "detail": {},
    }
    notice["detail"] = _detail(choose, notice, created)
    return notice


def _grading(choose: Choose, notice_type: str) -> dict[str, Any] | None:
    kinds = ["3x5x2", "legacy", "none"] if notice_type == "POLICE_INTELLIGENCE" else ["none"] * 3
    kind = choose([*kinds, "3x5x2", "legacy"])
    if kind == "none":
        return None
    if kind == "3x5x2":
        return {
            "scheme": "GRADING_3X5X2",
            "source_evaluation": choose(list("123")),
            "intelligence_assessment": choose(list("BACDE")),
            "handling_code": choose(["P", "C"]),
            "dissemination_authorisation": None,
        }
    return {
        "scheme": "LEGACY_5X5X5",
        "source_evaluation": choose(list("BACDE")),
        "intelligence_assessment": choose(list("21345")),
        "handling_code": choose(list("21345")),
        "dissemination_authorisation": choose([None, "AUTH-0001"]),
    }


def _detail(choose: Choose, notice: dict[str, Any], created: dt.datetime) -> dict[str, Any]:
    before = created - dt.timedelta(hours=2)
    match notice["notice_type"]:
        case "SAFEGUARDING_CONTACT":
            return {"reason": "Synthetic reason.", "children_in_household": choose([1, 0, 3])}
        case "DOMESTIC_ABUSE_INCIDENT":
            return {
                "incident_at": before,
                "dash_risk": choose(["MEDIUM", "STANDARD", "HIGH"]),
                "children_present": choose([True, False]),
                "marac_referral": choose([False, True]),
                "school_urn": choose(SCHOOL_URNS),
                "children_normally_resident": choose([None, True, False]),
            }
        case "MISSING_EPISODE":
            status = choose(["REPORTED", "FOUND", "RETURNED"])
            ended = None if status == "REPORTED" else choose([before, None])
            return {
                "status": status,
                "risk_grade": choose(["MEDIUM", "NO_APPARENT_RISK", "LOW", "HIGH"]),
                "ssda903_code": choose([None, "M", "A"]),
                "started_at": created - dt.timedelta(hours=20),
                "ended_at": ended,
                "return_interview_due_at": None
                if ended is None
                else choose([ended + dt.timedelta(hours=72), None]),
                "carer_contact": choose([None, "0300 000 0200"]),
                "episodes_last_90_days": choose([1, 2, 3, 5]),
            }
        case "EXPLOITATION_CONCERN":
            return {
                "exploitation_types": choose(
                    [["CRIMINAL"], ["SEXUAL", "ONLINE"], ["COUNTY_LINES"], ["LABOUR"]]
                ),
                "indicators": ["new phone"],
            }
        case "TRAFFICKING_NRM":
            return {
                "exploitation_type": choose(EXPLOITATION_TYPES),
                "first_responder_organisation": "Synthetic first responder",
                "referred_at": before,
                "exploitation_account": "Synthetic account given by the child.",
            }
        case "HEALTH_SAFEGUARDING_ALERT":
            return _health_detail(choose, notice, before)
        case "CSC_STATUS_CHANGE":
            return {
                "change": choose(CSC_CHANGES),
                "effective_date": created.date(),
                "cp_category": choose([None, "NEG", "PHY", "EMO", "SAB", "MUL"]),
                "legal_status": choose([None, "S20", "S31", "S38"]),
                "primary_need": choose([None, "N1"]),
                "assessment_factors": choose([[], ["10A"], ["11A", "24A"], ["3A"]]),
                "allocated_worker": choose([None, _contact("Allocated social worker", "LA")]),
                "referral_source": choose([None, "1B", "2A", "5A", "9"]),
                "period_start_date": choose([None, created.date() - dt.timedelta(days=200)]),
            }
        case "POLICE_INTELLIGENCE":
            return {
                "sanitised_text": "Synthetic sanitised intelligence.",
                "source_details": choose([None, "Synthetic source detail."]),
            }
        case "MASH_DECISION":
            return {
                "rag": choose(["AMBER", "RED", "GREEN"]),
                "outcome": choose(MASH_OUTCOMES),
                "rationale": "Synthetic rationale.",
                "family_agreement": choose([False, True]),
                "decided_by_role": "MASH manager",
                "related_notice_ids": choose([[], ["6f1d3c2e-0000-5000-8000-000000000009"]]),
                "agreed_actions": ["Synthetic action"],
                "referring_organisations": choose(REFERRING),
                "early_help_organisation": choose(EARLY_HELP_ORGS),
            }
        case "VCS_UPDATE":
            return {
                "kind": choose(
                    ["ENGAGEMENT", "CONCERN", "RETURN_INTERVIEW_OUTCOME", "NRM_REFERRAL"]
                ),
                "category_of_need": choose([None, "Emotional wellbeing"]),
                "agreed_actions": ["Weekly mentoring"],
                "safety_instructions": choose([None, "Do not visit alone."]),
                "outcome_summary": choose([None, "Synthetic outcome."]),
            }
    raise AssertionError(f"no detail for {notice['notice_type']}")


def _health_detail(choose: Choose, notice: dict[str, Any], before: dt.datetime) -> dict[str, Any]:
    # The CP-IS lookup service reports unscheduled care presentations only.
    setting = choose(UNSCHEDULED if notice["source"]["agency"] == "CPIS" else SETTINGS)
    service = SENSITIVE_SETTINGS.get(setting)
    texts = ["Synthetic risk summary."] + ([f"Seen at the {service}."] if service else [])
    if service and choose([False, True]):
        # The attending service signs its own referral.
        notice["contact_point"]["role"] = f"{service.capitalize()} duty nurse"
    notice["narrative"]["summary"] = choose(texts)
    cpis = choose([None, "CHILD_PROTECTION_PLAN", "LOOKED_AFTER", "UNBORN_CHILD_PROTECTION_PLAN"])
    return {
        "setting": setting,
        "seen_at": before,
        "snomed_codes": choose([[], ["1064311000000109"], ["764841000000100"]]),
        "clinical_detail": choose(texts),
        "navigator_risk_summary": choose(texts),
        "cpis_flag": None
        if cpis is None
        else {
            "plan_type": cpis,
            "plan_start": dt.date(2026, 1, 1),
            "plan_end": None,
            "responsible_la_contact": "Synthetic Borough Children's Services, 0300 000 0300",
        },
        "released_for_cp_decision": choose([False, True]),
        "unscheduled_care": choose([setting in UNSCHEDULED, setting not in UNSCHEDULED]),
    }


def as_policy_input(notice: dict[str, Any]) -> dict[str, Any]:
    """The notice as the gateway passes it to the policy (JSON values)."""
    rendered: dict[str, Any] = to_json_value(notice)
    return rendered


@st.composite
def notices(
    draw: st.DrawFn, vocab: Vocab, notice_types: Sequence[str] | None = None
) -> dict[str, Any]:
    def choose(options: Sequence[T]) -> T:
        return draw(st.sampled_from(list(options)))

    serial = draw(st.integers(min_value=0, max_value=10**8))
    return build_notice(choose, vocab, serial, notice_types)


def random_notices(vocab: Vocab, *, seed: int, count: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)

    def choose(options: Sequence[T]) -> T:
        return rng.choice(list(options))

    for serial in range(count):
        yield build_notice(choose, vocab, serial)
