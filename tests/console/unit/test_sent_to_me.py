"""'Sent to me' (issue 16, item 6): what a social worker is asked to act on and by when, and
return home interviews due 72 hours after the return, from their own feed only."""

from __future__ import annotations

import datetime as dt

from services.console.domain.deadlines import DueState, DueView, Timescales
from services.console.domain.feed import FeedEntry
from services.console.domain.views.sent_to_me import DecisionSent, ReturnInterviewDue, sent_to_me
from tests.console.factories import NOW, decision, entry

LA = "responsible-la"


def _due(row: DecisionSent | ReturnInterviewDue) -> DueView:
    assert row.due is not None
    return row.due


TIMESCALES = Timescales()


def _returned(hours_ago: float | None, **detail: object) -> FeedEntry:
    ended = None if hours_ago is None else (NOW - dt.timedelta(hours=hours_ago)).isoformat()
    return entry(
        notice_type="MISSING_EPISODE",
        subscriber_id=LA,
        detail={"status": "RETURNED", **({"ended_at": ended} if ended else {}), **detail},
    )


def test_each_outcome_says_what_is_asked_and_by_when() -> None:
    protect = decision(outcome="IMMEDIATE_PROTECTION", subscriber_id=LA, received_at=NOW)
    s47 = decision(outcome="S47_STRATEGY_DISCUSSION", subscriber_id=LA, received_at=NOW)
    s17 = decision(outcome="S17_ASSESSMENT", subscriber_id=LA, received_at=NOW)
    open_case = decision(outcome="OPEN_CASE", subscriber_id=LA, received_at=NOW)
    view = sent_to_me([open_case, s17, s47, protect], now=NOW, timescales=TIMESCALES)
    rows = {d.notice_id: d for d in view.decisions}
    assert _due(rows[protect.notice_id]).text == "Due now"
    # Wednesday 10:00: the next working day's 10:00 for s47; 45 working days for s17.
    assert _due(rows[s47.notice_id]).due_at == NOW + dt.timedelta(days=1)
    assert _due(rows[s17.notice_id]).due_at.date() == dt.date(2027, 1, 20)
    assert rows[open_case.notice_id].due is None
    assert rows[s47.notice_id].asked.startswith("Convene a strategy discussion (s47)")
    # Soonest first; no timescale last.
    assert [d.notice_id for d in view.decisions] == [
        protect.notice_id,
        s47.notice_id,
        s17.notice_id,
        open_case.notice_id,
    ]


def test_a_return_interview_is_due_72_hours_after_the_return_and_nothing_is_invented() -> None:
    late, fresh, unknown = _returned(80), _returned(2), _returned(None)
    stated = _returned(10, return_interview_due_at=(NOW + dt.timedelta(hours=1)).isoformat())
    view = sent_to_me([unknown, fresh, late, stated], now=NOW, timescales=TIMESCALES)
    rows = {i.notice_id: i for i in view.interviews}
    assert _due(rows[late.notice_id]).state is DueState.OVERDUE
    assert rows[late.notice_id].state_text.startswith("Overdue by 8h (was due")
    assert rows[fresh.notice_id].state_text.startswith("Due in 2d 22h")
    assert rows[stated.notice_id].state_text.startswith("Due in 1h")  # as the notice says
    assert rows[unknown.notice_id].due is None
    assert "no due time is set" in rows[unknown.notice_id].state_text
    assert [i.notice_id for i in view.interviews][:3] == [
        late.notice_id,
        stated.notice_id,
        fresh.notice_id,
    ]
    assert view.overdue == 1


def test_an_interview_outcome_marks_it_done_and_a_reported_episode_is_not_listed() -> None:
    back = _returned(80)
    outcome = entry(
        notice_type="VCS_UPDATE",
        subscriber_id=LA,
        linkage_key=back.linkage_key,
        detail={"kind": "RETURN_INTERVIEW_OUTCOME"},
        created_at=NOW - dt.timedelta(hours=20),
    )
    still_missing = entry(
        notice_type="MISSING_EPISODE", subscriber_id=LA, detail={"status": "REPORTED"}
    )
    view = sent_to_me([back, outcome, still_missing], now=NOW, timescales=TIMESCALES)
    (row,) = view.interviews
    assert row.done
    assert row.state_text == "Outcome received"
    assert view.overdue == 0
