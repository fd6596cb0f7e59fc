"""One item's page: the notice as this reader may see it, its triage, what was withheld and
why it was shared, and the decisions covering it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from services.console.domain.deadlines import DueView, Timescales, describe_age, describe_due
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import (
    MASH_OUTCOME_LABELS,
    NOTICE_TYPE_LABELS,
    RAG_LABELS,
    label,
)
from services.console.domain.projection import Projection
from services.console.domain.provenance import ProvenanceNotice, provenance_notice
from services.console.domain.views.fields import (
    FieldRow,
    agency_text,
    field_rows,
    r8_notes,
    when_text,
)
from services.console.domain.views.sharing import (
    Marking,
    WhyView,
    WithheldView,
    handling_conditions,
    marking_of,
    why_view,
    withheld_view,
)
from services.console.domain.views.triage import Triage, decision_due_at, triage_of

__all__ = ["ItemView", "item_view"]


@dataclass(frozen=True, slots=True)
class ItemView:
    notice_id: str
    linkage_key: str
    type_label: str
    agency: str
    received_text: str
    occurred_text: str
    triage: Triage
    due: DueView | None
    child_name: str | None
    fields: tuple[FieldRow, ...]
    withheld: WithheldView | None
    why: WhyView
    decisions: tuple[str, ...]
    """One line per MASH decision covering this item, latest first."""
    marking: Marking | None = None
    handling: str | None = None
    """The police handling code's conditions, when the view holds intelligence grading."""
    provenance: ProvenanceNotice | None = None
    """Whether its fields were checked against the agency's own signature (issue 19)."""


def _decision_line(decision: FeedEntry, *, now: dt.datetime) -> str:
    detail = decision.mash_decision
    outcome = label(MASH_OUTCOME_LABELS, detail.outcome if detail else None)
    rag = label(RAG_LABELS, detail.rag if detail else None)
    return f"{outcome}, RAG {rag}, recorded {describe_age(decision.received_at, now=now)}"


def item_view(
    entry: FeedEntry,
    projection: Projection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
    signers: Mapping[str, str] | None = None,
) -> ItemView:
    """`signers` maps an agency's principal (the owner of its signing key) to its code, to
    name the agency whose signature the fields were checked against."""
    triage = triage_of(entry, projection, timescales)
    due_at = decision_due_at(entry, triage, timescales)
    return ItemView(
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        type_label=label(NOTICE_TYPE_LABELS, entry.notice_type),
        agency=agency_text(entry.source_agency, agencies),
        received_text=f"{when_text(entry.received_at)}, {describe_age(entry.received_at, now=now)}",
        occurred_text=when_text(entry.created_at) if entry.created_at else "Not shared with you",
        triage=triage,
        due=describe_due(due_at, now=now) if due_at else None,
        child_name=entry.child_name,
        fields=field_rows(entry.view, notes=r8_notes(entry)),
        withheld=withheld_view(entry, agencies),
        why=why_view(entry),
        decisions=tuple(
            _decision_line(d, now=now) for d in projection.decisions_covering(entry.notice_id)
        ),
        marking=marking_of(entry),
        handling=handling_conditions(entry.view),
        provenance=provenance_notice(
            entry.provenance,
            view=entry.view,
            signer_labels={p: agency_text(c, agencies) for p, c in (signers or {}).items()},
        ),
    )
