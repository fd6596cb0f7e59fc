"""Pieces of a ConsoleAccess event (schemas/avro/safehub.audit.ConsoleAccess.avsc) that more
than one service writes. Pure.

The MASH console writes every kind of access event (services/console/domain/access.py,
consultations.py); CP-IS writes one: a clinician's view of content granted by emergency
access (issue 18, services/cpis/domain/emergency.py). Both record the feed read and what a
view showed the same way, so the audit log and a subject access report read them alike:

- `recorded_feed`: the subscriber whose feed the person read, as the event's Recipient;
- `consultation_part`: what a view showed, as pseudonymous keys, notice ids (or, past
  NOTICE_IDS_LISTED, only their count and digest) and agency codes; never anything shown.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from services.hubkit.audit_trail import CHILD_KEY_FORM, ROLE_FORM, recorded_token
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "NOTICE_IDS_LISTED",
    "consultation_part",
    "notice_ids_digest",
    "recorded_feed",
    "text_digest",
    "well_formed_notice_id",
]

NOTICE_IDS_LISTED = 50
"""A view of more notices is recorded by count and digest, not listed: one event per view
stays small whatever the child's history."""


def text_digest(text: str) -> str:
    """How free text (a rationale, a reason, a question, findings) is recorded: its SHA-256
    only, since it may name people."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def well_formed_notice_id(value: str) -> str | None:
    """The notice id in its canonical UUID form; None for any other text."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError):
        return None


def notice_ids_digest(notice_ids: Iterable[str]) -> str:
    """'sha256:' + hex SHA-256 of the ids, sorted and joined with a line feed."""
    return text_digest("\n".join(sorted(notice_ids)))


def recorded_feed(subscriber: SubscriberEntry | None) -> dict[str, Any] | None:
    """The feed a person read, as the event's Recipient (safehub.gateway.Recipient)."""
    if subscriber is None:
        return None
    return {
        "subscriber_id": subscriber.subscriber_id,
        "agency": subscriber.agency,
        "organisation": subscriber.organisation,
        "role": subscriber.role,
        "team": subscriber.team,
    }


def consultation_part(
    *,
    purpose: str,
    subject_linkage_key: str,
    child_keys: Iterable[str],
    notice_ids: Iterable[str],
    source_agencies: Iterable[str],
    live_update: bool,
) -> dict[str, Any]:
    """The `consultation` part of a view (safehub.audit.Consultation); `purpose` a
    ConsultationPurpose symbol."""
    # Feed notice ids are UUIDs (the gateway checked them); one that is not is counted and in
    # the digest, never listed.
    ids = sorted({well_formed_notice_id(n) or n for n in notice_ids})
    listed = [n for n in ids if well_formed_notice_id(n) == n]
    return {
        "purpose": purpose,
        "subject_linkage_key": recorded_token(subject_linkage_key, CHILD_KEY_FORM),
        "child_keys": sorted({recorded_token(k, CHILD_KEY_FORM) for k in child_keys}),
        "notice_count": len(ids),
        "notice_ids": listed if len(ids) <= NOTICE_IDS_LISTED else [],
        "notice_ids_sha256": notice_ids_digest(ids),
        "source_agencies": sorted({recorded_token(a, ROLE_FORM) for a in source_agencies}),
        "live_update": live_update,
    }
