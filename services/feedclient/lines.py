"""The feed client's pure core: one feed record in, one JSON line (or a rejection) out.

Every record is checked before anything is written: the hub's seal and that it was made for
this subscriber (hubkit.feed_items.open_feed_message), and, for a feed item that carries the
agency's per-field signature, every field of its view (hubkit.item_provenance). A record
that fails either check becomes a `Rejected` with its reason code and position, never a
line: a forged or altered item must never reach a case system.

No I/O, no clock: the caller passes the schema catalog and the trusted key directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import FeedItemUnverified, ProvenanceInvalid
from services.hubkit.feed_items import open_feed_message
from services.hubkit.item_provenance import item_provenance
from services.hubkit.notice import to_json_value

__all__ = ["KINDS", "FeedLine", "FeedPosition", "Rejected", "read_record"]

KINDS: Mapping[MessageType, str] = {
    MessageType.FEED_ITEM: "item",
    MessageType.FEED_RETRACTION: "withdrawal",
    MessageType.BREAK_GLASS_ALERT: "emergency-alert",
    MessageType.BREAK_GLASS_REFUSAL: "refusal",
}
"""A line's `kind` for each message a feed carries (hubkit.feed_items.FEED_MESSAGE_TYPES)."""

_DECISION_ID = {
    MessageType.FEED_ITEM: "decision_id",
    MessageType.FEED_RETRACTION: "decision_id",
    MessageType.BREAK_GLASS_ALERT: "alert_id",
    MessageType.BREAK_GLASS_REFUSAL: "decision_id",
}
"""Where each message names the id of the audit record committed with it."""


@dataclass(frozen=True, slots=True)
class FeedPosition:
    topic: str
    partition: int
    offset: int

    @property
    def label(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class FeedLine:
    """A verified feed message as the JSON object the client writes (or posts)."""

    position: FeedPosition
    kind: str
    decision_id: str
    """The id of the audit record committed with the message: unique per message, so the
    webhook's idempotency key."""
    body: Mapping[str, Any]

    def text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that is not written as an item, and why (reason codes, no content)."""

    position: FeedPosition
    check: Literal["seal", "field_provenance", "receiver"]
    reason: str
    detail: str
    notice_id: str | None = None
    """Named only once the hub's seal verified (before that, nothing in it is trusted)."""
    line: FeedLine | None = None
    """For a verified line the webhook refused: the line itself, to send again by hand."""

    def text(self) -> str:
        entry: dict[str, Any] = {
            "rejected": True,
            "check": self.check,
            "reason": self.reason,
            "detail": self.detail,
            "notice_id": self.notice_id,
            "feed": self.position.as_json(),
        }
        if self.line is not None:
            entry["line"] = self.line.body
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))

    @property
    def summary(self) -> str:
        """One report line: position, check and reason (ids only, never content)."""
        about = f" notice {self.notice_id}" if self.notice_id else ""
        return f"REJECT {self.position.label} {self.check} {self.detail}{about}"


def read_record(
    value: bytes | None,
    position: FeedPosition,
    *,
    catalog: SchemaCatalog,
    keys: KeyDirectory,
    subscriber_id: str,
) -> FeedLine | Rejected:
    """Check one feed record (module docstring) and render it as a line, or reject it."""
    if value is None:
        return Rejected(position, "seal", "unverifiable", "the record has no value")
    try:
        message = open_feed_message(catalog, keys, value, subscriber_id=subscriber_id)
    except FeedItemUnverified as error:
        return Rejected(position, "seal", error.reason, str(error))
    record = message.record
    notice_id = str(record["notice_id"])
    provenance: dict[str, Any] = {"sealed_by_hub": True, "fields": "none-carried"}
    if message.message_type is MessageType.FEED_ITEM:
        try:
            json.loads(record["view_json"])
        except ValueError:
            return Rejected(position, "seal", "malformed", "the item's view is not JSON", notice_id)
        try:
            checked = item_provenance(record, keys)
        except ProvenanceInvalid as error:
            detail = f"{error}" if error.path is None else f"{error.reason}: {error.path}"
            return Rejected(position, "field_provenance", error.reason, detail, notice_id)
        if checked is None:
            provenance["fields"] = "unsigned"
            provenance["why"] = (
                "no agency signature: the source agency is withheld from you, or its notice "
                "carried none; the fields rest on the hub's seal"
            )
        else:
            provenance.update(
                fields="checked",
                signer=checked.signer,
                key_id=checked.key_id,
                checked=list(checked.verified),
                raised_by_hub=list(checked.raised),
                hub_only=list(checked.hub_only),
            )
    kind = KINDS[message.message_type]
    decision_id = str(record[_DECISION_ID[message.message_type]])
    return FeedLine(
        position=position,
        kind=kind,
        decision_id=decision_id,
        body={
            "notice_id": notice_id,
            "subscriber_id": record["subscriber_id"],
            "kind": kind,
            "decision_id": decision_id,
            **_content(message.message_type, record),
            "provenance": provenance,
            "feed": position.as_json(),
        },
    )


def _content(message_type: MessageType, record: Mapping[str, Any]) -> dict[str, Any]:
    """The message's own fields as JSON; an item's view parsed, its notice hash in hex and
    its agency presentation left out (the line carries the verdict of checking it)."""
    skip = {"notice_id", "subscriber_id", _DECISION_ID[message_type]}
    content: dict[str, Any] = {}
    for name, value in record.items():
        if name in skip:
            continue
        if message_type is MessageType.FEED_ITEM and name == "view_json":
            content["view"] = json.loads(value)
        elif message_type is MessageType.FEED_ITEM and name == "notice_sha256":
            content["notice_sha256"] = bytes(value).hex()
        elif message_type is MessageType.FEED_ITEM and name == "field_provenance":
            continue
        else:
            content[name] = to_json_value(value)
    return content
