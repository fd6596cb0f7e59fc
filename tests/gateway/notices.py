"""Varied synthetic notices: every notice type, every sender, and random variants of what the
sharing rules look at (classification, handling codes, missing statuses, care settings,
sensitivity, consent, ages, schools, MASH outcomes, people named or not, ...).

One generator, two drivers: `random_notices(seed, n)` for the parity and integration tests,
and a hypothesis `notices_strategy()` whose draws shrink. Notices are in the Avro record
shape (datetimes and dates as objects) so they can be signed and published as they are;
`to_json_value` gives the policy input.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

from services.hubkit.notice import notice_id_for
from services.synthetic.notices import SyntheticNotices
from tests.factories import notices as synthetic
from tests.policy.rules.cases import SENDERS

__all__ = ["ORGS", "notices_strategy", "random_notices", "vary"]

T = TypeVar("T")
Choose = Callable[[Sequence[T]], T]

ORGS = {
    "POLICE": "POL-XX01",
    "HEALTH": "NHS-RXX00",
    "CHILDRENS_SERVICES": "LA-E09000099",
    "VOLUNTARY_SECTOR": "VCS-SYN001",
    "MASH": "MASH-E09000099",
}
_CONCERNS = [
    "CHILD_SEXUAL_EXPLOITATION",
    "CHILD_CRIMINAL_EXPLOITATION",
    "COUNTY_LINES",
    "TRAFFICKING",
    "MISSING",
    "NEGLECT",
    "DOMESTIC_ABUSE",
    "SELF_HARM",
    "MENTAL_HEALTH",
]


def vary(generator: SyntheticNotices, choose: Choose[Any], serial: int) -> dict[str, Any]:
    """One notice, every rule-relevant choice made by `choose`."""
    notice_type = choose(sorted(SENDERS))
    sender = choose(SENDERS[notice_type])
    notice = generator.notice(
        notice_type, classification=choose(["OFFICIAL", "OFFICIAL_SENSITIVE"])
    )
    reference = f"VAR-{serial:07d}-{notice['source']['source_reference']}"
    notice["source"] = {**notice["source"], "agency": sender, "organisation_code": ORGS[sender]}
    notice["source"]["source_reference"] = reference
    notice["notice_id"] = notice_id_for(
        agency=sender, organisation_code=ORGS[sender], source_reference=reference
    )
    notice["contact_point"] = {**notice["contact_point"], "organisation": ORGS[sender]}

    subject = notice["subject"]
    subject["looked_after"] = choose([False, False, True])
    subject["placing_la"] = (
        choose([None, None, "LA-E09000001"]) if subject["looked_after"] else None
    )
    subject["responsible_la"] = choose(["LA-E09000099", "LA-E09000099", "LA-E09000001", None])
    subject["exploitation_flagged"] = choose([False, True])
    subject["age_years"] = choose([None, 2, 4, 9, 13, 16, 17])
    subject["upn"] = choose([None, "A123456789012"])
    notice["concerns"] = [
        {"code": code, "census_factor": None}
        for code in sorted({choose(_CONCERNS) for _ in range(choose([0, 1, 2, 3]))})
    ]
    notice["risk"] = {
        "level": choose(["NO_APPARENT_RISK", "LOW", "MEDIUM", "HIGH"]),
        "immediate_danger": choose([False, False, True]),
    }
    notice["narrative"] = {
        **notice["narrative"],
        "sensitivity": choose(["ROUTINE", "SENSITIVE", "CLINICAL", "POLICE_CONFIDENTIAL"]),
        "full_account": choose([notice["narrative"]["full_account"], None]),
    }
    status = choose(["NOT_SOUGHT", "GIVEN", "REFUSED", "NOT_REQUIRED"])
    notice["consent"] = {
        "status": status,
        "reason_not_sought": choose([None, "Could increase risk."])
        if status == "NOT_SOUGHT"
        else None,
    }
    informed = choose([False, True])
    notice["family_informed"] = {
        "informed": informed,
        "reason_not_informed": None if informed else choose([None, "Risk of harm."]),
    }
    notice["referrer"] = choose([notice["referrer"], None])
    notice["third_parties"] = choose(
        [
            [],
            [{"role": "mother", "name": "Synthetic Parent", "organisation": None, "contact": None}],
        ]
    )
    grading = choose(["none", "none", "P", "C", "X", "legacy"])
    if grading == "none":
        notice["intelligence_grading"] = None
    else:
        legacy = grading == "legacy"
        notice["intelligence_grading"] = {
            "scheme": "LEGACY_5X5X5" if legacy else "GRADING_3X5X2",
            "source_evaluation": "2",
            "intelligence_assessment": "B",
            "handling_code": choose(list("12345")) if legacy else grading,
            # Not varied (no extra draw, so every seed gives the notices it gave before).
            "dissemination_authorisation": None,
        }
    _vary_detail(notice, choose)
    return notice


def _vary_detail(notice: dict[str, Any], choose: Choose[Any]) -> None:
    detail = notice["detail"]
    created: dt.datetime = notice["created_at"]
    match notice["notice_type"]:
        case "MISSING_EPISODE":
            status = choose(["REPORTED", "FOUND", "RETURNED"])
            ended = status != "REPORTED"
            detail.update(
                status=status,
                risk_grade=choose(["NO_APPARENT_RISK", "LOW", "MEDIUM", "HIGH"]),
                ended_at=created + dt.timedelta(hours=9) if ended else None,
                return_interview_due_at=created + dt.timedelta(hours=81)
                if ended and choose([True, False])
                else None,
            )
        case "HEALTH_SAFEGUARDING_ALERT":
            setting = choose(
                ["ED", "MIU", "MATERNITY", "SEXUAL_HEALTH", "TERMINATION", "SARC", "CAMHS", "GP"]
            )
            detail.update(
                setting=setting,
                unscheduled_care=setting in ("ED", "MIU"),
                released_for_cp_decision=choose([False, True]),
                cpis_flag=choose(
                    [
                        None,
                        {
                            "plan_type": "CHILD_PROTECTION_PLAN",
                            "plan_start": dt.date(2026, 1, 1),
                            "plan_end": None,
                            "responsible_la_contact": "0300 000 0004",
                        },
                    ]
                ),
            )
        case "DOMESTIC_ABUSE_INCIDENT":
            detail.update(
                dash_risk=choose(["STANDARD", "MEDIUM", "HIGH"]),
                children_present=choose([True, True, False]),
                school_urn=choose(["URN-999999", "URN-999999", "URN-100000", None]),
            )
        case "MASH_DECISION":
            detail.update(
                outcome=choose(
                    [
                        "NFA",
                        "ADVICE_SIGNPOSTING",
                        "EARLY_HELP",
                        "S17_ASSESSMENT",
                        "S47_STRATEGY_DISCUSSION",
                        "IMMEDIATE_PROTECTION",
                        "OPEN_CASE",
                    ]
                ),
                rag=choose(["RED", "AMBER", "GREEN"]),
                family_agreement=choose([False, True]),
            )
        case "VCS_UPDATE":
            detail.update(
                kind=choose(["ENGAGEMENT", "CONCERN", "RETURN_INTERVIEW_OUTCOME", "NRM_REFERRAL"])
            )
        case "CSC_STATUS_CHANGE":
            detail.update(
                change=choose(["CP_PLAN_STARTED", "LOOKED_AFTER_STARTED", "S47_ENQUIRY_STARTED"]),
                legal_status=choose([None, "S20", "S31"]),
            )
        case _:
            pass


def random_notices(seed: int, count: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    generator = synthetic(seed=seed)

    def choose(options: Sequence[Any]) -> Any:
        return rng.choice(list(options))

    for serial in range(count):
        yield vary(generator, choose, serial)


@st.composite
def notices_strategy(draw: st.DrawFn) -> dict[str, Any]:
    seed = draw(st.integers(min_value=0, max_value=2**16))

    def choose(options: Sequence[Any]) -> Any:
        return draw(st.sampled_from(list(options)))

    return vary(synthetic(seed=seed), choose, serial=seed)
