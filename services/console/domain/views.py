"""View models: what the queue, an item and a child's chronology show. Pure functions of the
projection, the clock value and the local timescales; templates only lay them out.

Triage status of an item:
- a contact (Timescales.contact_types) with no MASH decision covering it: AWAITING, with a
  decision deadline;
- a contact a visible MASH decision covers: DECIDED (the decision's RAG is then confirmed);
- anything else is FOR_INFORMATION, and the decisions themselves are DECISION.

RAG: until the MASH manager rates it, an item carries a *suggested* RAG from the source's
own risk assessment (immediate danger or high -> Red, medium -> Amber, low or no apparent
risk -> Green), marked as suggested. A risk the reader may not see gives no suggestion.
One exception (R8): a missing episode graded 'absent' (no apparent risk) for a child at risk
of exploitation, looked after or missing repeatedly is a missing episode, not 'no apparent
risk'. The policy marks its feed item with rule R8, and the console then suggests at least
Amber and says why, so the episode neither sinks to the bottom of the queue nor waits a day.
The console reads R8 from the feed item rather than re-deciding it: the policy owns the
test (its thresholds are the IG officer's data) and the console may not see every flag.

Queue order: highest risk first (immediate danger, then Red, Amber, unrated, Green), then
newest first. Unrated sits with Amber so that withheld risk never sinks an item. A contact
in immediate danger is also due at once (deadlines.decision_due), not within a working day.

Classification: an item marked OFFICIAL-SENSITIVE (police intelligence always is, R5) says
so at the top of its page, and on its chronology entry, not only in the field list.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from services.console.domain.deadlines import (
    UK,
    DueView,
    Timescales,
    decision_due,
    describe_age,
    describe_due,
)
from services.console.domain.feed import FeedEntry, merged_subject, parse_time
from services.console.domain.labels import (
    AGENCY_LABELS,
    MASH_OUTCOME_LABELS,
    NOTICE_TYPE_LABELS,
    PURPOSE_LABELS,
    RAG_LABELS,
    RISK_LABELS,
    SHARING_LABELS,
    concern_label,
    field_label,
    humanise,
    label,
)
from services.console.domain.projection import FeedProjection

__all__ = [
    "ChildHeader",
    "ChildView",
    "ChronologyEntry",
    "FieldRow",
    "ItemView",
    "Marking",
    "QueueFilter",
    "QueuePage",
    "QueueRow",
    "RagView",
    "Status",
    "Triage",
    "WhyView",
    "WithheldView",
    "agency_text",
    "child_view",
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


class Status(StrEnum):
    AWAITING = "awaiting"
    DECIDED = "decided"
    FOR_INFORMATION = "information"
    DECISION = "decision"


class QueueFilter(StrEnum):
    AWAITING = "awaiting"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class RagView:
    code: str
    confirmed: bool
    reason: str | None = None
    """A note shown beside a suggestion, e.g. why it is not simply the source's risk (R8)."""

    @property
    def label(self) -> str:
        return label(RAG_LABELS, self.code)

    @property
    def text(self) -> str:
        return self.label if self.confirmed else f"{self.label} (suggested)"

    @property
    def css(self) -> str:
        return self.code.lower()


_PRIORITY = {"RED": 1, None: 2, "AMBER": 2, "GREEN": 3}
_SEVERITY = {"GREEN": 0, "AMBER": 1, "RED": 2}
R8_REASON = "absent, treated as missing (R8)"


def treated_as_missing(entry: FeedEntry) -> bool:
    """An 'absent' missing episode the policy shared as missing (R8, rule id on the item)."""
    return entry.notice_type == "MISSING_EPISODE" and "R8" in entry.rule_ids


def _source_rag(entry: FeedEntry) -> str | None:
    if entry.immediate_danger or entry.risk_level == "HIGH":
        return "RED"
    if entry.risk_level == "MEDIUM":
        return "AMBER"
    if entry.risk_level in ("LOW", "NO_APPARENT_RISK"):
        return "GREEN"
    return None


