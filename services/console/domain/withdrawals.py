"""Withdrawn notices (issue 18): what the console keeps when an agency withdraws a notice it
shared, and what a recipient reads of it. Pure.

The hub's gateway delivers a FeedRetraction (schemas/avro/safehub.feed.FeedRetraction.avsc)
on the feed of every subscriber that received the original. The console then deletes the
item's content (its view, the withheld fields, the explanation) and keeps a tombstone: which
retraction, why (a word from a fixed list), which agency, when it was withdrawn and
delivered, and the child's pseudonymous key (so the child's page can say a record was
withdrawn). A tombstone is kept also for a notice the console never held (it may have been
before the console's retention), and a withdrawn notice is never stored again.

A person at the recipient desk acknowledges the withdrawal; the first acknowledgement of a
desk stands (who, their role, when) and is audited as a ConsoleAccess RETRACTION_ACKNOWLEDGED
event before it is kept.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.console.domain.feed import parse_time
from services.console.errors import FeedItemInvalid
from services.hubkit.retraction import RetractionReason

__all__ = [
    "Acknowledgement",
    "Withdrawal",
    "retraction_acknowledgement_access_id",
    "withdrawal_from_feed_retraction",
]

# Acknowledgement access ids: uuid5(this, "<retraction id> <subject>"): the same person
# submitting the form again is the same log entry; a colleague's is another.
_ACKNOWLEDGEMENTS = uuid.UUID("3b0f6a52-8d4e-5c1a-9f37-5afe11a6e018")


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Who at the recipient desk acknowledged a withdrawal, first."""

    subject: str
    name: str
    role: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The tombstone of one withdrawn notice in one subscriber's feed: no content."""

    retraction_id: str
    notice_id: str
    subscriber_id: str
    linkage_key: str
    source_agency: str
    reason: str
    replaced_by_notice_id: str | None
    retracted_at: dt.datetime
    delivered_at: dt.datetime
    acknowledged: Acknowledgement | None = None


def withdrawal_from_feed_retraction(record: Mapping[str, Any]) -> Withdrawal:
    """A decoded FeedRetraction record as a Withdrawal; raises FeedItemInvalid."""
    try:
        retracted = parse_time(record["retracted_at"])
        delivered = parse_time(record["delivered_at"])
        if retracted is None or delivered is None:
            raise FeedItemInvalid("a feed retraction without its times")
        reason = RetractionReason(str(record["reason"])).value
        replaced = record.get("replaced_by_notice_id")
        return Withdrawal(
            retraction_id=str(record["retraction_id"]),
            notice_id=str(record["notice_id"]),
            subscriber_id=str(record["subscriber_id"]),
            linkage_key=str(record["subject_linkage_key"]),
            source_agency=str(record["source_agency"]),
            reason=reason,
            replaced_by_notice_id=None if replaced is None else str(replaced),
            retracted_at=retracted,
            delivered_at=delivered,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FeedItemInvalid(
            f"feed retraction is not well formed: {type(error).__name__}"
        ) from None


def retraction_acknowledgement_access_id(retraction_id: str, subject: str) -> str:
    """The same id whenever this person's acknowledgement of this retraction is recorded."""
    return str(uuid.uuid5(_ACKNOWLEDGEMENTS, f"{retraction_id} {subject}"))
