"""How a notice's values read: labelled field rows in reading order, formatted values, times
and agencies. The item page lists the rows; a chronology entry and a child's header use the
same wording.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from services.console.domain.deadlines import UK
from services.console.domain.feed import FeedEntry, parse_time
from services.console.domain.labels import (
    AGENCY_LABELS,
    MASH_OUTCOME_LABELS,
    RAG_LABELS,
    RISK_LABELS,
    concern_label,
    field_label,
    humanise,
    label,
)
from services.console.domain.views.triage import R8_REASON, treated_as_missing

__all__ = [
    "FieldRow",
    "agency_text",
    "field_rows",
    "format_value",
    "r8_notes",
    "when_text",
]


@dataclass(frozen=True, slots=True)
class FieldRow:
    label: str
    value: str


def agency_text(code: str, agencies: Mapping[str, str]) -> str:
    """'Police (Synthetic Constabulary)': the agency type and, when known, who it is."""
    kind = label(AGENCY_LABELS, code)
    name = agencies.get(code)
    return f"{kind} ({name})" if name else kind


def when_text(at: dt.datetime, zone: str = UK) -> str:
    local = at.astimezone(ZoneInfo(zone))
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %Y')}, {local:%H:%M}"


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


def format_value(path: str, value: Any, *, zone: str = UK) -> str:
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
        return "; ".join(format_value(path, v, zone=zone) for v in value) or "None"
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
        text = format_value(f"{path}.{name}", item, zone=zone)
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
                    text = format_value(path, value[child])
                    if path in notes:
                        text = f"{text} ({notes[path]})"
                    rows.append(FieldRow(field_label(path), text))
        else:
            rows.append(FieldRow(field_label(name), format_value(name, value)))
    return tuple(rows)


def r8_notes(entry: FeedEntry) -> Mapping[str, str]:
    """An R8 episode still carries the police's 'absent' grade (and perhaps a 'no apparent
    risk' level): say beside it how it is treated, so the words do not contradict the RAG."""
    if not treated_as_missing(entry):
        return {}
    notes = {"detail.risk_grade": R8_REASON}
    if entry.risk_level == "NO_APPARENT_RISK":
        notes["risk.level"] = R8_REASON
    return notes
