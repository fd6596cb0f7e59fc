"""The indexer's pure core: audit records in, log entries and append plans out.

No I/O, no clock, no id generation: the edge passes bytes, decoded records, times and ids in.

What a leaf is
    Leaf data are the exact bytes the gateway committed to `audit.decisions.v1` (Avro
    single-object encoding: C3 01, the schema fingerprint, the body), so anyone holding a
    record as it travelled can hash it (RFC 9162 `leaf_hash`) and check its inclusion, and
    the bytes name their own schema. IG queries against the log are leaves too (`ACCESS`
    entries), encoded as `ACCESS_PREFIX` + canonical JSON; the prefix can never begin an
    Avro single-object message (which starts with 0xC3), so the two kinds never collide.

Idempotency (what a re-delivered record does)
    Every entry has an `entry_id`: the record's decision id, the access id of an IG query,
    or `undecodable:<leaf hash>` for bytes that do not decode. The pair (entry_id, leaf hash)
    is unique in the store. After a crash between the database commit and the Kafka offset
    commit, the consumer re-reads records already logged; each is the same decision id with
    the same bytes, so `plan_appends` skips it and the tree does not grow twice.
    A *different* record with a logged decision id (a gateway that re-decided a notice after
    a crash, e.g. with a later `decided_at` or another policy revision) is a second event that
    really happened and may have disclosed again: it is appended, never dropped, and marked
    `duplicate_of` the first leaf of that decision id. IG queries show it with that mark.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.merkle import CompactRange, SubtreeNode, leaf_hash
from services.audit.errors import StorageCorrupt
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError

__all__ = [
    "ACCESS_PREFIX",
    "AccessEvent",
    "AppendPlan",
    "EntryKind",
    "IndexColumns",
    "LogEntry",
    "PlannedLeaf",
    "SourcePosition",
    "decode_access",
    "entry_for_access",
    "entry_for_bytes",
    "entry_for_record",
    "entry_for_undecodable",
    "plan_appends",
    "plan_checkpoint",
    "to_ms",
]

ACCESS_PREFIX = b"safehub.audit.access.v1\n"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class EntryKind(StrEnum):
    DECISION = "decision"
    """An AuditRecord from the gateway (sharing decision, rejection, refused access)."""
    ACCESS = "access"
    """An IG query against this log."""
    UNDECODABLE = "undecodable"
    """Bytes on the audit topic that do not decode: logged as they are, never dropped."""


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a record was read: the Kafka topic, partition and offset."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class IndexColumns:
    """The columns IG queries filter on, copied out of the record. The leaf bytes stay the
    truth: reports decode the bytes, the columns only find them."""

    event: str | None = None
    notice_id: str | None = None
    notice_type: str | None = None
    subject_linkage_key: str | None = None
    recipient_subscriber_id: str | None = None
    recipient_agency: str | None = None
    recipient_organisation: str | None = None
    recipient_role: str | None = None
    decided_at_ms: int | None = None
    disclosed_at_ms: int | None = None
    outcome: str | None = None
    purpose: str | None = None
    policy_revision: str | None = None
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One thing to append: its bytes, their leaf hash, its id and its index columns."""

    kind: EntryKind
    entry_id: str
    data: bytes
    leaf_hash: bytes
    columns: IndexColumns
    source: SourcePosition | None = None


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """An IG officer's query, logged before it runs (no log entry, no answer)."""

    access_id: str
    at_ms: int
    actor: str
    roles: tuple[str, ...]
    action: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    allowed: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "access_id": self.access_id,
            "at_ms": self.at_ms,
            "actor": self.actor,
            "roles": sorted(self.roles),
            "action": self.action,
            "parameters": dict(sorted(self.parameters.items())),
            "allowed": self.allowed,
        }


