"""Refusals: what the console does when a signed-in person asks for something outside their
feed, and the console access event that says so.

Golden rule 7 (record the decision and the reasons whether or not you share) and DPA 2018
s62 (log consultations, with who and when) apply to refusals too, so every 403 the console
answers becomes a ConsoleAccess event (schemas/avro/safehub.audit.ConsoleAccess.avsc) on
`audit.access.v1`, signed with the console's key, which the audit service logs in its
verifiable Merkle log beside the gateway's decisions but never as one.

The event holds ids, codes and enumerations only: the person's identity provider subject (an
opaque id, not a name) and role codes, each in a bounded form or else as a digest
(`services.hubkit.audit_trail.recorded_token`); the subscriber whose feed they read, from the
topology; the requested notice id only when it is a well-formed UUID. Nothing from the URL,
the form or the page, and nothing the person was refused, is ever copied in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.hubkit.audit_trail import ACTOR_FORM, ROLE_FORM, recorded_token, retention_review_date
from services.hubkit.topology import SubscriberEntry

__all__ = ["RefusalReason", "Requester", "access_refused_event", "well_formed_notice_id"]


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


def access_refused_event(
    *,
    access_id: str,
    requester: Requester,
    reason: RefusalReason,
    notice_id: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    """A ConsoleAccess event (schemas/avro/safehub.audit.ConsoleAccess.avsc), ACCESS_REFUSED.

    `notice_id` is kept only in its canonical UUID form; any other text becomes None."""
    subscriber = requester.subscriber
    return {
        "access_id": str(uuid.UUID(access_id)),
        "event": "ACCESS_REFUSED",
        "refusal_reason": reason.value,
        "at": at,
        "actor": recorded_token(requester.subject, ACTOR_FORM),
        "actor_roles": sorted({recorded_token(r, ROLE_FORM) for r in requester.roles}),
        "feed": None
        if subscriber is None
        else {
            "subscriber_id": subscriber.subscriber_id,
            "agency": subscriber.agency,
            "organisation": subscriber.organisation,
            "role": subscriber.role,
            "team": subscriber.team,
        },
        "notice_id": None if notice_id is None else well_formed_notice_id(notice_id),
        "retention_review_date": retention_review_date(at),
    }
