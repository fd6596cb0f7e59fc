"""What the gateway writes for one notice: audit records, feed items, or a dead letter.

Pure: the caller supplies the decisions, the disclosure limits, the clock and the revision,
and writes the returned messages in one Kafka transaction together with the consumed offset.
Every decision is checked against its recipient's ceiling here, before any record is built,
so nothing that builds records can skip the check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.gateway.domain.ceiling import CeilingBreach, enforce_ceiling
from services.gateway.domain.intake import AcceptedNotice
from services.gateway.domain.provenance import view_presentation
from services.gateway.domain.records import (
    audit_record,
    dead_letter,
    feed_item,
    redacted_view_json,
    rejection_audit_record,
)
from services.gateway.domain.redaction import present_paths, withheld_paths
from services.gateway.errors import NoticeRejected
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType
from services.hubkit.sharing_decisions import SharingDecision
from services.hubkit.topology import AUDIT_TOPIC, DEADLETTER_TOPIC, Topology

__all__ = ["DecidedNotice", "OutboundMessage", "messages_for_decisions", "messages_for_rejection"]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    topic: str
    key: bytes | None
    message_type: MessageType
    record: dict[str, Any]
    signed: bool
    """Feed items are re-signed by the hub so a recipient can check where a view came from;
    audit records are signed by the hub so the audit log can tell a decision from a forgery
    (`services.hubkit.audit_trail`)."""


@dataclass(frozen=True, slots=True)
class DecidedNotice:
    messages: list[OutboundMessage]
    decisions: tuple[SharingDecision, ...]
    """As applied, one per subscriber: a decision beyond its ceiling is here as the DENY that
    replaced it."""
    breaches: tuple[CeilingBreach, ...]
    """The decisions withheld for exceeding their recipient's ceiling, for metrics and logs."""


def messages_for_decisions(
    *,
    accepted: AcceptedNotice,
    decisions: Mapping[str, SharingDecision],
    topology: Topology,
    limits: DisclosureLimits,
    policy_revision: str,
    decided_at: dt.datetime,
    relay_contact: Mapping[str, str | None],
) -> DecidedNotice:
    notice = accepted.notice
    notice_id = str(notice["notice_id"])
    notice_type = str(notice["notice_type"])
    key = str(notice["subject"]["linkage_key"]).encode()
    held = present_paths(notice)  # once per notice, not once per subscriber
    # Subscribers often share a permitted set: its withheld paths, its view and the view's
    # field signatures are worked out once per notice.
    withheld_for: dict[tuple[str, ...], tuple[str, ...]] = {}
    views: dict[tuple[tuple[str, ...], str | None], tuple[str, str | None]] = {}
    messages: list[OutboundMessage] = []
    applied: list[SharingDecision] = []
    breaches: list[CeilingBreach] = []
    for subscriber in topology.subscribers:
        decision, breach = enforce_ceiling(
            decisions[subscriber.subscriber_id],
            subscriber=subscriber,
            notice_id=notice_id,
            notice_type=notice_type,
            ceilings=limits.ceilings,
            policy_revision=policy_revision,
        )
        applied.append(decision)
        if breach is not None:
            breaches.append(breach)
        permitted = decision.permitted_fields if decision.discloses else ()
        # The audit record and the feed item start from the same withheld paths (the feed
        # item leaves out the silent ones).
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
                signed=True,
            )
        )
        if decision.discloses:
            view_key = (permitted, decision.handling_caveat)
            cached = views.get(view_key)
            if cached is None:
                view = redacted_view_json(notice, permitted, decision.handling_caveat)
                cached = views[view_key] = (
                    view,
                    view_presentation(accepted.provenance, permitted),
                )
            view_json, presentation = cached
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
                        safeguarding_contacts=limits.safeguarding_contacts,
                        silent=limits.silent_paths,
                        withheld=withheld,
                        view_json=view_json,
                        field_provenance=presentation,
                    ),
                    signed=True,
                )
            )
    return DecidedNotice(messages, tuple(applied), tuple(breaches))


def messages_for_rejection(
    *,
    rejection: NoticeRejected,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    key: bytes | None,
    value: bytes,
    rejected_at: dt.datetime,
    keep_original: bool = True,
) -> list[OutboundMessage]:
    """The rejection's audit record and dead letter. With `keep_original=False` (a record too
    large to write, or one the broker refused) the dead letter keeps the original's size and
    SHA-256 instead of its bytes, and neither record is keyed by the original key: whatever
    made the notice unwritable must not make its dead letter unwritable too. The original
    stays at its source position until the notice topic's retention ends."""
    if not keep_original:
        rejection = NoticeRejected(
            rejection.reason,
            f"{rejection.detail} (original not kept here: {len(value)} bytes, key "
            f"{len(key or b'')} bytes, sha256 {hashlib.sha256(value).hexdigest()})",
            rejection.notice_id,
        )
        key, value = None, b""
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
            signed=True,
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
