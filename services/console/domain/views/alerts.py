"""Immediate-danger alerts: what every page shows a MASH role until it is dealt with.

A contact in immediate danger (the source's risk field, or for a flag the policy's note)
that still awaits a decision, or is held elsewhere, is an alert for every person in the MASH
whose feed has it, on every page, until that person acknowledges it or the MASH decides it.
Acknowledging says "I have seen this and am acting"; it is per person (each colleague who
opens the console still sees it) and does not replace the decision. Out of hours the page
also names the emergency duty team (domain/urgency.py).

Newest first: every one of them is overdue from arrival, and the one that has just arrived is
the one nobody has seen yet; a backlog of older ones must not push it out of sight.

Names and content stay off the alert: it says what arrived, from whom and when, and links
to the notice (the page it opens is access-checked as any other).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterable
from dataclasses import dataclass

from services.console.domain.deadlines import Timescales, describe_age, describe_due
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import AGENCY_LABELS, NOTICE_TYPE_LABELS, label
from services.console.domain.projection import CoveringDecisions, Projection
from services.console.domain.views.triage import Status, triage_of

__all__ = ["DangerAlert", "DangerAlerts", "DangerCandidates", "danger_alerts"]


@dataclass(frozen=True, slots=True)
class DangerAlert:
    notice_id: str
    type_label: str
    agency_short: str
    received_at: dt.datetime
    received_text: str
    due_text: str
    """'Due now' or 'Overdue by 12m': immediate danger is due on arrival."""
    held_by: str | None
    """For a flag: who holds the content and how to reach them (call them now)."""

    @property
    def text(self) -> str:
        return f"{self.type_label} from {self.agency_short}, received {self.received_text}"


@dataclass(frozen=True, slots=True)
class DangerAlerts:
    shown: tuple[DangerAlert, ...]
    """The newest, up to the limit asked for."""
    total: int

    def __bool__(self) -> bool:
        return self.total > 0

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def _alert(entry: FeedEntry, *, held: bool, now: dt.datetime) -> DangerAlert:
    return DangerAlert(
        notice_id=entry.notice_id,
        type_label=label(NOTICE_TYPE_LABELS, entry.notice_type),
        agency_short=label(AGENCY_LABELS, entry.source_agency),
        received_at=entry.received_at,
        received_text=describe_age(entry.received_at, now=now),
        due_text=describe_due(entry.received_at, now=now).text,
        held_by=entry.contact_point.text() if held else None,
    )


def danger_alerts(
    entries: Iterable[FeedEntry],
    projection: CoveringDecisions,
    *,
    acknowledged: Container[str],
    now: dt.datetime,
    timescales: Timescales,
    limit: int | None = None,
) -> DangerAlerts:
    """The person's open alerts, newest first (`limit` of them worded). `entries` are the
    candidates: the feed, or the part of it known to say immediate danger."""
    open_: list[tuple[FeedEntry, bool]] = []
    for entry in entries:
        if not entry.immediate_danger or entry.notice_id in acknowledged:
            continue
        status = triage_of(entry, projection, timescales).status
        if status not in (Status.AWAITING, Status.HELD_ELSEWHERE):
            continue  # decided (acted on), or information rather than a contact
        open_.append((entry, status is Status.HELD_ELSEWHERE))
    open_.sort(key=lambda pair: (pair[0].received_at, pair[0].notice_id), reverse=True)
    chosen = open_ if limit is None else open_[:limit]
    shown = tuple(_alert(entry, held=held, now=now) for entry, held in chosen)
    return DangerAlerts(shown, len(open_))


class DangerCandidates:
    """Each feed's items that say immediate danger, re-read only when the feed has grown or
    shrunk, so that every page can show the alerts without going through the whole feed.
    (An item re-decided in place keeps its place here; whether it is still open is asked of
    the projection on every page.)"""

    def __init__(self) -> None:
        self._by_feed: dict[str, tuple[int, tuple[FeedEntry, ...]]] = {}

    def of(self, projection: Projection) -> tuple[FeedEntry, ...]:
        size = len(projection)
        known = self._by_feed.get(projection.subscriber_id)
        if known is not None and known[0] == size:
            return known[1]
        found = tuple(e for e in projection if e.immediate_danger)
        self._by_feed[projection.subscriber_id] = (size, found)
        return found
