"""The indexer's pure core: audit records in, log entries and append plans out.

No I/O, no clock, no id generation: the edge passes bytes, decoded records, times and ids in.

What a leaf is
    Two services write to the log, each on its own topic, each signing with its own key
    (`services.hubkit.audit_trail`): the gateway's decisions on `audit.decisions.v1` (an
    AuditRecord sealed with the hub key) and the console's access events on `audit.access.v1`
    (a ConsoleAccess event sealed with the console's key). A record that passes the check for
    its topic is logged as the exact bytes consumed (the SignedEnvelope, Avro single-object
    encoding: C3 01, the schema fingerprint, the body), so anyone holding the record as it
    travelled can hash it (RFC 9162 `leaf_hash`), check its inclusion and, with the producer's
    public key, who signed it. Logs written before records were signed hold bare AuditRecord
    bytes; readers accept both (`audit_trail.read_logged_record`).

    A record that fails the check (unsigned, unknown or wrong signer, bad signature, wrong
    schema, free text in an access event) is never entered as what it claims to be: it
    becomes a REJECTED entry, `REJECTED_PREFIX` + canonical JSON naming the reason, where it
    was read and the SHA-256 and length of its bytes. The bytes themselves are not logged, so
    whoever can write an audit topic still cannot put text of their choosing into the
    permanent log. IG queries against the log are leaves too (`ACCESS` entries, prefix
    `ACCESS_PREFIX`). Neither prefix can begin an Avro single-object message (which starts
    with 0xC3), so the kinds never collide.

Idempotency (what a re-delivered record does)
    Every entry has an `entry_id`: the record's decision id, the access id of a console
    access event or of an IG query, or `rejected:<sha256 of the record>` for a rejection.
    The pair (entry_id, leaf hash)
    is unique in the store. After a crash between the database commit and the Kafka offset
    commit, the consumer re-reads records already logged; each is the same decision id with
    the same bytes, so `plan_appends` skips it and the tree does not grow twice.
    A *different* record with a logged decision id (a gateway that re-decided a notice after
    a crash, e.g. with a later `decided_at` or another policy revision) is a second event that
    really happened and may have disclosed again: it is appended, never dropped, and marked
    `duplicate_of` the first leaf of that decision id. IG queries show it with that mark.

Entries that name a child commit to a salted hash (issue 18)
    An entry whose index columns name a child (`subject_linkage_key`: decisions, console
    accesses and IG queries about a child) is made here as above, then *committed* by the
    store when it appends it (`committed_entry`, with a salt from the child's secret, which
    only the store holds): the tree hashes `COMMITTED_PREFIX` + SHA-256(salt || record)
    (`services.audit.domain.commitment`) and the record as travelled becomes the entry's
    `opening`, kept sealed under the child's key beside the tree. Erasing a child deletes its
    key and openings; the leaves, and so every proof, stay as they were. Erasure itself is
    logged in three ERASURE entries (`entry_for_erasure`) that name no child in the clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.commitment import committed_leaf
from services.audit.domain.merkle import CompactRange, SubtreeNode, leaf_hash
from services.audit.errors import StorageCorrupt
from services.hubkit.audit_trail import (
    ACCESS_STREAM,
    DECISION_STREAM,
    RejectionReason,
    open_audit_record,
)
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import AuditRecordRejected, CodecError, UnknownSigningKey

__all__ = [
    "ACCESS_PREFIX",
    "ERASURE_PREFIX",
    "REJECTED_PREFIX",
    "AccessEvent",
    "AppendPlan",
    "EntryKind",
    "ErasureEvent",
    "ErasurePhase",
    "IndexColumns",
    "LogEntry",
    "PlannedLeaf",
    "SourcePosition",
    "committed_entry",
    "decode_access",
    "decode_erasure",
    "decode_rejected",
    "entry_for_access",
    "entry_for_bytes",
    "entry_for_console_access",
    "entry_for_erasure",
    "entry_for_record",
    "entry_for_rejected",
    "entry_for_undecodable",
    "plan_appends",
    "plan_checkpoint",
    "to_ms",
]

ACCESS_PREFIX = b"safehub.audit.access.v1\n"
REJECTED_PREFIX = b"safehub.audit.rejected.v1\n"
ERASURE_PREFIX = b"safehub.audit.erasure.v1\n"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class EntryKind(StrEnum):
    DECISION = "decision"
    """An AuditRecord signed by the hub (sharing decision, notice rejected; in logs from
    before access events had their own topic, a console refusal)."""
    CONSOLE_ACCESS = "console_access"
    """A ConsoleAccess event signed by the console (a refusal)."""
    ACCESS = "access"
    """An IG query against this log."""
    REJECTED = "rejected"
    """A record on an audit topic that failed its topic's check: its digest and the reason,
    never its bytes, never a decision."""
    UNDECODABLE = "undecodable"
    """Bytes that did not decode, logged as they were (only in logs from before records were
    signed; such bytes are now REJECTED)."""
    ERASURE = "erasure"
    """One step of erasing a child (intent, deletion, confirmation): names no child in the
    clear, is never committed, and stays readable after the erasure it records."""


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
    """One thing to append: its leaf input, its leaf hash, its id and its index columns."""

    kind: EntryKind
    entry_id: str
    data: bytes
    """The leaf input: the bytes the tree hashes (`leaf_hash`). For a committed entry the
    commitment (`COMMITTED_PREFIX` + 32 bytes), otherwise the record as logged."""
    leaf_hash: bytes
    columns: IndexColumns
    source: SourcePosition | None = None
    rejection: RejectionReason | None = None
    """For a REJECTED entry, why (for metrics and logs; the leaf holds it too)."""
    opening: bytes | None = None
    """For a committed entry, the record as travelled (what `data` commits to, with the
    salt); None for an entry logged as it is."""

    @property
    def record(self) -> bytes:
        """The readable bytes: the opening of a committed entry, else the leaf input."""
        return self.data if self.opening is None else self.opening


def committed_entry(entry: LogEntry, *, salt: bytes) -> LogEntry:
    """`entry` (made as it travelled) as a committed entry: the leaf input is the commitment
    to its record under `salt`, the record its opening. Only entries naming a child are
    committed (`IndexColumns.subject_linkage_key`); the store derives the salt from that
    child's secret (`commitment.leaf_salt`). Committing twice is an error."""
    if entry.opening is not None:
        raise ValueError(f"entry {entry.entry_id} is already committed")
    leaf = committed_leaf(salt, entry.data)
    return LogEntry(
        kind=entry.kind,
        entry_id=entry.entry_id,
        data=leaf,
        leaf_hash=leaf_hash(leaf),
        columns=entry.columns,
        source=entry.source,
        rejection=entry.rejection,
        opening=entry.data,
    )


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


