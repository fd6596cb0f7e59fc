"""Refusals: what the console does when a signed-in person asks for something outside their
feed, and the ACCESS_REFUSED audit record that says so.

Golden rule 7 (record the decision and the reasons whether or not you share) and DPA 2018
s62 (log consultations, with who and when) apply to refusals too, so every 403 the console
answers is written to the hub's audit topic (`audit.decisions.v1`), where the audit service
logs it in its verifiable Merkle log like every gateway decision.

The record names the person by their identity provider subject (an opaque id, not a name),
their role and the subscriber whose feed they read; it carries the requested notice id
only when it is a well-formed UUID (never arbitrary text from a URL) and never anything the
person was refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.console.domain.labels import ROLE_LABELS, label
from services.gateway.domain.records import AUDIT_REVIEW_YEARS
from services.hubkit.topology import SubscriberEntry

__all__ = ["RefusalReason", "Requester", "access_refused_record", "well_formed_notice_id"]


class RefusalReason(StrEnum):
    NOT_IN_FEED = "NOT_IN_FEED"
    """An item that is not in the person's feed (whether or not it exists: the answer is the
    same, so ids cannot be probed)."""
    CHILD_LINK_NOT_VALID = "CHILD_LINK_NOT_VALID"
    """A child handle that does not resolve in this session to a child in the feed."""
    ROLE_MAY_NOT_DECIDE = "ROLE_MAY_NOT_DECIDE"
    """A triage decision from a role that is not a MASH decision maker (R2)."""
    NO_FEED_FOR_ROLE = "NO_FEED_FOR_ROLE"
    """A signed-in person whose role reads no feed in this console."""


_WHAT = {
    RefusalReason.NOT_IN_FEED: "a notice that is not in their feed",
    RefusalReason.CHILD_LINK_NOT_VALID: "a child's chronology through a link that does not "
    "lead to a child in their feed in this session",
    RefusalReason.ROLE_MAY_NOT_DECIDE: "to record a MASH triage decision, which only MASH "
    "decision makers may do",
    RefusalReason.NO_FEED_FOR_ROLE: "the triage console, but their role reads no feed in it",
}


@dataclass(frozen=True, slots=True)
class Requester:
    subject: str
    roles: tuple[str, ...]
    subscriber: SubscriberEntry | None


def well_formed_notice_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError):
        return None


def _review_date(at: dt.datetime) -> dt.date:
    day = at.date()
    try:
        return day.replace(year=day.year + AUDIT_REVIEW_YEARS)
    except ValueError:  # 29 February
        return day.replace(year=day.year + AUDIT_REVIEW_YEARS, day=28)


def access_refused_record(
    *,
    refusal_id: str,
    requester: Requester,
    reason: RefusalReason,
    notice_id: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    """An AuditRecord (schemas/avro/safehub.audit.AuditRecord.avsc), event ACCESS_REFUSED."""
    subscriber = requester.subscriber
    roles = ", ".join(label(ROLE_LABELS, r) for r in requester.roles) or "no role"
    return {
        "decision_id": str(uuid.UUID(refusal_id)),
        "event": "ACCESS_REFUSED",
        "notice_id": notice_id,
        "notice_type": None,
        "subject_linkage_key": None,
        "decided_at": at,
        "disclosed_at": None,
        "recipient": None
        if subscriber is None
        else {
            "subscriber_id": subscriber.subscriber_id,
            "agency": subscriber.agency,
            "organisation": subscriber.organisation,
            "role": subscriber.role,
            "team": subscriber.team,
        },
        "originating_controller": None,
        "purpose": None,
        "lawful_basis": None,
        "consent_status": None,
        "consent_reason_not_sought": None,
        "family_informed": None,
        "family_not_informed_reason": None,
        "outcome": "DENY",
        "fields_disclosed": [],
        "fields_withheld": [],
        "classification": None,
        "handling_code": None,
        "policy_revision": "none",
        "rule_ids": [],
        "isa_clause": None,
        "explanation": (
            f"Refused by the MASH console: user {requester.subject} ({roles}) asked for "
            f"{_WHAT[reason]}. Nothing was shown."
        ),
        "reason_code": reason.value,
        "human_decision_maker": None,
        "human_rationale": None,
        "break_glass": False,
        "break_glass_justification": None,
        "retention_review_date": _review_date(at),
        "merkle_leaf_index": None,
    }
