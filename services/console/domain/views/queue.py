"""The queue: one row per item, a page at a time, filtered as the person asks.

Queue order (issue 16): contacts in immediate danger first (each due the moment it arrived,
deadlines.decision_due), newest first among them: all are overdue from arrival, and the one
that has just arrived is the one nobody has seen, which a backlog must not push off the first
page. Then the rest by when the decision is due, so overdue contacts come next (longest
overdue first) and then the one due soonest; items with no deadline (for
information, decided) after them, highest risk first (Red, Amber, unrated, Green: withheld
risk never sinks an item), then newest. Contacts shared only as a flag (FLAG_ONLY) are not in
the decision queue at all: nobody can decide on a flag, so they are listed apart, "held
elsewhere", with whom to call and no deadline.

Filters (GET parameters, so a filtered queue can be bookmarked and a form works without
script): RAG (confirmed or suggested; "none" for not rated), source agency, notice type and
the child's age band ("unknown" when the age is not shared with this reader).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.console.domain.deadlines import DueView, Timescales, describe_age, describe_due
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import (
    AGENCY_LABELS,
    NOTICE_TYPE_LABELS,
    SHARING_LABELS,
    concern_label,
    label,
)
from services.console.domain.projection import Projection
from services.console.domain.views.fields import agency_text
from services.console.domain.views.queue_index import (
    NOT_RATED,
    UNKNOWN_AGE,
    QueueCursor,
    QueueIndex,
    QueuePlace,
    age_band,
    epoch_ms,
    queue_place,
)
from services.console.domain.views.triage import RagView, Status, decision_due_at, triage_of

__all__ = [
    "AGE_BANDS",
    "FilterOptions",
    "QueueFilter",
    "QueueFilters",
    "QueuePage",
    "QueueRow",
    "age_band",
    "queue_page",
    "queue_row",
    "queue_rows",
]


class QueueFilter(StrEnum):
    AWAITING = "awaiting"
    ALL = "all"
    HELD = "held"
    """Contacts shared only as a flag: held elsewhere, call the holder."""


AGE_BANDS: Mapping[str, str] = {
    "0-4": "Under 5",
    "5-10": "5 to 10",
    "11-15": "11 to 15",
    "16+": "16 and over",
    UNKNOWN_AGE: "Age not shared",
}


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """What the person narrowed the queue to; None: any. Unknown values match nothing."""

    rag: str | None = None
    """RED, AMBER, GREEN or NONE (not rated)."""
    agency: str | None = None
    notice_type: str | None = None
    age_band: str | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.rag, self.agency, self.notice_type, self.age_band))

    def matches(self, place: QueuePlace) -> bool:
        return (
            (self.rag is None or self.rag == place.rag)
            and (self.agency is None or self.agency == place.agency)
            and (self.notice_type is None or self.notice_type == place.notice_type)
            and (self.age_band is None or self.age_band == place.age_band)
        )

    def query(self) -> dict[str, str]:
        """As GET parameters, for links that keep the filters (pagination)."""
        pairs = {
            "rag": self.rag,
            "agency": self.agency,
            "type": self.notice_type,
            "age": self.age_band,
        }
        return {k: v for k, v in pairs.items() if v is not None}


@dataclass(frozen=True, slots=True)
class FilterOptions:
    """What the filter form offers: the values present in this person's feed, labelled."""

    agencies: tuple[tuple[str, str], ...]
    notice_types: tuple[tuple[str, str], ...]
    rags: tuple[tuple[str, str], ...] = (
        ("RED", "Red"),
        ("AMBER", "Amber"),
        ("GREEN", "Green"),
        (NOT_RATED, "Not rated"),
    )
    age_bands: tuple[tuple[str, str], ...] = tuple(AGE_BANDS.items())


@dataclass(frozen=True, slots=True)
class QueueRow:
    notice_id: str
    linkage_key: str
    """For the edge to mint the session's opaque child handle; never rendered."""
    type_label: str
    child_name: str | None
    child_age: int | None
    concerns: tuple[str, ...]
    agency: str
    agency_short: str
    rag: RagView | None
    immediate_danger: bool
    priority: int
    received_at: dt.datetime
    received_text: str
    due: DueView | None
    status: Status
    status_text: str
    sharing: str
    sharing_text: str
    contact_text: str
    """Who holds it and how to reach them: what a flag (held elsewhere) says to call."""

    @property
    def held_elsewhere(self) -> bool:
        return self.status is Status.HELD_ELSEWHERE

    @property
    def child_text(self) -> str:
        if self.child_name is None:
            return "Name not shared with you"
        return (
            f"{self.child_name}, {self.child_age}"
            if self.child_age is not None
            else (self.child_name)
        )

    @property
    def announcement(self) -> str:
        """What a screen reader hears when it arrives: no names, nothing identifying."""
        rag = f", {self.rag.text}" if self.rag else ""
        return f"New: {self.type_label} from {self.agency_short}{rag}."


