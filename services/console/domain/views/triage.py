"""An item's triage status and RAG, which every page shows.

Triage status of an item:
- a contact (Timescales.contact_types) with no MASH decision covering it: AWAITING, with a
  decision deadline;
- a contact a visible MASH decision covers: DECIDED (the decision's RAG is then confirmed);
- a contact shared with this reader only as a flag (FLAG_ONLY: the content stays with the
  source, who must be asked) is HELD_ELSEWHERE: nobody can decide on a flag, so it is not
  awaiting a decision and has no deadline; the queue lists it apart, with whom to call;
- anything else is FOR_INFORMATION, and the decisions themselves are DECISION.

RAG: until the MASH manager rates it, an item carries a *suggested* RAG from the source's
own risk assessment (immediate danger or high -> Red, medium -> Amber, low or no apparent
risk -> Green), marked as suggested. A risk the reader may not see gives no suggestion.
One exception (R8): a missing episode graded 'absent' (no apparent risk) for a child at risk
of exploitation, looked after or missing repeatedly is a missing episode, not 'no apparent
risk'. The policy marks its feed item with rule R8, and the console then suggests at least
Amber and says why, so the episode neither sinks to the bottom of the queue nor waits a day.
The console reads R8 from the feed item rather than re-deciding it: the policy owns the
test (its thresholds are the IG officer's data) and the console may not see every flag.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from services.console.domain.deadlines import Timescales, decision_due
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS, label
from services.console.domain.projection import CoveringDecisions

__all__ = [
    "R8_REASON",
    "RagView",
    "Status",
    "Triage",
    "decision_due_at",
    "suggested_rag",
    "suggestion_reason",
    "treated_as_missing",
    "triage_of",
]


class Status(StrEnum):
    AWAITING = "awaiting"
    DECIDED = "decided"
    FOR_INFORMATION = "information"
    DECISION = "decision"
    HELD_ELSEWHERE = "held-elsewhere"


@dataclass(frozen=True, slots=True)
class RagView:
    code: str
    confirmed: bool
    reason: str | None = None
    """A note shown beside a suggestion, e.g. why it is not simply the source's risk (R8)."""

    @property
    def label(self) -> str:
        return label(RAG_LABELS, self.code)

    @property
    def text(self) -> str:
        return self.label if self.confirmed else f"{self.label} (suggested)"

    @property
    def css(self) -> str:
        return self.code.lower()


_SEVERITY = {"GREEN": 0, "AMBER": 1, "RED": 2}
R8_REASON = "absent, treated as missing (R8)"


def treated_as_missing(entry: FeedEntry) -> bool:
    """An 'absent' missing episode the policy shared as missing (R8, rule id on the item)."""
    return entry.notice_type == "MISSING_EPISODE" and "R8" in entry.rule_ids


def _source_rag(entry: FeedEntry) -> str | None:
    if entry.immediate_danger or entry.risk_level == "HIGH":
        return "RED"
    if entry.risk_level == "MEDIUM":
        return "AMBER"
    if entry.risk_level in ("LOW", "NO_APPARENT_RISK"):
        return "GREEN"
    return None


def suggested_rag(entry: FeedEntry) -> str | None:
    rag = _source_rag(entry)
    if treated_as_missing(entry) and (rag is None or _SEVERITY[rag] < _SEVERITY["AMBER"]):
        return "AMBER"
    return rag


def suggestion_reason(entry: FeedEntry) -> str | None:
    """What the manager must know to read the suggestion right. An R8 episode is labelled
    even when the source's risk level already gave Amber or Red: the police grade on it still
    says 'absent', and the manager has to see that it is being treated as missing."""
    return R8_REASON if treated_as_missing(entry) else None


@dataclass(frozen=True, slots=True)
class Triage:
    status: Status
    rag: RagView | None
    decision: FeedEntry | None

    @property
    def status_text(self) -> str:
        if self.status is Status.DECIDED and self.decision is not None:
            outcome = self.decision.mash_decision
            return f"Decided: {label(MASH_OUTCOME_LABELS, outcome.outcome if outcome else None)}"
        return {
            Status.AWAITING: "Awaiting decision",
            Status.FOR_INFORMATION: "For information",
            Status.DECISION: "MASH decision",
            Status.DECIDED: "Decided",
            Status.HELD_ELSEWHERE: "Held elsewhere: contact the holder",
        }[self.status]


def triage_of(entry: FeedEntry, projection: CoveringDecisions, timescales: Timescales) -> Triage:
    decision_detail = entry.mash_decision
    if decision_detail is not None:
        rag = RagView(decision_detail.rag, True) if decision_detail.rag else None
        return Triage(Status.DECISION, rag, None)
    covering = projection.decisions_covering(entry.notice_id)
    if covering:
        detail = covering[0].mash_decision
        rag_code = detail.rag if detail else None
        return Triage(Status.DECIDED, RagView(rag_code, True) if rag_code else None, covering[0])
    suggested = suggested_rag(entry)
    rag = RagView(suggested, False, suggestion_reason(entry)) if suggested else None
    if entry.notice_type in timescales.contact_types:
        if entry.outcome == "FLAG_ONLY":
            return Triage(Status.HELD_ELSEWHERE, rag, None)
        return Triage(Status.AWAITING, rag, None)
    return Triage(Status.FOR_INFORMATION, rag, None)


def decision_due_at(entry: FeedEntry, triage: Triage, timescales: Timescales) -> dt.datetime | None:
    """When the decision on an item awaiting one is due; None for anything else."""
    if triage.status is not Status.AWAITING:
        return None
    return decision_due(
        notice_type=entry.notice_type,
        rag=triage.rag.code if triage.rag else None,
        received_at=entry.received_at,
        timescales=timescales,
        immediate_danger=entry.immediate_danger,
    )