def to_ms(value: dt.datetime | int | None) -> int | None:
    """Milliseconds since the Unix epoch (UTC) of a decoded timestamp-millis value."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    # Integer arithmetic: float seconds * 1000 can land a millisecond short.
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def entry_for_record(
    *, data: bytes, record: Mapping[str, Any], source: SourcePosition | None = None
) -> LogEntry:
    """A decoded AuditRecord (`data` are its bytes as consumed) as a log entry."""
    recipient = record.get("recipient") or {}
    return LogEntry(
        kind=EntryKind.DECISION,
        entry_id=str(record["decision_id"]),
        data=data,
        leaf_hash=leaf_hash(data),
        columns=IndexColumns(
            event=_text(record.get("event")),
            notice_id=_text(record.get("notice_id")),
            notice_type=_text(record.get("notice_type")),
            subject_linkage_key=_text(record.get("subject_linkage_key")),
            recipient_subscriber_id=_text(recipient.get("subscriber_id")),
            recipient_agency=_text(recipient.get("agency")),
            recipient_organisation=_text(recipient.get("organisation")),
            recipient_role=_text(recipient.get("role")),
            decided_at_ms=to_ms(record.get("decided_at")),
            disclosed_at_ms=to_ms(record.get("disclosed_at")),
            outcome=_text(record.get("outcome")),
            purpose=_text(record.get("purpose")),
            policy_revision=_text(record.get("policy_revision")),
            rule_ids=tuple(sorted(set(record.get("rule_ids") or ()))),
        ),
        source=source,
    )


def entry_for_undecodable(*, data: bytes, source: SourcePosition | None = None) -> LogEntry:
    digest = leaf_hash(data)
    return LogEntry(
        kind=EntryKind.UNDECODABLE,
        entry_id=f"undecodable:{digest.hex()}",
        data=data,
        leaf_hash=digest,
        columns=IndexColumns(event="UNDECODABLE"),
        source=source,
    )


def entry_for_bytes(
    catalog: SchemaCatalog, data: bytes, source: SourcePosition | None = None
) -> LogEntry:
    """Decode a record from the audit topic; bytes that do not decode are still logged."""
    try:
        record = catalog.decode(data, MessageType.AUDIT_RECORD)
    except CodecError:
        return entry_for_undecodable(data=data, source=source)
    return entry_for_record(data=data, record=record, source=source)


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_for_access(event: AccessEvent) -> LogEntry:
    data = ACCESS_PREFIX + _canonical_json(event.as_json())
    return LogEntry(
        kind=EntryKind.ACCESS,
        entry_id=event.access_id,
        data=data,
        leaf_hash=leaf_hash(data),
        columns=IndexColumns(
            event="IG_QUERY" if event.allowed else "IG_QUERY_REFUSED",
            subject_linkage_key=event.parameters.get("subject_linkage_key"),
            notice_id=event.parameters.get("notice_id"),
            decided_at_ms=event.at_ms,
        ),
    )


def decode_access(data: bytes) -> dict[str, Any]:
    """The JSON of an ACCESS leaf; ValueError if the bytes are not one."""
    if not data.startswith(ACCESS_PREFIX):
        raise ValueError("not an access entry")
    value = json.loads(data[len(ACCESS_PREFIX) :])
    if not isinstance(value, dict):
        raise ValueError("access entry is not a JSON object")
    return value


# ---------------------------------------------------------------------------------------------
# Appending


@dataclass(frozen=True, slots=True)
class PlannedLeaf:
    leaf_index: int
    entry: LogEntry
    duplicate_of: int | None


@dataclass(frozen=True, slots=True)
class AppendPlan:
    """What one batch does to the log: leaves to insert at fixed indices, entries skipped as
    re-deliveries, the perfect subtrees completed (level >= 1; level 0 are the leaves) and the
    right edge of the tree afterwards."""

    leaves: tuple[PlannedLeaf, ...]
    skipped: tuple[LogEntry, ...]
    nodes: tuple[SubtreeNode, ...]
    range: CompactRange

    @property
    def duplicates(self) -> int:
        return sum(1 for leaf in self.leaves if leaf.duplicate_of is not None)


def plan_appends(
    *,
    range: CompactRange,
    entries: Sequence[LogEntry],
    known: Mapping[str, Mapping[bytes, int]],
) -> AppendPlan:
    """Plan a batch against the tree's right edge.

    `known` maps each entry id already in the log to {leaf hash: leaf index}, for the ids in
    this batch. Entries whose (id, hash) is known, in the log or earlier in the batch, are
    re-deliveries and skipped; new leaves take the next indices in order.
    """
    seen: dict[str, dict[bytes, int]] = {k: dict(v) for k, v in known.items()}
    leaves: list[PlannedLeaf] = []
    skipped: list[LogEntry] = []
    nodes: list[SubtreeNode] = []
    current = range
    for entry in entries:
        logged = seen.setdefault(entry.entry_id, {})
        if entry.leaf_hash in logged:
            skipped.append(entry)
            continue
        index = current.size
        duplicate_of = min(logged.values()) if logged else None
        current, completed = current.append_with_nodes(entry.leaf_hash)
        nodes.extend(n for n in completed if n.level > 0)
        logged[entry.leaf_hash] = index
        leaves.append(PlannedLeaf(index, entry, duplicate_of))
    return AppendPlan(tuple(leaves), tuple(skipped), tuple(nodes), current)


def plan_checkpoint(
    *,
    origin: str,
    tree_size: int,
    root_hash: bytes,
    previous: Checkpoint | None,
    now_ms: int,
) -> Checkpoint | None:
    """The next checkpoint to sign, or None when the tree is empty or has not grown since
    `previous`. Raises StorageCorrupt if the tree is smaller than what the log already signed.

    Timestamps never go backwards, even if the clock does, so checkpoints order by time too.
    """
    if previous is not None and tree_size < previous.tree_size:
        raise StorageCorrupt(
            f"the stored tree has {tree_size} leaves but the log already signed size "
            f"{previous.tree_size}; refusing to sign a truncated log"
        )
    if tree_size == 0 or (previous is not None and previous.tree_size == tree_size):
        return None
    timestamp = now_ms if previous is None else max(now_ms, previous.timestamp_ms + 1)
    return Checkpoint(
        origin=origin, tree_size=tree_size, root_hash=root_hash, timestamp_ms=timestamp
    )