def queue_row(
    entry: FeedEntry,
    projection: Projection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
) -> QueueRow:
    triage = triage_of(entry, projection, timescales)
    due_at = decision_due_at(entry, triage, timescales)
    return QueueRow(
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        type_label=label(NOTICE_TYPE_LABELS, entry.notice_type),
        child_name=entry.child_name,
        child_age=entry.child_age,
        concerns=tuple(concern_label(c.code, c.census_factor) for c in entry.concerns),
        agency=agency_text(entry.source_agency, agencies),
        agency_short=label(AGENCY_LABELS, entry.source_agency),
        rag=triage.rag,
        immediate_danger=entry.immediate_danger,
        priority=queue_place(entry, triage, timescales).priority,
        received_at=entry.received_at,
        received_text=describe_age(entry.received_at, now=now),
        due=describe_due(due_at, now=now) if due_at else None,
        status=triage.status,
        status_text=triage.status_text,
        sharing=entry.outcome,
        sharing_text=label(SHARING_LABELS, entry.outcome),
        contact_text=entry.contact_point.text(),
    )


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: tuple[QueueRow, ...]
    total: int
    """How many items the list and filters matched (all pages)."""
    awaiting: int
    """How many items in the whole feed await a decision."""
    overdue: int = 0
    """How many of those are past their deadline (immediate danger is from arrival)."""
    held: int = 0
    """How many contacts in the whole feed are held elsewhere (shared as a flag only)."""
    options: FilterOptions = FilterOptions((), ())
    first: QueueCursor | None = None
    """Where the page starts in queue order (a "previous page" link's cursor)."""
    last: QueueCursor | None = None
    """Where it ends (a "next page" link's cursor)."""


def queue_rows(
    projection: Projection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
    show: QueueFilter = QueueFilter.AWAITING,
    filters: QueueFilters | None = None,
) -> list[QueueRow]:
    """The whole queue, in queue order."""
    page = queue_page(
        projection,
        now=now,
        timescales=timescales,
        agencies=agencies,
        show=show,
        filters=filters,
        limit=None,
    )
    return list(page.rows)


_LISTED = {
    QueueFilter.AWAITING: frozenset({Status.AWAITING}),
    QueueFilter.HELD: frozenset({Status.HELD_ELSEWHERE}),
}
_Rank = tuple[int, int, int, int, str]
"""A QueuePlace's order: (immediate danger first, deadline, risk priority, newest first,
notice id)."""


def queue_page(
    projection: Projection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
    show: QueueFilter = QueueFilter.AWAITING,
    filters: QueueFilters | None = None,
    offset: int = 0,
    limit: int | None = 50,
    after: QueueCursor | None = None,
    before: QueueCursor | None = None,
) -> QueuePage:
    """One page of the queue. Ordering needs only each item's triage status, deadline and
    priority (deadlines are cached: they never change); the words are worked out for the
    rows on the page alone, so a feed of thousands stays quick to re-render on every live
    update."""
    wanted = filters or QueueFilters()
    listed = _LISTED.get(show)
    if isinstance(projection, QueueIndex):  # the stored projection: a page off its index
        found = projection.queue_slice(
            now=now,
            statuses=None if listed is None else frozenset(s.value for s in listed),
            rag=wanted.rag,
            agency=wanted.agency,
            notice_type=wanted.notice_type,
            age_band=wanted.age_band,
            offset=offset,
            limit=limit,
            after=after,
            before=before,
        )
        return QueuePage(
            rows=tuple(
                queue_row(e, projection, now=now, timescales=timescales, agencies=agencies)
                for e in found.entries
            ),
            total=found.total,
            awaiting=found.awaiting,
            overdue=found.overdue,
            held=found.held,
            options=_options(found.agencies, found.notice_types),
            first=found.first,
            last=found.last,
        )
    # The in-memory projection: the same places the stored queue keeps, worked out here.
    ranked: list[tuple[_Rank, FeedEntry]] = []
    awaiting = overdue = held = 0
    now_ms = epoch_ms(now)
    agencies_seen: set[str] = set()
    types_seen: set[str] = set()
    for entry in projection:
        place = queue_place(entry, triage_of(entry, projection, timescales), timescales)
        if place.status == Status.AWAITING:
            awaiting += 1
            # Immediate danger is overdue from arrival (its place has no deadline).
            if place.urgent == 0 or place.due_ms <= now_ms:
                overdue += 1
        elif place.status == Status.HELD_ELSEWHERE:
            held += 1
        if listed is not None and place.status not in listed:
            continue
        agencies_seen.add(place.agency)
        types_seen.add(place.notice_type)
        if not wanted.matches(place):
            continue
        ranked.append((QueueCursor.of(place, entry.notice_id).key(), entry))
    ranked.sort(key=lambda r: r[0])
    if after is not None:  # the page right after that position
        ranked_after = [r for r in ranked if r[0] > after.key()]
        chosen = ranked_after if limit is None else ranked_after[:limit]
    elif before is not None:  # the page right before it
        ranked_before = [r for r in ranked if r[0] < before.key()]
        chosen = ranked_before if limit is None else ranked_before[-limit:]
    else:
        chosen = ranked[offset:] if limit is None else ranked[offset : offset + limit]
    rows = tuple(
        queue_row(e, projection, now=now, timescales=timescales, agencies=agencies)
        for _, e in chosen
    )
    options = _options(agencies_seen, types_seen)
    return QueuePage(
        rows=rows,
        total=len(ranked),
        awaiting=awaiting,
        overdue=overdue,
        held=held,
        options=options,
        first=QueueCursor(*chosen[0][0]) if chosen else None,
        last=QueueCursor(*chosen[-1][0]) if chosen else None,
    )


def _options(agencies_seen: Iterable[str], types_seen: Iterable[str]) -> FilterOptions:
    return FilterOptions(
        agencies=tuple(
            sorted(((a, label(AGENCY_LABELS, a)) for a in agencies_seen), key=lambda o: o[1])
        ),
        notice_types=tuple(
            sorted(((t, label(NOTICE_TYPE_LABELS, t)) for t in types_seen), key=lambda o: o[1])
        ),
    )
