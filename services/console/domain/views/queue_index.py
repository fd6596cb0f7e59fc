"""Where an item sits in the queue, worked out once when it arrives (or when a decision
changes its triage), so a stored projection can keep the queue as an index and serve a page
without looking at every item (issue 16: a year of a large MASH is a million items).

`queue_place` is the queue's order and filters as plain values, written once: the stored
projection keeps places as an index (SQL orders them), and `queue.queue_page`'s scan over an
in-memory projection sorts the same places; tests/console/unit/test_projection_store.py
checks the two agree on the same items. Nothing in a
place depends on the clock (a deadline is fixed when the item arrives; whether it is overdue
is asked at request time), only on the item, the decisions covering it and the local
timescales: `rules_fingerprint` names those, and a stored queue built under other
timescales (or an older `PLACE_VERSION`) is rebuilt from the feed.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from services.console.domain.deadlines import Timescales
from services.console.domain.feed import FeedEntry
from services.console.domain.views.triage import Status, Triage, decision_due_at

__all__ = [
    "NOT_RATED",
    "NO_DEADLINE_MS",
    "PLACE_VERSION",
    "QueueCursor",
    "QueueIndex",
    "QueuePlace",
    "QueueSlice",
    "age_band",
    "queue_place",
    "rules_fingerprint",
]

PLACE_VERSION = 5
"""Raise when `queue_place` changes meaning: stored queues are then rebuilt. 4: feeds carry
withdrawals (issue 18), which a console before them skipped past; rebuilding reads them. 5:
items are kept sealed under their child's data key (projection_store.py): an older store's
clear items are dropped and read again from the feed."""
NO_DEADLINE_MS = 2**62
"""Sorts after every real deadline (the scan's datetime.max)."""
NOT_RATED = "NONE"
UNKNOWN_AGE = "unknown"
_PRIORITY = {"RED": 1, None: 2, "AMBER": 2, "GREEN": 3}


def age_band(age: int | None) -> str:
    if age is None or age < 0:
        return UNKNOWN_AGE
    if age < 5:
        return "0-4"
    if age < 11:
        return "5-10"
    if age < 16:
        return "11-15"
    return "16+"


def epoch_ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """Queue order is (urgent, due_ms, priority, -received_ms, notice_id); the rest filters.
    `due_ms` orders, it is not the deadline: an item in immediate danger has none here."""

    status: str
    urgent: int
    """0: immediate danger still to act on (first of all); 1: anything else."""
    due_ms: int
    priority: int
    received_ms: int
    rag: str
    agency: str
    notice_type: str
    age_band: str


@dataclass(frozen=True, slots=True)
class QueueCursor:
    """A position in queue order: the order key of one row (keyset paging). A "next page"
    link carries the last row's cursor and a "previous page" link the first's, so a page
    deep in a million items is found by the index in one step instead of by counting past
    every row before it. Opaque in a URL, and nothing personal: ranks, times, a notice id."""

    urgent: int
    due_ms: int
    priority: int
    received_rank: int
    """Minus the received time (ms): newest first as an ascending key."""
    notice_id: str

    def key(self) -> tuple[int, int, int, int, str]:
        return (self.urgent, self.due_ms, self.priority, self.received_rank, self.notice_id)

    def encode(self) -> str:
        return ".".join(str(part) for part in self.key())

    @staticmethod
    def decode(text: str | None) -> QueueCursor | None:
        """The cursor a link carried; None for anything malformed (the page starts over)."""
        if not text or len(text) > 160:
            return None
        parts = text.split(".")
        if len(parts) != 5 or not _NOTICE_ID.fullmatch(parts[4]):
            return None
        try:
            urgent, due_ms, priority, rank = (int(p) for p in parts[:4])
        except ValueError:
            return None
        return QueueCursor(urgent, due_ms, priority, rank, parts[4])

    @staticmethod
    def of(place: QueuePlace, notice_id: str) -> QueueCursor:
        return QueueCursor(
            place.urgent, place.due_ms, place.priority, -place.received_ms, notice_id
        )


_NOTICE_ID = re.compile(r"[0-9A-Za-z:_-]{1,100}")


def queue_place(entry: FeedEntry, triage: Triage, timescales: Timescales) -> QueuePlace:
    status = triage.status
    due_at = decision_due_at(entry, triage, timescales)
    rag_code = triage.rag.code if triage.rag else None
    urgent = entry.immediate_danger and status in (Status.AWAITING, Status.HELD_ELSEWHERE)
    return QueuePlace(
        status=status.value,
        urgent=0 if urgent else 1,
        # Immediate danger: all due at once, so no deadline to order by (newest first).
        due_ms=NO_DEADLINE_MS if urgent or due_at is None else epoch_ms(due_at),
        priority=0 if entry.immediate_danger else _PRIORITY.get(rag_code, 2),
        received_ms=epoch_ms(entry.received_at),
        rag=rag_code or NOT_RATED,
        agency=entry.source_agency,
        notice_type=entry.notice_type,
        age_band=age_band(entry.child_age),
    )


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda i: str(i[0]))}
    if isinstance(value, frozenset | set):
        return sorted(str(_canonical(v)) for v in value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return str(value)
    return value


def rules_fingerprint(timescales: Timescales) -> str:
    """What stored places were worked out under (stable across processes: sets sorted)."""
    text = json.dumps(
        {"version": PLACE_VERSION, "timescales": _canonical(timescales)}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class QueueSlice:
    entries: tuple[FeedEntry, ...]
    first: QueueCursor | None
    """The first entry's position (for a "previous page" link); None for an empty slice."""
    last: QueueCursor | None
    total: int
    """How many items the list and filters matched (all pages)."""
    awaiting: int
    overdue: int
    held: int
    agencies: frozenset[str]
    """Source agencies among the listed items (what the filter form offers)."""
    notice_types: frozenset[str]


@runtime_checkable
class QueueIndex(Protocol):
    """A projection that keeps the queue as an index (services/console/projection_store.py)."""

    def queue_slice(
        self,
        *,
        now: dt.datetime,
        statuses: frozenset[str] | None,
        rag: str | None,
        agency: str | None,
        notice_type: str | None,
        age_band: str | None,
        offset: int,
        limit: int | None,
        after: QueueCursor | None = None,
        before: QueueCursor | None = None,
    ) -> QueueSlice:
        """One page in queue order. `statuses`: the listed statuses (None: every item).
        `after` / `before`: the page right after / before that position (`offset` is then
        ignored)."""
        ...

    def in_danger(self) -> list[FeedEntry]:
        """Items in immediate danger still to act on (awaiting a decision, or held
        elsewhere): what the alerts on every page are made of."""
        ...
