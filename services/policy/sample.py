"""A generated week of safeguarding notices, for simulations and worked examples.

The mix is shaped like one borough's week: mostly police contacts and domestic abuse
incidents, a steady stream of missing episodes (reported, found, returned), health alerts,
status changes, some intelligence, MASH decisions and voluntary sector updates, including
return home interview outcomes. A pool of children recurs, so a child can appear several
times in the week, as in real traffic. Synthetic data only; deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from services.childindex.domain import LinkageKeyer
from services.synthetic.notices import SyntheticChild, SyntheticNotices

__all__ = ["WEEK_MIX", "generate_week"]

# Share of each notice type in a week (sums to 1). Roughly: contacts and domestic abuse
# dominate MASH demand; missing episodes are the next largest stream.
WEEK_MIX: tuple[tuple[str, float], ...] = (
    ("SAFEGUARDING_CONTACT", 0.30),
    ("DOMESTIC_ABUSE_INCIDENT", 0.17),
    ("MISSING_EPISODE", 0.15),
    ("HEALTH_SAFEGUARDING_ALERT", 0.10),
    ("CSC_STATUS_CHANGE", 0.06),
    ("EXPLOITATION_CONCERN", 0.05),
    ("POLICE_INTELLIGENCE", 0.04),
    ("MASH_DECISION", 0.07),
    ("VCS_UPDATE", 0.05),
    ("TRAFFICKING_NRM", 0.01),
)

_MASH_OUTCOMES = (
    "NFA",
    "ADVICE_SIGNPOSTING",
    "EARLY_HELP",
    "S17_ASSESSMENT",
    "S47_STRATEGY_DISCUSSION",
    "IMMEDIATE_PROTECTION",
    "OPEN_CASE",
)
_CSC_CHANGES = (
    "CP_PLAN_STARTED",
    "CP_PLAN_ENDED",
    "LOOKED_AFTER_STARTED",
    "LOOKED_AFTER_ENDED",
    "S47_ENQUIRY_STARTED",
    "STRATEGY_DISCUSSION_HELD",
    "CIN_REFERRAL_ACCEPTED",
)
_SETTINGS = ("ED", "MIU", "MATERNITY", "SEXUAL_HEALTH", "SARC", "CAMHS", "GP", "COMMUNITY")
_VCS_KINDS = ("ENGAGEMENT", "CONCERN", "RETURN_INTERVIEW_OUTCOME", "NRM_REFERRAL")


def _variation(notice_type: str, rng: random.Random) -> dict[str, Any]:
    """Detail values the plain synthetic generator keeps fixed, varied as a real week would."""
    match notice_type:
        case "MISSING_EPISODE":
            status = rng.choices(("REPORTED", "FOUND", "RETURNED"), (0.45, 0.15, 0.40))[0]
            return {"status": status}
        case "MASH_DECISION":
            return {
                "outcome": rng.choice(_MASH_OUTCOMES),
                "rag": rng.choice(("RED", "AMBER", "GREEN")),
                "family_agreement": rng.random() < 0.6,
            }
        case "CSC_STATUS_CHANGE":
            return {"change": rng.choice(_CSC_CHANGES)}
        case "HEALTH_SAFEGUARDING_ALERT":
            setting = rng.choice(_SETTINGS)
            return {
                "setting": setting,
                "unscheduled_care": setting in ("ED", "MIU"),
                "released_for_cp_decision": setting == "SEXUAL_HEALTH" and rng.random() < 0.2,
            }
        case "VCS_UPDATE":
            kind = rng.choices(_VCS_KINDS, (0.45, 0.2, 0.3, 0.05))[0]
            extra: dict[str, Any] = {"kind": kind}
            if kind == "RETURN_INTERVIEW_OUTCOME":
                extra["outcome_summary"] = (
                    "Synthetic: interview held within 72 hours; child engaged; "
                    "worries about older associates shared with the lead professional."
                )
                extra["safety_instructions"] = "Synthetic: no contact through social media."
            return extra
    return {}


def _pick_type(rng: random.Random) -> str:
    types = [name for name, _ in WEEK_MIX]
    weights = [share for _, share in WEEK_MIX]
    return rng.choices(types, weights)[0]


def generate_week(
    *, count: int, seed: int, keyer: LinkageKeyer, week_start: dt.datetime
) -> Iterator[dict[str, Any]]:
    """`count` notices spread over the seven days from `week_start` (notice record shape).

    One generator per day keeps each notice's times inside its day; the children are drawn
    from one pool (about one child per four notices), so chronologies form.
    """
    rng = random.Random(seed)
    days = [
        SyntheticNotices(
            seed=seed * 31 + day, keyer=keyer, now=week_start + dt.timedelta(days=day, hours=22)
        )
        for day in range(7)
    ]
    pool: list[SyntheticChild] = [days[0].child() for _ in range(max(1, count // 4))]
    for _ in range(count):
        generator = days[rng.randrange(7)]
        notice_type = _pick_type(rng)
        child = rng.choice(pool)
        notice = generator.notice(notice_type, child=child, **_variation(notice_type, rng))
        if notice_type == "MISSING_EPISODE":
            _consistent_episode(notice["detail"])
        yield notice


def _consistent_episode(detail: dict[str, Any]) -> None:
    """Only a returned child has a return time and an interview due (72 hours later)."""
    if detail["status"] == "RETURNED":
        ended = detail["started_at"] + dt.timedelta(hours=9)
        detail["ended_at"] = ended
        detail["return_interview_due_at"] = ended + dt.timedelta(hours=72)
    else:
        detail["ended_at"] = None
        detail["return_interview_due_at"] = None
