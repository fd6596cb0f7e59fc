"""Issue 16: immediate danger out of hours, queue order by deadline, filters, and contacts
held elsewhere. Pure functions over plain data with an injected clock (`now`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from services.console.acknowledgements import DangerAcknowledgements
from services.console.domain.deadlines import Timescales
from services.console.domain.feed import IMMEDIATE_DANGER_MARK, FeedEntry
from services.console.domain.projection import FeedProjection
from services.console.domain.urgency import (
    EmergencyDutyTeam,
    MashHours,
    Urgency,
    mash_hours_from_policy,
    out_of_hours,
)
from services.console.domain.views import (
    DangerCandidates,
    QueueFilter,
    QueueFilters,
    QueuePage,
    Status,
    age_band,
    child_view,
    danger_alerts,
    queue_page,
    triage_of,
)
from services.hubkit.settings import REPO_ROOT
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.factories import AGENCIES, NOW, decision, entry

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
RULES = json.loads((REPO_ROOT / "policies" / "safehub" / "rules" / "data.json").read_text())
HOURS = mash_hours_from_policy(RULES["mash_hours"])
EDT = EmergencyDutyTeam("Emergency duty team, Synthetic Borough", "0300 000 0007")
URGENCY = Urgency(HOURS, EDT)
DANGER_NOTE = RULES["R1"]["immediate_danger_note"]
HOLDER = {
    "role": "Named nurse for safeguarding",
    "organisation": "Synthetic NHS Trust",
    "telephone": "0300 000 0200",
    "secure_email": None,
}


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)  # Nov 2026: UK = UTC


def _feed(*items: FeedEntry) -> FeedProjection:
    projection = FeedProjection("mash-manager")
    for item in items:
        projection.apply(item)
    return projection


def _page(
    *items: FeedEntry,
    now: dt.datetime = NOW,
    show: QueueFilter = QueueFilter.AWAITING,
    filters: QueueFilters | None = None,
) -> QueuePage:
    return queue_page(
        _feed(*items),
        now=now,
        timescales=Timescales(),
        agencies=AGENCIES,
        show=show,
        filters=filters,
        limit=None,
    )


def _flag(**kw: object) -> FeedEntry:
    """A contact shared with the MASH as a flag only: no risk, no names, whom to call."""
    fields: dict[str, object] = {
        "outcome": "FLAG_ONLY",
        "source_agency": "HEALTH",
        "risk": None,
        "given_name": None,
        "family_name": None,
        "summary": None,
        "contact_point": HOLDER,
        "explanation": "Withheld because the health service is confidential; only a flag "
        "that health hold information is shared, with whom to contact.",
    }
    return entry(**{**fields, **kw})  # type: ignore[arg-type]


# ---- the MASH's hours: the policy's own -----------------------------------------------------


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        (at(18, 10), True),  # Wednesday morning
        (at(18, 8, 59), False),  # before opening
        (at(18, 17), False),  # closes at 17:00 (opens <= t < closes, as the policy)
        (at(20, 16, 15), True),  # Friday afternoon
        (at(20, 16, 30), False),  # Friday: the policy closes at 16:30
        (at(21, 11), False),  # Saturday
        (at(25, 10, month=12), False),  # Christmas Day (closed_dates)
        (dt.datetime(2026, 7, 1, 8, 30, tzinfo=UTC), True),  # 09:30 BST
        (dt.datetime(2026, 7, 1, 16, 30, tzinfo=UTC), False),  # 17:30 BST
    ],
)
def test_the_mash_is_open_in_the_policys_hours(when: dt.datetime, open_: bool) -> None:
    assert HOURS.is_open(when) is open_


def test_out_of_hours_names_the_emergency_duty_team_and_when_the_mash_opens() -> None:
    assert out_of_hours(at(18, 10), URGENCY) is None
    closed = out_of_hours(at(20, 18), URGENCY)  # Friday 18:00
    assert closed is not None
    assert closed.duty_team == EDT
    assert closed.opens_at == at(23, 9)
    assert closed.opens_text == "09:00 Mon 23 Nov"
    christmas = out_of_hours(at(24, 18, month=12), URGENCY)  # Thursday 24 Dec
    assert christmas is not None
    assert christmas.opens_at == at(29, 9, month=12)  # 25th and 28th closed, weekend


def test_hours_that_never_open_are_refused() -> None:
    with pytest.raises(ValueError, match="weekday"):
        MashHours({})
    with pytest.raises(ValueError, match="opens before it closes"):
        MashHours({0: (dt.time(17), dt.time(9))})


# ---- immediate danger ------------------------------------------------------------------------


def test_a_flag_says_immediate_danger_only_through_the_policys_note() -> None:
    # The policy adds R1's note to the explanation of every MASH recipient's decision; a flag
    # carries no risk field, so the note is all the console has. The two must not drift.
    assert IMMEDIATE_DANGER_MARK in DANGER_NOTE
    flagged = entry(outcome="FLAG_ONLY", risk=None, explanation=f"Withheld because x{DANGER_NOTE}.")
    assert flagged.immediate_danger
    assert not entry(outcome="FLAG_ONLY", risk=None).immediate_danger


def test_immediate_danger_out_of_hours_is_due_at_once_never_the_next_working_day() -> None:
    friday_night = at(20, 22)
    danger = entry(risk="HIGH", immediate_danger=True, received_at=friday_night)
    (row,) = _page(danger, now=friday_night + 10 * dt.timedelta(minutes=1)).rows
    assert row.due is not None
    assert row.due.due_at == friday_night
    assert row.due.text == "Overdue by 10m"  # never "Due in 2d 11h, by 13:00 Mon"


# ---- queue order: immediate danger, then overdue, then by due time --------------------------


def test_queue_order_is_immediate_danger_then_overdue_then_by_due_time() -> None:
    now = at(18, 10)  # Wednesday 10:00
    danger = entry(risk="LOW", immediate_danger=True, received_at=now - HOUR)
    red_now = entry(risk="HIGH", received_at=now)  # due 14:00 today
    green_overdue = entry(risk="LOW", received_at=at(12, 10))  # due Mon 16 10:00
    amber_overdue = entry(risk="MEDIUM", received_at=at(16, 12))  # due Tue 17 12:00
    amber_today = entry(risk="MEDIUM", received_at=at(17, 16))  # due Wed 15:00
    information = entry(notice_type="POLICE_INTELLIGENCE", risk="HIGH", received_at=now)
    page = _page(information, red_now, amber_today, green_overdue, danger, amber_overdue, now=now)
    assert [r.notice_id for r in page.rows] == [
        danger.notice_id,
        green_overdue.notice_id,  # longest overdue first, whatever its RAG
        amber_overdue.notice_id,
        red_now.notice_id,  # 14:00
        amber_today.notice_id,  # 15:00
    ]
    assert (page.awaiting, page.overdue) == (5, 3)  # immediate danger is overdue from arrival
    everything = _page(information, red_now, danger, show=QueueFilter.ALL, now=now)
    assert everything.rows[-1].notice_id == information.notice_id  # no deadline: last


def test_a_decided_immediate_danger_contact_no_longer_jumps_the_queue() -> None:
    danger = entry(risk="HIGH", immediate_danger=True, received_at=NOW - HOUR)
    red = entry(risk="HIGH", received_at=NOW)
    decided = decision(danger, received_at=NOW)
    rows = _page(danger, red, decided, show=QueueFilter.ALL).rows
    assert rows[0].notice_id == red.notice_id
    assert [r.notice_id for r in _page(danger, red, decided).rows] == [red.notice_id]


# ---- filters ---------------------------------------------------------------------------------


def test_filters_by_rag_agency_type_and_age_band() -> None:
    red_police = entry(risk="HIGH", source_agency="POLICE")
    amber_health = entry(risk="MEDIUM", source_agency="HEALTH", notice_type="MISSING_EPISODE")
    unrated_teen = entry(risk=None, extra={"subject": {"linkage_key": "k", "age_years": 16}})
    items = (red_police, amber_health, unrated_teen)

    def ids(filters: QueueFilters) -> set[str]:
        return {r.notice_id for r in _page(*items, filters=filters).rows}

    assert ids(QueueFilters(rag="RED")) == {red_police.notice_id}
    assert ids(QueueFilters(rag="NONE")) == {unrated_teen.notice_id}
    assert ids(QueueFilters(agency="HEALTH")) == {amber_health.notice_id}
    assert ids(QueueFilters(notice_type="MISSING_EPISODE")) == {amber_health.notice_id}
    assert ids(QueueFilters(age_band="16+")) == {unrated_teen.notice_id}
    assert ids(QueueFilters(age_band="5-10")) == {red_police.notice_id, amber_health.notice_id}
    assert ids(QueueFilters(rag="RED", agency="HEALTH")) == set()
    filtered = _page(*items, filters=QueueFilters(rag="RED"))
    assert (filtered.total, filtered.awaiting) == (1, 3)  # counts stay the whole feed's
    # The form offers what is in the feed, labelled.
    assert dict(filtered.options.agencies) == {"POLICE": "Police", "HEALTH": "Health"}
    assert dict(filtered.options.notice_types) == {
        "SAFEGUARDING_CONTACT": "Safeguarding contact",
        "MISSING_EPISODE": "Missing episode",
    }
    assert QueueFilters(rag="RED", age_band="0-4").query() == {"rag": "RED", "age": "0-4"}


def test_age_bands() -> None:
    assert [age_band(a) for a in (None, 0, 4, 5, 10, 11, 15, 16, 17)] == [
        "unknown",
        "0-4",
        "0-4",
        "5-10",
        "5-10",
        "11-15",
        "11-15",
        "16+",
        "16+",
    ]
    withheld = entry(extra={"subject": {"linkage_key": "k"}})
    unknown = _page(withheld, filters=QueueFilters(age_band="unknown"))
    assert [r.notice_id for r in unknown.rows] == [withheld.notice_id]


# ---- FLAG_ONLY: held elsewhere ----------------------------------------------------------------


def test_a_flag_leaves_the_decision_queue_for_the_held_elsewhere_list() -> None:
    flag = _flag()
    contact = entry(risk="MEDIUM")
    feed = _feed(flag, contact)
    assert triage_of(flag, feed, Timescales()).status is Status.HELD_ELSEWHERE
    awaiting = _page(flag, contact)
    assert [r.notice_id for r in awaiting.rows] == [contact.notice_id]
    assert (awaiting.awaiting, awaiting.held) == (1, 1)
    (held,) = _page(flag, contact, show=QueueFilter.HELD).rows
    assert held.notice_id == flag.notice_id
    assert held.held_elsewhere
    assert held.due is None  # no deadline: nobody can decide on a flag
    assert held.contact_text == "Named nurse for safeguarding, Synthetic NHS Trust, 0300 000 0200"
    assert held.child_text == "Name not shared with you"
    # Nor is it offered for a decision on the child's page.
    view = child_view(feed.for_child(flag.linkage_key), feed, timescales=Timescales(), agencies={})
    assert [notice_id for notice_id, _ in view.undecided] == [contact.notice_id]


# ---- alerts ------------------------------------------------------------------------------------


def _alerts(feed: FeedProjection, acknowledged: set[str], now: dt.datetime) -> list[str]:
    found = danger_alerts(feed, feed, acknowledged=acknowledged, now=now, timescales=Timescales())
    return [a.notice_id for a in found.shown]


def test_an_alert_stays_until_acknowledged_or_decided() -> None:
    night = at(21, 2)  # Saturday 02:00
    danger = entry(risk="HIGH", immediate_danger=True, received_at=night)
    later = entry(risk="HIGH", immediate_danger=True, received_at=night + HOUR)
    plain = entry(risk="HIGH", received_at=night)
    information = entry(notice_type="POLICE_INTELLIGENCE", immediate_danger=True)
    feed = _feed(later, danger, plain, information)
    now = night + 2 * HOUR
    assert _alerts(feed, set(), now) == [later.notice_id, danger.notice_id]  # newest first
    assert _alerts(feed, {danger.notice_id}, now) == [later.notice_id]
    feed.apply(decision(later, received_at=now))
    assert _alerts(feed, {danger.notice_id}, now) == []
    (alert,) = danger_alerts(feed, feed, acknowledged=set(), now=now, timescales=Timescales()).shown
    assert alert.due_text == "Overdue by 2h"
    assert alert.text == "Safeguarding contact from Police, received 2h ago"
    assert alert.held_by is None


def test_a_flag_in_immediate_danger_alerts_with_whom_to_call() -> None:
    flag = _flag(explanation=f"Withheld because x; only a flag{DANGER_NOTE}.")
    feed = _feed(flag)
    (alert,) = danger_alerts(feed, feed, acknowledged=set(), now=NOW, timescales=Timescales()).shown
    assert alert.held_by == "Named nurse for safeguarding, Synthetic NHS Trust, 0300 000 0200"
    assert alert.due_text == "Due now"
    (row,) = _page(flag, show=QueueFilter.HELD).rows
    assert row.immediate_danger


def test_acknowledgements_are_per_person_and_survive_a_restart(tmp_path: Path) -> None:
    memory = DangerAcknowledgements()
    memory.acknowledge("u-1", "n-1", at=NOW)
    assert (memory.of("u-1"), memory.of("u-2")) == (frozenset({"n-1"}), frozenset())
    path = tmp_path / "console.sqlite"
    database = PrivateSqlite(path)
    stored = DangerAcknowledgements(database)
    stored.acknowledge("u-1", "n-1", at=NOW)
    stored.acknowledge("u-1", "n-1", at=NOW + HOUR)  # twice: one row, the first time
    database.close()
    reopened = PrivateSqlite(path)
    assert DangerAcknowledgements(reopened).of("u-1") == frozenset({"n-1"})
    assert DangerAcknowledgements(reopened).of("u-2") == frozenset()
    reopened.close()


def test_a_backlog_never_hides_the_contact_in_danger_that_has_just_arrived() -> None:
    backlog = [
        entry(risk="HIGH", immediate_danger=True, received_at=NOW - dt.timedelta(days=d))
        for d in range(1, 9)
    ]
    fresh = entry(risk="HIGH", immediate_danger=True, received_at=NOW)
    feed = _feed(*backlog, fresh)
    page = queue_page(feed, now=NOW, timescales=Timescales(), agencies=AGENCIES, limit=3)
    assert page.rows[0].notice_id == fresh.notice_id
    shown = danger_alerts(feed, feed, acknowledged=set(), now=NOW, timescales=Timescales(), limit=5)
    assert shown.shown[0].notice_id == fresh.notice_id
    assert (len(shown.shown), shown.total, shown.more) == (5, 9, 4)


def test_danger_candidates_are_reread_only_when_the_feed_changes_size() -> None:
    danger = entry(risk="HIGH", immediate_danger=True)
    feed = _feed(danger, entry(risk="LOW"))
    candidates = DangerCandidates()
    assert [e.notice_id for e in candidates.of(feed)] == [danger.notice_id]
    another = entry(risk="HIGH", immediate_danger=True)
    feed.apply(another)
    assert {e.notice_id for e in candidates.of(feed)} == {danger.notice_id, another.notice_id}
