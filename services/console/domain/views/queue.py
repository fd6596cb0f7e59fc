"""The queue: one row per item, a page at a time.

Queue order: highest risk first (immediate danger, then Red, Amber, unrated, Green), then
newest first. Unrated sits with Amber so that withheld risk never sinks an item. A contact
in immediate danger is also due at once (deadlines.decision_due), not within a working day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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
from services.console.domain.projection import FeedProjection
from services.console.domain.views.fields import agency_text
from services.console.domain.views.triage import RagView, Status, decision_due_at, triage_of

__all__ = ["QueueFilter", "QueuePage", "QueueRow", "queue_page", "queue_row", "queue_rows"]


class QueueFilter(StrEnum):
    AWAITING = "awaiting"
    ALL = "all"


_PRIORITY = {"RED": 1, None: 2, "AMBER": 2, "GREEN": 3}


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
    projection: FeedProjection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
) -> QueueRow:
    triage = triage_of(entry, projection, timescales)
    rag_code = triage.rag.code if triage.rag else None
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
        priority=0 if entry.immediate_danger else _PRIORITY.get(rag_code, 2),
        received_at=entry.received_at,
        received_text=describe_age(entry.received_at, now=now),
        due=describe_due(due_at, now=now) if due_at else None,
        status=triage.status,
        status_text=triage.status_text,
        sharing=entry.outcome,
        sharing_text=label(SHARING_LABELS, entry.outcome),
    )


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: tuple[QueueRow, ...]
    total: int
    """How many items the filter matched (all pages)."""
    awaiting: int
    """How many items in the whole feed await a decision."""


def queue_rows(
    projection: FeedProjection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
    show: QueueFilter = QueueFilter.AWAITING,
) -> list[QueueRow]:
    """The whole queue, highest risk first, then newest first."""
    page = queue_page(
        projection, now=now, timescales=timescales, agencies=agencies, show=show, limit=None
    )
    return list(page.rows)


def queue_page(
    projection: FeedProjection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
    show: QueueFilter = QueueFilter.AWAITING,
    offset: int = 0,
    limit: int | None = 50,
) -> QueuePage:
    """One page of the queue. Ordering needs only each item's triage status and priority;
    the words and deadlines are worked out for the rows on the page alone, so a feed of
    thousands stays quick to re-render on every live update."""
    ranked: list[tuple[int, float, str, FeedEntry]] = []
    awaiting = 0
    for entry in projection:
        triage = triage_of(entry, projection, timescales)
        if triage.status is Status.AWAITING:
            awaiting += 1
        elif show is QueueFilter.AWAITING:
            continue
        rag_code = triage.rag.code if triage.rag else None
        priority = 0 if entry.immediate_danger else _PRIORITY.get(rag_code, 2)
        ranked.append((priority, -entry.received_at.timestamp(), entry.notice_id, entry))
    ranked.sort(key=lambda r: r[:3])
    chosen = ranked[offset:] if limit is None else ranked[offset : offset + limit]
    rows = tuple(
        queue_row(e, projection, now=now, timescales=timescales, agencies=agencies)
        for *_, e in chosen
    )
    return QueuePage(rows=rows, total=len(ranked), awaiting=awaiting)
