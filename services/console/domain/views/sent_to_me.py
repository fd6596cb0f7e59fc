"""'Sent to me': what a social worker outside the MASH is asked to act on, as their landing page.

Two lists, built only from what the person's own feed holds (the policy already cut each
item down to what leaves the MASH: for a MASH decision the outcome, RAG, agreed actions,
summary and contact, never the rationale or the contacts it covered, rule R2):

- Decisions sent to me: the MASH_DECISION notices routed to the local authority (s47
  strategy discussion, s17 assessment, immediate protection, an open case), each with what is
  asked of the worker and by when. The timescale starts when the decision reached the feed:
  immediate protection is now; a s47 strategy discussion is held by the next working day (a
  local timescale: Working Together 2023 asks for one "as soon as possible"); a s17
  assessment is completed within 45 working days (Working Together 2023's maximum); an open
  case goes to its allocated worker with no new timescale.
- Return interviews due: missing episodes in the feed where the child is back (returned or
  found). The interview is due 72 hours after the return (DOMAIN.md, R7), as the notice says
  (`detail.return_interview_due_at`) or worked out from the return time; when the return time
  is not known, no due time is invented and the row says so. A return interview outcome (a
  voluntary sector update of kind RETURN_INTERVIEW_OUTCOME about the child, received after
  the return) marks it done.

Overdue rows say so in words ("Overdue by 3h"), not by colour alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.console.domain.deadlines import DueView, Timescales, describe_age, describe_due
from services.console.domain.feed import FeedEntry, parse_time
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS, label
from services.console.domain.views.fields import when_text

__all__ = [
    "ACTIONS",
    "RETURN_INTERVIEW_WITHIN",
    "DecisionSent",
    "ReturnInterviewDue",
    "SentToMe",
    "sent_to_me",
]

RETURN_INTERVIEW_WITHIN = dt.timedelta(hours=72)
_BACK = frozenset({"RETURNED", "FOUND"})
_OUTCOME_KIND = "RETURN_INTERVIEW_OUTCOME"


@dataclass(frozen=True, slots=True)
class _Action:
    asked: str
    working_days: float | None
    """Working days from when the decision arrived; 0: now; None: no timescale."""
    timescale: str


ACTIONS: Mapping[str, _Action] = {
    "IMMEDIATE_PROTECTION": _Action(
        "Act now to protect the child, with police", 0, "now: immediate protection"
    ),
    "S47_STRATEGY_DISCUSSION": _Action(
        "Convene a strategy discussion (s47) with police and health",
        1,
        "by the next working day (local timescale)",
    ),
    "S17_ASSESSMENT": _Action(
        "Carry out a child in need assessment (s17)",
        45,
        "within 45 working days (Working Together 2023)",
    ),
    "OPEN_CASE": _Action(
        "Add to the child's open case: for the allocated worker", None, "no new timescale"
    ),
}
_FOR_INFORMATION = _Action("For information", None, "no timescale")


@dataclass(frozen=True, slots=True)
class DecisionSent:
    notice_id: str
    linkage_key: str
    """For the edge to make the child link; never rendered."""
    child_name: str | None
    outcome: str
    asked: str
    timescale: str
    due: DueView | None
    rag: str | None
    agreed_actions: tuple[str, ...]
    summary: str | None
    received_text: str
    contact: str


@dataclass(frozen=True, slots=True)
class ReturnInterviewDue:
    notice_id: str
    linkage_key: str
    child_name: str | None
    status: str
    returned_text: str
    due: DueView | None
    done: bool
    state_text: str
    """In words: 'Overdue by 5h (was due 10:00 today)', 'Outcome received', ..."""


@dataclass(frozen=True, slots=True)
class SentToMe:
    decisions: tuple[DecisionSent, ...]
    interviews: tuple[ReturnInterviewDue, ...]

    @property
    def overdue(self) -> int:
        late = [d for d in self.decisions if d.due and d.due.state.value == "overdue"]
        late_interviews = [
            i for i in self.interviews if not i.done and i.due and i.due.state.value == "overdue"
        ]
        return len(late) + len(late_interviews)


def _decision(entry: FeedEntry, *, now: dt.datetime, timescales: Timescales) -> DecisionSent:
    detail = entry.mash_decision
    outcome = detail.outcome if detail and detail.outcome else ""
    action = ACTIONS.get(outcome, _FOR_INFORMATION)
    due: DueView | None = None
    if action.working_days is not None:
        calendar = timescales.calendar
        due_at = (
            entry.received_at
            if action.working_days == 0
            else calendar.add_working_time(
                entry.received_at, calendar.working_day * action.working_days
            )
        )
        due = describe_due(due_at, now=now)
    return DecisionSent(
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        child_name=entry.child_name,
        outcome=label(MASH_OUTCOME_LABELS, outcome or None),
        asked=action.asked,
        timescale=action.timescale,
        due=due,
        rag=label(RAG_LABELS, detail.rag) if detail and detail.rag else None,
        agreed_actions=detail.agreed_actions if detail else (),
        summary=entry.summary,
        received_text=f"{when_text(entry.received_at)}, {describe_age(entry.received_at, now=now)}",
        contact=entry.contact_point.text(),
    )


def _interview(
    entry: FeedEntry, outcomes: Iterable[FeedEntry], *, now: dt.datetime
) -> ReturnInterviewDue:
    detail = entry.detail
    returned = parse_time(detail.get("ended_at"))
    due_at = parse_time(detail.get("return_interview_due_at")) or (
        returned + RETURN_INTERVIEW_WITHIN if returned else None
    )
    since = returned or entry.received_at
    done = any(
        o.linkage_key == entry.linkage_key
        and o.detail.get("kind") == _OUTCOME_KIND
        and o.occurred_at >= since
        for o in outcomes
    )
    due = describe_due(due_at, now=now) if due_at else None
    if done:
        state = "Outcome received"
    elif due is None:
        state = "Return time not shared or not recorded: no due time is set. Ask the sender."
    elif due.state.value == "overdue":
        state = f"{due.text} (was due {due.when})"
    else:
        state = f"{due.text} (by {due.when})"
    return ReturnInterviewDue(
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        child_name=entry.child_name,
        status=str(detail.get("status", "")).capitalize(),
        returned_text=when_text(returned) if returned else "Not known",
        due=due,
        done=done,
        state_text=state,
    )


def _due_order(due: DueView | None, received: dt.datetime) -> tuple[int, float]:
    # Dated rows first, soonest (most overdue) first; then undated, newest first.
    if due is None:
        return (1, -received.timestamp())
    return (0, due.due_at.timestamp())


def sent_to_me(
    entries: Iterable[FeedEntry], *, now: dt.datetime, timescales: Timescales
) -> SentToMe:
    """The two lists from the person's feed items (any types: the rest are ignored)."""
    items = list(entries)
    outcomes = [e for e in items if e.notice_type == "VCS_UPDATE"]
    decisions = [
        (_decision(e, now=now, timescales=timescales), e.received_at)
        for e in items
        if e.notice_type == "MASH_DECISION"
    ]
    interviews = [
        (_interview(e, outcomes, now=now), e.received_at)
        for e in items
        if e.notice_type == "MISSING_EPISODE" and str(e.detail.get("status")) in _BACK
    ]
    decisions.sort(key=lambda pair: _due_order(pair[0].due, pair[1]))
    interviews.sort(key=lambda pair: (pair[0].done, *_due_order(pair[0].due, pair[1])))
    return SentToMe(tuple(d for d, _ in decisions), tuple(i for i, _ in interviews))
