"""View models: what the queue, an item and a child's chronology show. Pure functions of the
projection, the clock value and the local timescales; templates only lay them out.

triage       an item's triage status and RAG (suggested or confirmed, R8), on every page
fields       how values read: labelled field rows, formatted values, times, agencies
sharing      what was withheld and whom to ask, why it was shared, its marking
queue        the queue's rows: immediate danger, then by deadline; filters; held elsewhere
alerts       immediate-danger alerts a person has not acknowledged, on every page
item         one item's page
chronology   a child's page: header and chronology across agencies

What the pages import is re-exported here.
"""

from __future__ import annotations

from services.console.domain.views.alerts import (
    DangerAlert,
    DangerAlerts,
    DangerCandidates,
    danger_alerts,
)
from services.console.domain.views.chronology import (
    ChildHeader,
    ChildView,
    ChronologyEntry,
    child_view,
)
from services.console.domain.views.fields import FieldRow, agency_text, field_rows
from services.console.domain.views.item import ItemView, item_view
from services.console.domain.views.queue import (
    AGE_BANDS,
    FilterOptions,
    QueueFilter,
    QueueFilters,
    QueuePage,
    QueueRow,
    age_band,
    queue_page,
    queue_row,
    queue_rows,
)
from services.console.domain.views.queue_index import QueueCursor
from services.console.domain.views.sharing import Marking, WhyView, WithheldView, marking_of
from services.console.domain.views.triage import (
    RagView,
    Status,
    Triage,
    suggested_rag,
    suggestion_reason,
    treated_as_missing,
    triage_of,
)

__all__ = [
    "AGE_BANDS",
    "ChildHeader",
    "ChildView",
    "ChronologyEntry",
    "DangerAlert",
    "DangerAlerts",
    "DangerCandidates",
    "FieldRow",
    "FilterOptions",
    "ItemView",
    "Marking",
    "QueueCursor",
    "QueueFilter",
    "QueueFilters",
    "QueuePage",
    "QueueRow",
    "RagView",
    "Status",
    "Triage",
    "WhyView",
    "WithheldView",
    "age_band",
    "agency_text",
    "child_view",
    "danger_alerts",
    "field_rows",
    "item_view",
    "marking_of",
    "queue_page",
    "queue_row",
    "queue_rows",
    "suggested_rag",
    "suggestion_reason",
    "treated_as_missing",
    "triage_of",
]