def entry_for_console_access(
    *, data: bytes, record: Mapping[str, Any], source: SourcePosition | None = None
) -> LogEntry:
    """A checked ConsoleAccess event (`data` are the signed bytes as consumed)."""
    feed = record.get("feed") or {}
    return LogEntry(
        kind=EntryKind.CONSOLE_ACCESS,
        entry_id=str(record["access_id"]),
        data=data,
        leaf_hash=leaf_hash(data),
        columns=IndexColumns(
            event=_text(record.get("event")),
            notice_id=_text(record.get("notice_id")),
            # An agency check, a view or an amendment names its child: a subject access
            # request finds it by key ("who saw my records").
            subject_linkage_key=_text(
                (record.get("research") or {}).get("child_key")
                or (record.get("consultation") or {}).get("subject_linkage_key")
                or (record.get("amendment") or {}).get("child_key")
            ),
            purpose=_text((record.get("consultation") or {}).get("purpose")),
            recipient_subscriber_id=_text(feed.get("subscriber_id")),
            recipient_agency=_text(feed.get("agency")),
            recipient_organisation=_text(feed.get("organisation")),
            recipient_role=_text(feed.get("role")),
            decided_at_ms=to_ms(record.get("at")),
        ),
        source=source,
    )


def entry_for_rejected(
    *,
    data: bytes,
    rejected: AuditRecordRejected,
    source: SourcePosition,
    signer: str | None = None,
) -> LogEntry:
    """A record that failed its topic's check, as a REJECTED entry: where it was read, why,
    and the SHA-256 and length of its bytes (so it can be matched to the topic), never the
    bytes themselves. `signer` is the owner of the trusted key it claims, if any."""
    reason = RejectionReason(rejected.reason)
    digest = hashlib.sha256(data).hexdigest()
    body = {
        "reason": reason.value,
        "detail": rejected.detail,
        "topic": source.topic,
        "partition": source.partition,
        "offset": source.offset,
        "sha256": digest,
        "length": len(data),
        "claimed_signer": signer,
    }
    leaf = REJECTED_PREFIX + _canonical_json(body)
    return LogEntry(
        kind=EntryKind.REJECTED,
        entry_id=f"rejected:{digest}",
        data=leaf,
        leaf_hash=leaf_hash(leaf),
        columns=IndexColumns(event="REJECTED"),
        source=source,
        rejection=reason,
    )


