"""What an item and a chronology entry both say about how it was shared: what was withheld
and whom to ask, why it was shared (purpose, lawful basis, rules), and its marking.

Classification: an item marked OFFICIAL-SENSITIVE (police intelligence always is, R5) says
so at the top of its page, and on its chronology entry, not only in the field list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.console.domain.feed import FeedEntry
from services.console.domain.labels import PURPOSE_LABELS, SHARING_LABELS, field_label, label
from services.console.domain.views.fields import FieldRow, agency_text

__all__ = [
    "Marking",
    "WhyView",
    "WithheldView",
    "handling_conditions",
    "marking_of",
    "why_view",
    "withheld_view",
]


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


# Police intelligence handling codes (3x5x2 P/C; legacy 5x5x5 1-5) in words a reader acts on:
# the conditions travel with the item (R5, R6), so they are said beside it, not only coded
# in the grading's field row.
_HANDLING: Mapping[tuple[str, str], str] = {
    ("GRADING_3X5X2", "P"): "Police handling code P: lawful sharing is permitted; share it "
    "further only as the information-sharing agreement allows.",
    ("GRADING_3X5X2", "C"): "Police handling code C: shared with conditions, which travel "
    "with it: use it only for safeguarding this child and ask the police contact before "
    "sharing or recording it anywhere else.",
    ("LEGACY_5X5X5", "1"): "Police handling code 1: for law-enforcement and prosecuting "
    "agencies only; do not share it further.",
    ("LEGACY_5X5X5", "2"): "Police handling code 2: may go to UK non-prosecuting parties "
    "only with the recorded authorisation; do not share it further without the police.",
    ("LEGACY_5X5X5", "3"): "Police handling code 3: for law enforcement only; do not share "
    "it further.",
    ("LEGACY_5X5X5", "4"): "Police handling code 4: for the originating force only; do not "
    "share it further.",
    ("LEGACY_5X5X5", "5"): "Police handling code 5: no further dissemination; refer any "
    "request to the originating force.",
}


def handling_conditions(view: Mapping[str, object]) -> str | None:
    """The conditions of the police intelligence grading's handling code in `view`, in
    words; None when the view holds no grading."""
    grading = view.get("intelligence_grading")
    if not isinstance(grading, Mapping):
        return None
    scheme, code = str(grading.get("scheme", "")), str(grading.get("handling_code", ""))
    return _HANDLING.get(
        (scheme, code.upper()),
        f"Police handling code {code or 'not given'}: ask the police contact before "
        "sharing it further.",
    )


def withheld_view(entry: FeedEntry, agencies: Mapping[str, str]) -> WithheldView | None:
    if not entry.fields_withheld and entry.outcome == "PERMIT":
        return None
    return WithheldView(
        agency=agency_text(entry.source_agency, agencies),
        contact=entry.contact_point.text(),
        fields=tuple(dict.fromkeys(field_label(p) for p in entry.fields_withheld)),
        flag_only=entry.outcome == "FLAG_ONLY",
    )


def why_view(entry: FeedEntry) -> WhyView:
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
