"""Delivering a retraction (issue 18): to exactly the subscribers the original notice was
disclosed to, as recorded when it was decided (NoticeSeen.disclosed_to), never re-decided.
Pure: the caller looks up the original (DecidedNotices.original) and writes the returned
messages in one transaction with the consumed offset, in order with its partition's notices.

    original never decided (unknown, dead-lettered, or after it)   -> RETRACTION_OF_UNKNOWN_NOTICE
    the retraction's linkage key is not the original's             -> RETRACTION_KEY_MISMATCH
    otherwise, per recipient of the original: a FeedRetraction on its feed topic (keyed as its
    feed items are, by the linkage key) and a RETRACTION_DELIVERED audit record; plus the
    retraction's NoticeSeen (under the retraction id), so a second copy is DUPLICATE_NOTICE.

A recipient given DENY never had a feed item, so it is not told a notice it never saw was
withdrawn (that would itself disclose that the notice existed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from services.gateway.domain.intake import AcceptedRetraction
from services.gateway.domain.pipeline import OutboundMessage
from services.gateway.domain.records import feed_retraction, retraction_audit_record
from services.gateway.domain.replay import (
    DecidedCopy,
    PartitionName,
    notice_seen_record,
    subject_key_of,
    subject_key_sha256,
)
from services.gateway.errors import NoticeRejected
from services.hubkit.codec import MessageType
from services.hubkit.sharing_decisions import SharingDecision
from services.hubkit.topology import AUDIT_TOPIC, NOTICES_SEEN_TOPIC, SubscriberEntry

__all__ = ["disclosed_to_of", "messages_for_retraction", "retraction_rejection"]


def disclosed_to_of(applied: Iterable[SharingDecision]) -> tuple[str, ...]:
    """Who a notice was disclosed to, from its decisions as applied (after the ceilings):
    exactly the subscribers messages_for_decisions gives a feed item."""
    return tuple(decision.subscriber_id for decision in applied if decision.discloses)


def retraction_rejection(
    *, accepted: AcceptedRetraction, original: DecidedCopy | None, partition: PartitionName
) -> NoticeRejected | None:
    """Why the retraction cannot be delivered, or None. `original` is what was decided of
    the retracted notice before the retraction was read (None: nothing)."""
    notice_id = accepted.retracted_notice_id
    if original is None:
        return NoticeRejected(
            "RETRACTION_OF_UNKNOWN_NOTICE",
            "the retraction names a notice the hub has not decided (never received, "
            "dead-lettered, or published after the retraction): nobody holds it to withdraw; "
            "send the original first, or nothing needs withdrawing",
            notice_id,
        )
    if original.subject_key is not None:
        mismatch = original.subject_key != subject_key_of(
            subject_key_sha256(accepted.subject_linkage_key)
        )
    else:  # a notice decided before its key was recorded: its partition is all we know
        mismatch = (original.source_topic, original.source_partition) != partition
    if mismatch:
        return NoticeRejected(
            "RETRACTION_KEY_MISMATCH",
            "the retraction's linkage key is not the one the original notice carried; send "
            "it with, and keyed by, the original's linkage key",
            notice_id,
        )
    return None


def messages_for_retraction(
    *,
    accepted: AcceptedRetraction,
    original: DecidedCopy,
    subscribers: Mapping[str, SubscriberEntry],
    copy: DecidedCopy,
    delivered_at: dt.datetime,
) -> list[OutboundMessage]:
    """The retraction's records for its transaction: per recipient of the original (in the
    order recorded), its audit record then its FeedRetraction; then the retraction's NoticeSeen.
    `copy` is where the retraction was read; `subscribers` the topology's, by id.

    A recorded recipient that is no longer a subscriber has no feed topic to write to: it
    gets nothing here (the original's audit records still name it)."""
    retraction = accepted.retraction
    key = accepted.subject_linkage_key.encode()
    messages: list[OutboundMessage] = []
    for subscriber_id in original.disclosed_to or ():
        subscriber = subscribers.get(subscriber_id)
        if subscriber is None:
            continue
        messages.append(
            OutboundMessage(
                AUDIT_TOPIC,
                key,
                MessageType.AUDIT_RECORD,
                retraction_audit_record(
                    retraction=retraction,
                    subscriber=subscriber,
                    notice_type=original.notice_type,
                    delivered_at=delivered_at,
                ),
                signed=True,
            )
        )
        messages.append(
            OutboundMessage(
                subscriber.feed_topic,
                key,
                MessageType.FEED_RETRACTION,
                feed_retraction(
                    retraction=retraction, subscriber_id=subscriber_id, delivered_at=delivered_at
                ),
                signed=True,
            )
        )
    messages.append(
        OutboundMessage(
            NOTICES_SEEN_TOPIC,
            accepted.retraction_id.encode(),
            MessageType.NOTICE_SEEN,
            notice_seen_record(accepted=accepted, copy=copy, decided_at=delivered_at),
            signed=False,
        )
    )
    return messages
