"""A child's page: who the child is across the agencies' notices, and their chronology,
newest first, with the contacts a decision can still cover.

A child the child index merged from several keys (domain/linkage.py) is one chronology; each
entry then says which of the child's records (keys) it came under, as a letter in order of
first appearance ("record A"), never the key itself: keys stay out of the browser."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from services.console.domain.deadlines import Timescales
from services.console.domain.feed import FeedEntry, merged_subject
from services.console.domain.labels import (
    AGENCY_LABELS,
    MASH_OUTCOME_LABELS,
    NOTICE_TYPE_LABELS,
    RAG_LABELS,
    RISK_LABELS,
    concern_label,
    field_label,
    label,
)
from services.console.domain.projection import Projection
from services.console.domain.views.fields import (
    FieldRow,
    agency_text,
    format_value,
    r8_notes,
    when_text,
)
from services.console.domain.views.sharing import (
    Marking,
    WhyView,
    WithheldView,
    marking_of,
    why_view,
    withheld_view,
)
from services.console.domain.views.triage import R8_REASON, Status, Triage, triage_of

__all__ = ["ChildHeader", "ChildView", "ChronologyEntry", "child_view"]


@dataclass(frozen=True, slots=True)
class ChronologyEntry:
    notice_id: str
    when_text: str
    when_source: str
    """'recorded by the source' or 'received by the MASH' (when the source's time is withheld)."""
    type_label: str
    agency: str
    headline: str
    details: tuple[FieldRow, ...]
    triage: Triage
    withheld: WithheldView | None
    why: WhyView
    marking: Marking | None = None
    came_under: str | None = None
    """Which of a merged child's records the notice came under ('A', 'B', ...); None when
    the child has one record."""


@dataclass(frozen=True, slots=True)
class ChildHeader:
    name: str
    other_names: tuple[str, ...]
    facts: tuple[FieldRow, ...]
    agencies: tuple[str, ...]
    records: tuple[str, ...] = ()
    """The letters of a merged child's records; empty when the child has one."""


@dataclass(frozen=True, slots=True)
class ChildView:
    header: ChildHeader
    entries: tuple[ChronologyEntry, ...]
    """Newest first: what changed most recently is what a decision turns on."""
    undecided: tuple[tuple[str, str], ...]
    """(notice id, label) of contacts still awaiting a decision: what a decision can cover."""


_HEADER_FACTS = (
    "date_of_birth",
    "age_years",
    "nhs_number",
    "la_child_id",
    "upn",
    "postcode_district",
    "looked_after",
    "exploitation_flagged",
    "responsible_la",
    "placing_la",
)


def _record_letters(entries: Sequence[FeedEntry]) -> dict[str, str]:
    """Key -> 'A', 'B', ... in order of first appearance; empty for a child with one key."""
    keys = list(dict.fromkeys(e.linkage_key for e in entries))
    if len(keys) < 2:
        return {}
    return {key: _letters(i) for i, key in enumerate(keys)}


def _letters(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA'."""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def _header(entries: Sequence[FeedEntry], agencies: Mapping[str, str]) -> ChildHeader:
    subject = merged_subject(list(entries))
    name = " ".join(str(subject[k]) for k in ("given_name", "family_name") if k in subject)
    names = dict.fromkeys(e.child_name for e in entries if e.child_name)
    other = tuple(n for n in names if n and n.casefold() != name.casefold())
    facts = tuple(
        FieldRow(field_label(f"subject.{k}"), format_value(f"subject.{k}", subject[k]))
        for k in _HEADER_FACTS
        if k in subject
    )
    involved = tuple(dict.fromkeys(agency_text(e.source_agency, agencies) for e in entries))
    return ChildHeader(name or "Name not shared with you", other, facts, involved)


def _headline(entry: FeedEntry) -> str:
    decision = entry.mash_decision
    if decision is not None:
        outcome = label(MASH_OUTCOME_LABELS, decision.outcome)
        return f"Decision: {outcome}, RAG {label(RAG_LABELS, decision.rag)}"
    if entry.outcome == "FLAG_ONLY":
        return "Confidential information held (content not shared with you)"
    return entry.summary or "Summary not shared with you"


def _details(entry: FeedEntry) -> tuple[FieldRow, ...]:
    rows: list[FieldRow] = []
    decision = entry.mash_decision
    if decision is not None:
        if decision.rationale:
            rows.append(FieldRow("Rationale", decision.rationale))
        # Who decided by name and, for an amendment, what it amends and why (MASH-only).
        narrative = entry.view.get("narrative")
        record = narrative.get("full_account") if isinstance(narrative, dict) else None
        if record:
            rows.append(FieldRow("Decision record", str(record)))
        if decision.agreed_actions:
            rows.append(FieldRow("Agreed actions", "; ".join(decision.agreed_actions)))
        if decision.family_agreement is not None and decision.outcome == "EARLY_HELP":
            agreed = "Yes" if decision.family_agreement else "No"
            rows.append(FieldRow("Family agreed to early help", agreed))
        # Who the decision went to beyond the MASH (R11 early help routing, referrer
        # feedback), read from the detail: only what this reader's view shows.
        early_help = entry.detail.get("early_help_organisation")
        if early_help:
            rows.append(FieldRow(field_label("detail.early_help_organisation"), str(early_help)))
        referrers = entry.detail.get("referring_organisations")
        if isinstance(referrers, list) and referrers:
            rows.append(
                FieldRow(
                    field_label("detail.referring_organisations"),
                    "; ".join(str(r) for r in referrers),
                )
            )
    if entry.concerns:
        concerns = "; ".join(concern_label(c.code, c.census_factor) for c in entry.concerns)
        rows.append(FieldRow("Concerns", concerns))
    if entry.risk_level:
        danger = ", immediate danger" if entry.immediate_danger else ""
        risk = label(RISK_LABELS, entry.risk_level)
        r8 = f" ({R8_REASON})" if "risk.level" in r8_notes(entry) else ""
        rows.append(FieldRow("Source's risk level", f"{risk}{danger}{r8}"))
    return tuple(rows)


def child_view(
    entries: Iterable[FeedEntry],
    projection: Projection,
    *,
    timescales: Timescales,
    agencies: Mapping[str, str],
) -> ChildView:
    ordered = sorted(entries, key=lambda e: (e.occurred_at, e.received_at, e.notice_id))
    letters = _record_letters(ordered)
    chronology: list[ChronologyEntry] = []
    undecided: list[tuple[str, str]] = []
    for entry in ordered:
        triage = triage_of(entry, projection, timescales)
        type_text = label(NOTICE_TYPE_LABELS, entry.notice_type)
        chronology.append(
            ChronologyEntry(
                notice_id=entry.notice_id,
                when_text=when_text(entry.occurred_at),
                when_source="recorded by the source"
                if entry.created_at
                else "received by the MASH",
                type_label=type_text,
                agency=agency_text(entry.source_agency, agencies),
                headline=_headline(entry),
                details=_details(entry),
                triage=triage,
                withheld=withheld_view(entry, agencies),
                why=why_view(entry),
                marking=marking_of(entry),
                came_under=letters.get(entry.linkage_key),
            )
        )
        if triage.status is Status.AWAITING:
            agency = label(AGENCY_LABELS, entry.source_agency)
            undecided.append(
                (entry.notice_id, f"{type_text} from {agency}, {when_text(entry.occurred_at)}")
            )
    header = _header(ordered, agencies)
    return ChildView(
        header=replace(header, records=tuple(letters.values())),
        entries=tuple(reversed(chronology)),
        undecided=tuple(reversed(undecided)),
    )
