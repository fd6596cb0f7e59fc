"""Opening a feed record: the one check every feed reader makes before it believes an item.

A feed item counts only if the hub's gateway sealed it (an agency's or the console's key
never makes one) and, when the reader says who it is, only if it was made for that
subscriber. Everything else is refused with a reason code a reader can count and log
(never the item's content).
"""

from __future__ import annotations

from typing import Any

from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import FeedItemUnverified, HubError
from services.hubkit.topology import GATEWAY_PRINCIPAL

__all__ = ["open_feed_item"]


def open_feed_item(
    catalog: SchemaCatalog,
    hub_keys: KeyDirectory,
    value: bytes,
    *,
    subscriber_id: str | None = None,
) -> dict[str, Any]:
    """The FeedItem in `value`, verified; FeedItemUnverified (with a reason) otherwise."""
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
    try:
        item = catalog.decode(verified.payload, MessageType.FEED_ITEM)
    except HubError as error:
        raise FeedItemUnverified(
            "unverifiable", f"the payload is not a feed item ({type(error).__name__})"
        ) from None
    if subscriber_id is not None and item["subscriber_id"] != subscriber_id:
        raise FeedItemUnverified("wrong_subscriber", "the item was made for another subscriber")
    return item
