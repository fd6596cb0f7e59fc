"""What the gateway writes for one notice: audit records, feed items, or a dead letter.

Pure: the caller supplies the decision, the clock and the revision, and writes the returned
messages in one Kafka transaction together with the consumed offset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.gateway.domain.decisions import SharingDecision
from services.gateway.domain.intake import AcceptedNotice
from services.gateway.domain.records import (
    audit_record,
    dead_letter,
    feed_item,
    redacted_view_json,
    rejection_audit_record,
)
from services.gateway.domain.redaction import present_paths, withheld_paths
from services.gateway.errors import NoticeRejected
from services.hubkit.codec import MessageType
from services.hubkit.topology import AUDIT_TOPIC, DEADLETTER_TOPIC, Topology

__all__ = ["OutboundMessage", "messages_for_decisions", "messages_for_rejection"]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    topic: str
    key: bytes | None
    message_type: MessageType
    record: dict[str, Any]
    signed: bool
    """Feed items are re-signed by the hub so a recipient can check where a view came from."""


def messages_for_decisions(
    *,
    accepted: AcceptedNotice,
    decisions: dict[str, SharingDecision],
    topology: Topology,
    policy_revision: str,
    decided_at: dt.datetime,
    relay_contact: Mapping[str, str | None],
) -> list[OutboundMessage]:
    notice = accepted.notice
    key = str(notice["subject"]["linkage_key"]).encode()
    held = present_paths(notice)  # once per notice, not once per subscriber
    # Subscribers often share a permitted set: its withheld paths and its view are worked
    # out once per notice.
    withheld_for: dict[tuple[str, ...], tuple[str, ...]] = {}
    views: dict[tuple[str, ...], str] = {}
    messages: list[OutboundMessage] = []
    for subscriber in topology.subscribers:
        decision = decisions[subscriber.subscriber_id]
        # The same paths are withheld in the audit record and in the feed item.
        permitted = decision.permitted_fields if decision.discloses else ()
        withheld = withheld_for.get(permitted)
        if withheld is None:
            withheld = withheld_for[permitted] = withheld_paths(notice, permitted, held=held)
        # Audit first in the batch; the transaction makes both visible together or neither.
        messages.append(
            OutboundMessage(
                AUDIT_TOPIC,
                key,
                MessageType.AUDIT_RECORD,
                audit_record(
                    notice=notice,
                    decision=decision,
                    subscriber=subscriber,
                    policy_revision=policy_revision,
                    decided_at=decided_at,
                    withheld=withheld,
                ),
                signed=False,
            )
        )
        if decision.discloses:
            view_json = views.get(permitted)
            if view_json is None:
                view_json = views[permitted] = redacted_view_json(notice, permitted)
            messages.append(
                OutboundMessage(
                    subscriber.feed_topic,
                    key,
                    MessageType.FEED_ITEM,
                    feed_item(
                        notice=notice,
                        decision=decision,
                        policy_revision=policy_revision,
                        envelope_sha256=accepted.envelope_sha256,
                        decided_at=decided_at,
                        relay_contact=relay_contact,
                        withheld=withheld,
                        view_json=view_json,
                    ),
                    signed=True,
                )
            )
    return messages


def messages_for_rejection(
    *,
    rejection: NoticeRejected,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    key: bytes | None,
    value: bytes,
    rejected_at: dt.datetime,
) -> list[OutboundMessage]:
    return [
        OutboundMessage(
            AUDIT_TOPIC,
            key,
            MessageType.AUDIT_RECORD,
            rejection_audit_record(
                reason=rejection.reason,
                detail=rejection.detail,
                notice_id=rejection.notice_id,
                rejected_at=rejected_at,
                source_topic=source_topic,
                source_partition=source_partition,
                source_offset=source_offset,
            ),
            signed=False,
        ),
        OutboundMessage(
            DEADLETTER_TOPIC,
            key,
            MessageType.DEAD_LETTER,
            dead_letter(
                reason=rejection.reason,
                detail=rejection.detail,
                notice_id=rejection.notice_id,
                key=key,
                value=value,
                rejected_at=rejected_at,
                source_topic=source_topic,
                source_partition=source_partition,
                source_offset=source_offset,
            ),
            signed=False,
        ),
    ]