def suggested_rag(entry: FeedEntry) -> str | None:
    rag = _source_rag(entry)
    if treated_as_missing(entry) and (rag is None or _SEVERITY[rag] < _SEVERITY["AMBER"]):
        return "AMBER"
    return rag


def suggestion_reason(entry: FeedEntry) -> str | None:
    """What the manager must know to read the suggestion right. An R8 episode is labelled
    even when the source's risk level already gave Amber or Red: the police grade on it still
    says 'absent', and the manager has to see that it is being treated as missing."""
    return R8_REASON if treated_as_missing(entry) else None


@dataclass(frozen=True, slots=True)
class Triage:
    status: Status
    rag: RagView | None
    decision: FeedEntry | None

    @property
    def status_text(self) -> str:
        if self.status is Status.DECIDED and self.decision is not None:
            outcome = self.decision.mash_decision
            return f"Decided: {label(MASH_OUTCOME_LABELS, outcome.outcome if outcome else None)}"
        return {
            Status.AWAITING: "Awaiting decision",
            Status.FOR_INFORMATION: "For information",
            Status.DECISION: "MASH decision",
            Status.DECIDED: "Decided",
        }[self.status]


def triage_of(entry: FeedEntry, projection: FeedProjection, timescales: Timescales) -> Triage:
    decision_detail = entry.mash_decision
    if decision_detail is not None:
        rag = RagView(decision_detail.rag, True) if decision_detail.rag else None
        return Triage(Status.DECISION, rag, None)
    covering = projection.decisions_covering(entry.notice_id)
    if covering:
        detail = covering[0].mash_decision
        rag_code = detail.rag if detail else None
        return Triage(Status.DECIDED, RagView(rag_code, True) if rag_code else None, covering[0])
    suggested = suggested_rag(entry)
    rag = RagView(suggested, False, suggestion_reason(entry)) if suggested else None
    if entry.notice_type in timescales.contact_types:
        return Triage(Status.AWAITING, rag, None)
    return Triage(Status.FOR_INFORMATION, rag, None)


def agency_text(code: str, agencies: Mapping[str, str]) -> str:
    """'Police (Synthetic Constabulary)': the agency type and, when known, who it is."""
    kind = label(AGENCY_LABELS, code)
    name = agencies.get(code)
    return f"{kind} ({name})" if name else kind


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
    due_at = (
        decision_due(
            notice_type=entry.notice_type,
            rag=rag_code,
            received_at=entry.received_at,
            timescales=timescales,
            immediate_danger=entry.immediate_danger,
        )
        if triage.status is Status.AWAITING
        else None
    )
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


# ---- one item ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRow:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class WithheldView:
    agency: str
    contact: str
    fields: tuple[str, ...]
    flag_only: bool

    @property
    def sentence(self) -> str:
        return f"Information held by {self.agency}, contact {self.contact}."


@dataclass(frozen=True, slots=True)
class WhyView:
    explanation: str
    sharing_text: str
    purpose: str
    lawful_basis: tuple[FieldRow, ...]
    isa_clause: str | None
    rules: str
    policy_revision: str


@dataclass(frozen=True, slots=True)
class Marking:
    """A security classification above OFFICIAL and what it asks of the reader."""

    text: str
    """'OFFICIAL-SENSITIVE', as Government Security Classifications write it."""
    caveat: str


# OFFICIAL is the default and is not marked; anything above it must be seen before the content
# (a reader who only skims the field list would otherwise miss the handling caveat).
_CAVEATS: Mapping[str, str] = {
    "OFFICIAL_SENSITIVE": "Handle on a strict need-to-know basis: use it for safeguarding "
    "this child and share it further only as the information-sharing agreement allows.",
}