def entry_for_bytes(
    catalog: SchemaCatalog, data: bytes, *, keys: KeyDirectory, source: SourcePosition
) -> LogEntry:
    """Check a record read from an audit topic and make its entry: a decision (hub-signed
    AuditRecord on the decisions topic), a console access event (console-signed ConsoleAccess
    on the access topic), or a rejection. Nothing read from an audit topic is dropped."""
    try:
        opened = open_audit_record(catalog, data, keys, topic=source.topic)
    except AuditRecordRejected as rejected:
        return entry_for_rejected(
            data=data, rejected=rejected, source=source, signer=_claimed_signer(catalog, data, keys)
        )
    if opened.stream is DECISION_STREAM:
        return entry_for_record(data=data, record=opened.record, source=source)
    assert opened.stream is ACCESS_STREAM
    return entry_for_console_access(data=data, record=opened.record, source=source)


def _claimed_signer(catalog: SchemaCatalog, data: bytes, keys: KeyDirectory) -> str | None:
    """The owner of the trusted key a rejected envelope names (an investigator's first
    question: whose key was misused?); None if it names no trusted key or is no envelope."""
    try:
        return keys.get(str(catalog.decode(data, MessageType.ENVELOPE)["key_id"])).owner
    except (CodecError, UnknownSigningKey):
        return None


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


class ErasurePhase(StrEnum):
    """The three steps of erasing a child, each its own entry, in this order."""

    INTENT = "intent"
    """Before anything is deleted: what will be erased, why, and in which stores."""
    DELETION = "deletion"
    """The keys and openings are deleted: how many items in each store."""
    CONFIRMATION = "confirmation"
    """Checked afterwards: nothing of the child opens anywhere the hub controls."""


@dataclass(frozen=True, slots=True)
class ErasureEvent:
    """One step of an erasure, as the erasure job logs it.

    `child_ref` is the audit store's keyed reference to the child (never the linkage key);
    the entry holds only its SHA-256, enough to match the three steps of one erasure.
    `stores` maps each store's name to a count (items to erase, erased, or still readable)."""

    erasure_id: str
    phase: ErasurePhase
    at_ms: int
    actor: str
    record_type: str
    rule: str
    child_ref: str
    stores: Mapping[str, int] = field(default_factory=dict)
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "phase": ErasurePhase(self.phase).value,
            "at_ms": self.at_ms,
            "actor": self.actor,
            "record_type": self.record_type,
            "rule": self.rule,
            "child_ref_digest": hashlib.sha256(self.child_ref.encode()).hexdigest(),
            "stores": {name: int(count) for name, count in sorted(self.stores.items())},
            "detail": self.detail,
        }


def entry_for_erasure(event: ErasureEvent) -> LogEntry:
    """An erasure step as an ERASURE entry (`ERASURE_PREFIX` + canonical JSON). It names no
    child (so it is not committed) and survives the erasure readable."""
    phase = ErasurePhase(event.phase).value
    data = ERASURE_PREFIX + _canonical_json(event.as_json())
    return LogEntry(
        kind=EntryKind.ERASURE,
        entry_id=f"erasure:{event.erasure_id}:{phase}",
        data=data,
        leaf_hash=leaf_hash(data),
        columns=IndexColumns(event=f"ERASURE_{phase.upper()}", decided_at_ms=event.at_ms),
    )


def _prefixed_json(data: bytes, prefix: bytes, what: str) -> dict[str, Any]:
    if not data.startswith(prefix):
        raise ValueError(f"not {what}")
    value = json.loads(data[len(prefix) :])
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value


def decode_access(data: bytes) -> dict[str, Any]:
    """The JSON of an ACCESS leaf; ValueError if the bytes are not one."""
    return _prefixed_json(data, ACCESS_PREFIX, "an access entry")


def decode_erasure(data: bytes) -> dict[str, Any]:
    """The JSON of an ERASURE leaf; ValueError if the bytes are not one."""
    return _prefixed_json(data, ERASURE_PREFIX, "an erasure entry")


def decode_rejected(data: bytes) -> dict[str, Any]:
    """The JSON of a REJECTED leaf; ValueError if the bytes are not one."""
    return _prefixed_json(data, REJECTED_PREFIX, "a rejection entry")


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
