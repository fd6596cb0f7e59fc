"""Opening a feed record: the one check every feed reader makes before it believes an item.

A feed item counts only if the hub's gateway sealed it (an agency's or the console's key
never makes one) and, when the reader says who it is, only if it was made for that
subscriber. Everything else is refused with a reason code a reader can count and log
(never the item's content).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import FeedItemUnverified, HubError
from services.hubkit.topology import GATEWAY_PRINCIPAL

__all__ = ["FeedMessage", "open_feed_item", "open_feed_message"]

FEED_MESSAGE_TYPES = (
    MessageType.FEED_ITEM,
    MessageType.FEED_RETRACTION,
    MessageType.BREAK_GLASS_ALERT,
    MessageType.BREAK_GLASS_REFUSAL,
)
"""What a feed topic carries: a view of a notice, the withdrawal of one, and (issue 18) the
owning agency's alert that emergency access was granted over its notice, or the requesting
desk's answer that its emergency access request was refused."""


@dataclass(frozen=True, slots=True)
class FeedMessage:
    message_type: MessageType
    """One of FEED_MESSAGE_TYPES."""
    record: dict[str, Any]


def open_feed_item(
    catalog: SchemaCatalog,
    hub_keys: KeyDirectory,
    value: bytes,
    *,
    subscriber_id: str | None = None,
) -> dict[str, Any]:
    """The FeedItem in `value`, verified; FeedItemUnverified (with a reason) otherwise."""
    message = open_feed_message(catalog, hub_keys, value, subscriber_id=subscriber_id)
    if message.message_type is not MessageType.FEED_ITEM:
        raise FeedItemUnverified("unverifiable", "the payload is not a feed item")
    return message.record


def open_feed_message(
    catalog: SchemaCatalog,
    hub_keys: KeyDirectory,
    value: bytes,
    *,
    subscriber_id: str | None = None,
) -> FeedMessage:
    """The feed message (any of FEED_MESSAGE_TYPES) in `value`, verified as `open_feed_item`
    verifies an item; FeedItemUnverified (with a reason) otherwise."""
    try:
        verified = open_envelope(catalog, value, hub_keys)
    except HubError as error:
        raise FeedItemUnverified(
            "unverifiable",
            f"the record does not verify as a sealed envelope ({type(error).__name__})",
        ) from None
    if verified.owner != GATEWAY_PRINCIPAL:
        raise FeedItemUnverified(
            "not_signed_by_hub", f"the item is signed by {verified.owner}, not the hub's gateway"
        )
    for message_type in FEED_MESSAGE_TYPES:
        try:
            record = catalog.decode(verified.payload, message_type)
        except HubError:
            continue
        if subscriber_id is not None and record["subscriber_id"] != subscriber_id:
            raise FeedItemUnverified("wrong_subscriber", "the item was made for another subscriber")
        return FeedMessage(message_type, record)
    raise FeedItemUnverified("unverifiable", "the payload is none of the records a feed carries")