def marking_of(entry: FeedEntry) -> Marking | None:
    value = entry.view.get("classification")
    if not isinstance(value, str) or value in ("", "OFFICIAL"):
        return None
    caveat = _CAVEATS.get(value, "Handle as the marking requires.")
    return Marking(text=value.replace("_", "-"), caveat=caveat)


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


_ENUM_PATHS = frozenset(
    {
        "consent.status",
        "narrative.sensitivity",
        "detail.dash_risk",
        "detail.status",
        "detail.risk_grade",
        "detail.setting",
        "detail.change",
        "detail.legal_status",
        "detail.exploitation_type",
        "detail.exploitation_types",
        "detail.kind",
        "detail.cp_category",
        "intelligence_grading.scheme",
    }
)
_SKIP_PATHS = frozenset({"notice_id", "notice_type", "subject.linkage_key"})
# Order of sections on the item page: who, how worrying, what happened, then provenance.
_SECTION_ORDER = (
    "subject",
    "risk",
    "concerns",
    "narrative",
    "detail",
    "intelligence_grading",
    "consent",
    "family_informed",
    "referrer",
    "third_parties",
    "contact_point",
    "source",
    "created_at",
    "classification",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _format(path: str, value: Any, *, zone: str = UK) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None:
        return "Not recorded"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if path == "classification":
            return value.replace("_", "-")
        if path == "risk.level":
            return label(RISK_LABELS, value)
        if path == "detail.rag":
            return label(RAG_LABELS, value)
        if path == "detail.outcome":
            return label(MASH_OUTCOME_LABELS, value)
        if path == "source.agency":
            return label(AGENCY_LABELS, value)
        if path in _ENUM_PATHS:
            return humanise(value)
        if _DATE.fullmatch(value):
            day = dt.date.fromisoformat(value)
            return f"{day.day} {day.strftime('%b %Y')}"
        when = parse_time(value) if "T" in value and value[:4].isdigit() else None
        if when is not None:
            local = when.astimezone(ZoneInfo(zone))
            return f"{local.day} {local.strftime('%b %Y')}, {local.strftime('%H:%M')}"
        return value
    if isinstance(value, list):
        if path == "concerns":
            return "; ".join(
                concern_label(str(c.get("code")), c.get("census_factor"))
                for c in value
                if isinstance(c, Mapping)
            )
        return "; ".join(_format(path, v, zone=zone) for v in value) or "None"
    if isinstance(value, Mapping):
        return _format_record(path, value, zone=zone)
    return str(value)


def _format_record(path: str, value: Mapping[str, Any], *, zone: str) -> str:
    if path == "intelligence_grading":
        scheme = str(value.get("scheme", "")).removeprefix("GRADING_").lower()
        return (
            f"{scheme}: source {value.get('source_evaluation')}, intelligence "
            f"{value.get('intelligence_assessment')}, handling {value.get('handling_code')}"
        )
    order = _RECORD_ORDER.get(path.split(".")[0], ())
    names = [n for n in order if n in value] + sorted(n for n in value if n not in order)
    parts: list[str] = []
    for name in names:
        item = value[name]
        if item is None or item == "":
            continue
        text = _format(f"{path}.{name}", item, zone=zone)
        if name == "role" and path in _PERSON_PATHS and parts:
            parts[-1] = f"{parts[-1]} ({text})"  # 'Synthetic Referrer (neighbour)'
        else:
            parts.append(text)
    return ", ".join(parts)


_PERSON_PATHS = frozenset({"referrer", "third_parties"})
_RECORD_ORDER: Mapping[str, tuple[str, ...]] = {
    "referrer": ("name", "role", "organisation", "contact"),
    "third_parties": ("name", "role", "organisation", "contact"),
    "contact_point": ("role", "organisation", "telephone", "secure_email"),
}


# Within a section, the order a practitioner reads (the view itself is sorted by name).
_FIELD_ORDER: Mapping[str, tuple[str, ...]] = {
    "subject": (
        "given_name",
        "family_name",
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
    ),
    "risk": ("level", "immediate_danger"),
    "narrative": ("summary", "full_account", "sensitivity"),
    "consent": ("status", "reason_not_sought"),
    "family_informed": ("informed", "reason_not_informed"),
}


def _ordered(section: str, names: Iterable[str]) -> list[str]:
    order = _FIELD_ORDER.get(section, ())
    present = list(names)
    return [n for n in order if n in present] + sorted(n for n in present if n not in order)


def field_rows(
    view: Mapping[str, Any], *, notes: Mapping[str, str] | None = None
) -> tuple[FieldRow, ...]:
    """The view as labelled rows, in reading order; containers are opened one level. `notes`
    (field path -> words) qualify a value the reader would otherwise take at face value."""
    notes = notes or {}
    rows: list[FieldRow] = []
    order = {name: i for i, name in enumerate(_SECTION_ORDER)}
    for name in sorted(view, key=lambda n: (order.get(n, len(order)), n)):
        value = view[name]
        if name in _SKIP_PATHS:
            continue
        if isinstance(value, Mapping) and name in (
            "subject",
            "risk",
            "narrative",
            "detail",
            "consent",
            "family_informed",
            "source",
        ):
            for child in _ordered(name, value):
                path = f"{name}.{child}"
                if path not in _SKIP_PATHS:
                    text = _format(path, value[child])
                    if path in notes:
                        text = f"{text} ({notes[path]})"
                    rows.append(FieldRow(field_label(path), text))
        else:
            rows.append(FieldRow(field_label(name), _format(name, value)))
    return tuple(rows)


def _notes(entry: FeedEntry) -> Mapping[str, str]:
    """An R8 episode still carries the police's 'absent' grade (and perhaps a 'no apparent
    risk' level): say beside it how it is treated, so the words do not contradict the RAG."""
    if not treated_as_missing(entry):
        return {}
    notes = {"detail.risk_grade": R8_REASON}
    if entry.risk_level == "NO_APPARENT_RISK":
        notes["risk.level"] = R8_REASON
    return notes


def _withheld(entry: FeedEntry, agencies: Mapping[str, str]) -> WithheldView | None:
    if not entry.fields_withheld and entry.outcome == "PERMIT":
        return None
    return WithheldView(
        agency=agency_text(entry.source_agency, agencies),
        contact=entry.contact_point.text(),
        fields=tuple(dict.fromkeys(field_label(p) for p in entry.fields_withheld)),
        flag_only=entry.outcome == "FLAG_ONLY",
    )


def _why(entry: FeedEntry) -> WhyView:
    basis = entry.lawful_basis
    lines = [FieldRow("UK GDPR Article 6", basis.article6)]
    if basis.special_category_condition:
        lines.append(FieldRow("Special category condition", basis.special_category_condition))
    if basis.dpa_part3:
        lines.append(FieldRow("DPA 2018 Part 3", basis.dpa_part3))
    if basis.criminal_offence_condition:
        lines.append(FieldRow("Criminal offence data (Art 10)", basis.criminal_offence_condition))
    lines.append(FieldRow("Statutory gateway", basis.statutory_gateway))
    if basis.recipient_basis:
        lines.append(FieldRow("Recipient's basis", basis.recipient_basis))
    return WhyView(
        explanation=entry.explanation,
        sharing_text=label(SHARING_LABELS, entry.outcome),
        purpose=label(PURPOSE_LABELS, entry.purpose),
        lawful_basis=tuple(lines),
        isa_clause=entry.isa_clause,
        rules=", ".join(entry.rule_ids) or "None",
        policy_revision=entry.policy_revision,
    )


def _decision_line(decision: FeedEntry, *, now: dt.datetime) -> str:
    detail = decision.mash_decision
    outcome = label(MASH_OUTCOME_LABELS, detail.outcome if detail else None)
    rag = label(RAG_LABELS, detail.rag if detail else None)
    return f"{outcome}, RAG {rag}, recorded {describe_age(decision.received_at, now=now)}"


def _when_text(at: dt.datetime, zone: str = UK) -> str:
    local = at.astimezone(ZoneInfo(zone))
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %Y')}, {local:%H:%M}"


def item_view(
    entry: FeedEntry,
    projection: FeedProjection,
    *,
    now: dt.datetime,
    timescales: Timescales,
    agencies: Mapping[str, str],
) -> ItemView:
    triage = triage_of(entry, projection, timescales)
    due_at = (
        decision_due(
            notice_type=entry.notice_type,
            rag=triage.rag.code if triage.rag else None,
            received_at=entry.received_at,
            timescales=timescales,
            immediate_danger=entry.immediate_danger,
        )
        if triage.status is Status.AWAITING
        else None
    )
    return ItemView(
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        type_label=label(NOTICE_TYPE_LABELS, entry.notice_type),
        agency=agency_text(entry.source_agency, agencies),
        received_text=f"{_when_text(entry.received_at)}, "
        f"{describe_age(entry.received_at, now=now)}",
        occurred_text=_when_text(entry.created_at) if entry.created_at else "Not shared with you",
        triage=triage,
        due=describe_due(due_at, now=now) if due_at else None,
        child_name=entry.child_name,
        fields=field_rows(entry.view, notes=_notes(entry)),
        withheld=_withheld(entry, agencies),
        why=_why(entry),
        decisions=tuple(
            _decision_line(d, now=now) for d in projection.decisions_covering(entry.notice_id)
        ),
        marking=marking_of(entry),
    )


# ---- one child -----------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class ChildHeader:
    name: str
    other_names: tuple[str, ...]
    facts: tuple[FieldRow, ...]
    agencies: tuple[str, ...]


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


def _header(entries: Sequence[FeedEntry], agencies: Mapping[str, str]) -> ChildHeader:
    subject = merged_subject(list(entries))
    name = " ".join(str(subject[k]) for k in ("given_name", "family_name") if k in subject)
    names = dict.fromkeys(e.child_name for e in entries if e.child_name)
    other = tuple(n for n in names if n and n.casefold() != name.casefold())
    facts = tuple(
        FieldRow(field_label(f"subject.{k}"), _format(f"subject.{k}", subject[k]))
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
        r8 = f" ({R8_REASON})" if "risk.level" in _notes(entry) else ""
        rows.append(FieldRow("Source's risk level", f"{risk}{danger}{r8}"))
    return tuple(rows)


def child_view(
    entries: Iterable[FeedEntry],
    projection: FeedProjection,
    *,
    timescales: Timescales,
    agencies: Mapping[str, str],
) -> ChildView:
    ordered = sorted(entries, key=lambda e: (e.occurred_at, e.received_at, e.notice_id))
    chronology: list[ChronologyEntry] = []
    undecided: list[tuple[str, str]] = []
    for entry in ordered:
        triage = triage_of(entry, projection, timescales)
        type_text = label(NOTICE_TYPE_LABELS, entry.notice_type)
        chronology.append(
            ChronologyEntry(
                notice_id=entry.notice_id,
                when_text=_when_text(entry.occurred_at),
                when_source="recorded by the source"
                if entry.created_at
                else "received by the MASH",
                type_label=type_text,
                agency=agency_text(entry.source_agency, agencies),
                headline=_headline(entry),
                details=_details(entry),
                triage=triage,
                withheld=_withheld(entry, agencies),
                why=_why(entry),
                marking=marking_of(entry),
            )
        )
        if triage.status is Status.AWAITING:
            agency = label(AGENCY_LABELS, entry.source_agency)
            undecided.append(
                (entry.notice_id, f"{type_text} from {agency}, {_when_text(entry.occurred_at)}")
            )
    return ChildView(
        header=_header(ordered, agencies),
        entries=tuple(reversed(chronology)),
        undecided=tuple(reversed(undecided)),
    )
