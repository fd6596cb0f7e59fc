"""A feed item as the console holds it: the FeedItem record (schemas/avro/safehub.feed.
FeedItem.avsc) with its view parsed, plus read-only accessors for what pages show.

The view holds only the permitted field paths of the notice; a field that is absent was
withheld (or never held), so every accessor answers `None` rather than guessing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.console.domain.provenance import FieldProvenance, provenance_from_record
from services.console.errors import FeedItemInvalid

__all__ = [
    "IMMEDIATE_DANGER_MARK",
    "ConcernView",
    "ContactPoint",
    "FeedEntry",
    "LawfulBasis",
    "MashDecisionView",
    "entry_from_feed_item",
    "merged_subject",
    "parse_time",
]


@dataclass(frozen=True, slots=True)
class LawfulBasis:
    article6: str
    special_category_condition: str | None
    dpa_part3: str | None
    statutory_gateway: str
    criminal_offence_condition: str | None = None
    recipient_basis: str | None = None


@dataclass(frozen=True, slots=True)
class ContactPoint:
    role: str
    organisation: str
    telephone: str
    secure_email: str | None

    def text(self) -> str:
        parts = [self.role, self.organisation, self.telephone, self.secure_email]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class ConcernView:
    code: str
    census_factor: str | None


@dataclass(frozen=True, slots=True)
class MashDecisionView:
    """The parts of a MASH_DECISION's detail this reader may see (outside the MASH the
    rationale and related notice ids are withheld)."""

    rag: str | None
    outcome: str | None
    rationale: str | None
    family_agreement: bool | None
    decided_by_role: str | None
    related_notice_ids: tuple[str, ...]
    agreed_actions: tuple[str, ...]


IMMEDIATE_DANGER_MARK = "IMMEDIATE DANGER:"
"""How the policy's explanation says the child is in immediate danger (rules data R1
`immediate_danger_note`, added for every MASH recipient). A flag (FLAG_ONLY) carries no risk
field, so for a flag this note is the only sign; a contract test holds the two together."""


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 string or datetime from a view, as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    notice_id: str
    decision_id: str
    subscriber_id: str
    notice_type: str
    linkage_key: str
    outcome: str
    view_json: str
    view: Mapping[str, Any]
    fields_withheld: tuple[str, ...]
    explanation: str
    lawful_basis: LawfulBasis
    purpose: str
    isa_clause: str | None
    rule_ids: tuple[str, ...]
    policy_revision: str
    source_agency: str
    contact_point: ContactPoint
    received_at: dt.datetime
    """When the gateway decided and released it to this feed: the MASH's 'contact received'."""
    risk_level: str | None
    """The source's risk level, if visible (read once: the queue sorts on it constantly)."""
    immediate_danger: bool
    provenance: FieldProvenance | None = None
    """Its fields checked against the agency's own signature when projected (issue 19,
    domain/provenance.py); None: not checked."""

    def _section(self, name: str) -> Mapping[str, Any]:
        value = self.view.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def subject(self) -> Mapping[str, Any]:
        return self._section("subject")

    @property
    def detail(self) -> Mapping[str, Any]:
        return self._section("detail")

    @property
    def summary(self) -> str | None:
        summary = self._section("narrative").get("summary")
        return str(summary) if summary else None

    @property
    def created_at(self) -> dt.datetime | None:
        return parse_time(self.view.get("created_at"))

    @property
    def occurred_at(self) -> dt.datetime:
        """When it happened as far as this reader knows: the source's time, if visible."""
        return self.created_at or self.received_at

    @property
    def concerns(self) -> tuple[ConcernView, ...]:
        raw = self.view.get("concerns")
        if not isinstance(raw, list):
            return ()
        return tuple(
            ConcernView(str(c["code"]), c.get("census_factor"))
            for c in raw
            if isinstance(c, Mapping) and c.get("code")
        )

    @property
    def child_name(self) -> str | None:
        given = self.subject.get("given_name")
        family = self.subject.get("family_name")
        name = " ".join(str(p) for p in (given, family) if p)
        return name or None

    @property
    def child_age(self) -> int | None:
        age = self.subject.get("age_years")
        return age if isinstance(age, int) else None

    @property
    def mash_decision(self) -> MashDecisionView | None:
        if self.notice_type != "MASH_DECISION":
            return None
        detail = self.detail
        agreement = detail.get("family_agreement")
        return MashDecisionView(
            rag=detail.get("rag"),
            outcome=detail.get("outcome"),
            rationale=detail.get("rationale"),
            family_agreement=agreement if isinstance(agreement, bool) else None,
            decided_by_role=detail.get("decided_by_role"),
            related_notice_ids=tuple(str(i) for i in detail.get("related_notice_ids") or ()),
            agreed_actions=tuple(str(a) for a in detail.get("agreed_actions") or ()),
        )


def entry_from_feed_item(item: Mapping[str, Any]) -> FeedEntry:
    """A decoded FeedItem record as a FeedEntry; raises FeedItemInvalid."""
    try:
        view = json.loads(item["view_json"])
        if not isinstance(view, dict):
            raise FeedItemInvalid("view_json is not a JSON object")
        basis = item["lawful_basis"]
        contact = item["contact_point"]
        received = parse_time(item["decided_at"])
        if received is None:
            raise FeedItemInvalid("decided_at is missing")
        risk = view.get("risk")
        risk = risk if isinstance(risk, dict) else {}
        return FeedEntry(
            notice_id=str(item["notice_id"]),
            decision_id=str(item["decision_id"]),
            subscriber_id=str(item["subscriber_id"]),
            notice_type=str(item["notice_type"]),
            linkage_key=str(item["subject_linkage_key"]),
            outcome=str(item["outcome"]),
            view_json=str(item["view_json"]),
            view=view,
            fields_withheld=tuple(str(p) for p in item["fields_withheld"]),
            explanation=str(item["explanation"]),
            lawful_basis=LawfulBasis(
                article6=str(basis["article6"]),
                special_category_condition=basis.get("special_category_condition"),
                dpa_part3=basis.get("dpa_part3"),
                statutory_gateway=str(basis["statutory_gateway"]),
                criminal_offence_condition=basis.get("criminal_offence_condition"),
                recipient_basis=basis.get("recipient_basis"),
            ),
            purpose=str(item["purpose"]),
            isa_clause=item.get("isa_clause"),
            rule_ids=tuple(str(r) for r in item["rule_ids"]),
            policy_revision=str(item["policy_revision"]),
            source_agency=str(item["source_agency"]),
            contact_point=ContactPoint(
                role=str(contact["role"]),
                organisation=str(contact["organisation"]),
                telephone=str(contact["telephone"]),
                secure_email=contact.get("secure_email"),
            ),
            received_at=received,
            risk_level=str(risk["level"]) if risk.get("level") else None,
            immediate_danger=risk.get("immediate_danger") is True
            or IMMEDIATE_DANGER_MARK in str(item["explanation"]),
            # Only what the console stored (a FeedItem from the feed has no such field).
            provenance=provenance_from_record(item.get("provenance")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FeedItemInvalid(f"feed item is not well formed: {type(error).__name__}") from None


def merged_subject(entries: list[FeedEntry]) -> dict[str, Any]:
    """What this reader knows about the child across `entries`: for each subject field, the
    value from the most recently received item that shows it."""
    merged: dict[str, Any] = {}
    for entry in sorted(entries, key=lambda e: (e.received_at, e.notice_id), reverse=True):
        for name, value in entry.subject.items():
            if name not in merged and value is not None and value != "":
                merged[name] = value
    return merged
