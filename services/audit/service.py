"""The audit indexer's Kafka edge: consume `audit.decisions.v1` (the gateway's decisions) and
`audit.access.v1` (the console's access events), append to the log, sign and publish
checkpoints; and keep the child index's merges and splits (`childindex.linkage.v1`), so a
subject access report covers every key a child has (`services.audit.linkage`).

Loop, per partition batch (each topic has one partition, so each has one total order):

1. check each record against its topic (`indexer.entry_for_bytes`: signed with the key of the
   topic's producer, of the topic's schema) and make its log entry; a record that fails is a
   REJECTED entry (reason and digest, never its bytes), counted in `IndexerStats.rejected`
   and logged without content: nothing on an audit topic is dropped, nothing unauthenticated
   is entered as a decision;
2. append the batch in ONE database transaction (`AuditStore.append`);
3. only then commit the Kafka offsets.

Crash safety. A crash before (2) commits loses nothing: the offsets were not committed, the
records are read again, and the rolled-back leaf indices were never visible. After a crash
between (2) and (3), Kafka's committed offset is behind the store; the indexer does not trust
it: on every partition assignment it seeks to the offset after the last record the store
holds (for an empty store: the start of the topic, or `start_offset`). Should records be
delivered again anyway (a rebalance while a batch was in flight, an operator resetting the
group's offsets), each comes back with the same decision id and the same bytes, which the
store recognises (unique (entry id, leaf hash)) and skips: the tree never grows twice.

Positioning is not instant: the consumer starts fetching a newly assigned partition from the
group's committed offset while the assignment callback is still reading the store and seeking,
and it hands those records to the loop meanwhile. Written, they would enter the store ahead of
the records before them (a rebuilt store's linkage history out of topic order; a restarted
indexer reading a change twice). So every batch carries a counter read when its fetch began
(`AuditIndexer._generation`, moved as positioning starts and again as it ends); positioning
holds the write lock, and a batch whose fetch began before the latest positioning ended is
dropped unwritten
(`IndexerStats.stale_batches`) and every partition is positioned from the store again, so
nothing is skipped either.

Linkage changes. A batch from the linkage topic is read the same way (`linkage.read_linkage_
change`): each well-formed LinkageChanged is recorded in the linkage history, in topic order,
once per event id; a record that is not one becomes a REJECTED leaf of the log; both in one
database transaction (`AuditStore.append_linkage`), then the offsets are committed. The
history must be whole to be right, so an empty store reads the linkage topic from its start
(`start_offset` does not apply), and a restarted indexer continues after the last record it
recorded.

Checkpoints. Every `checkpoint_interval_s`, if the tree grew, the service first checks the
store against itself and against the last signed checkpoint (`storage.check_tree`: the tree
must provably extend it), then signs (tree size, root, time) with the log's Ed25519 key,
records it in the checkpoint history, and publishes it to `audit.checkpoints.v1`. History is
written before publishing; unpublished checkpoints are retried on the next tick. A checkpoint
signed before a kill -9 is in the history, so the first one after restart is checked for
consistency with it before it is signed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError, KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.checkpoint import encode_signed_note, key_id, sign_checkpoint
from services.audit.domain.witnessing import parse_policy
from services.audit.errors import StorageCorrupt, StorageError
from services.audit.indexer import (
    EntryKind,
    LogEntry,
    SourcePosition,
    entry_for_bytes,
    plan_checkpoint,
)
from services.audit.indexer_health import LoopState
from services.audit.keys import ensure_log_key
from services.audit.linkage import LinkageChanged, read_linkage_change
from services.audit.settings import LOG_KEY_NAME, AuditSettings
from services.audit.storage import AuditStore, StoredCheckpoint, check_tree
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.witness_client import WitnessSubmitter
from services.hubkit.audit_trail import RejectionReason
from services.hubkit.bus import make_consumer, make_producer
from services.hubkit.child_keys import StoreKeyFile
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_CHECKPOINT_TOPIC,
    AUDIT_GROUP,
    AUDIT_PRINCIPAL,
    AUDIT_TOPIC,
    LINKAGE_TOPIC,
)

__all__ = ["AuditIndexer", "IndexerStats", "build_indexer", "main", "run_until_signalled"]

log = logging.getLogger("safehub.audit")

_T = TypeVar("_T")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class IndexerStats:
    records: int = 0
    appended: int = 0
    redelivered: int = 0
    duplicates: int = 0
    batches: int = 0
    storage_retries: int = 0
    checkpoints_signed: int = 0
    checkpoints_published: int = 0
    checkpoints_cosigned: int = 0
    """Cosignatures received from witnesses (issue 19)."""
    access_events: int = 0
    linkage_changes: int = 0
    """Linkage changes recorded (records of the linkage topic that were not rejected are
    counted here, not in `records`: they are not leaves)."""
    linkage_repeated: int = 0
    """Linkage changes read again whose event id was already recorded."""
    stale_batches: int = 0
    """Batches fetched before their partitions were positioned from the store: dropped
    unwritten, read again from the store's position."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Records refused by their topic's check, by topic and reason ("<topic> <REASON>")."""


class _ResumeFromStore(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, continue after the last record the store holds."""

    def __init__(self, indexer: AuditIndexer) -> None:
        self._indexer = indexer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._indexer._position(assigned)


class AuditIndexer:
    """Consumes the audit topic into the store and signs checkpoints. One per log."""

    def __init__(
        self,
        *,
        hub: HubSettings,
        settings: AuditSettings,
        store: AuditStore,
        catalog: SchemaCatalog,
        log_key: Ed25519PrivateKey,
        trusted_keys: Callable[[], KeyDirectory],
        clock_ms: Callable[[], int] = _now_ms,
        witnesses: WitnessSubmitter | None = None,
    ) -> None:
        self._hub = hub
        self._witnesses = witnesses
        # Set when a round of witnessing failed: the next tick retries even if the tree has
        # not grown (a cosigned checkpoint is not needed for indexing, so this never blocks).
        self._witness_pending = False
        self._witnessing: asyncio.Task[None] | None = None
        self._settings = settings
        self._store = store
        self._catalog = catalog
        # Re-read when a record names a key the directory does not hold: a producer's key
        # provisioned after the indexer started must not turn its genuine records into
        # rejections.
        self._load_keys = trusted_keys
        self._keys = trusted_keys()
        self._key = log_key
        self._key_id = key_id(settings.origin, log_key.public_key())
        self._clock_ms = clock_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()
        # Held while a batch is being written and while partitions are positioned, so a
        # rebalance reads the store's position after that batch, and no batch is written
        # between reading the position and seeking to it.
        self._appending = asyncio.Lock()
        # Counts the times partitions were positioned from the store; a batch fetched under an
        # older count may come from the group's committed offset instead (module docstring).
        self._generation = 0
        self._reposition = False
        self.stats = IndexerStats()
        # For the health routes (indexer_health.py): when the loop last came round, and
        # whether it is waiting on a store write that keeps failing.
        self._turned_at: float | None = None
        self._write_failing = False

    @property
    def store(self) -> AuditStore:
        return self._store

    async def run(self) -> None:
        """Consume until `stop()`; sign a last checkpoint on the way out."""
        # Refuse to extend a store that disagrees with itself or with what the log signed.
        await asyncio.to_thread(check_tree, self._store)
        self._consumer = make_consumer(self._hub, AUDIT_PRINCIPAL, group_id=AUDIT_GROUP)
        self._producer = make_producer(self._hub, AUDIT_PRINCIPAL)
        self._consumer.subscribe(
            topics=[AUDIT_TOPIC, AUDIT_ACCESS_TOPIC, LINKAGE_TOPIC],
            listener=_ResumeFromStore(self),
        )
        await self._producer.start()
        await self._consumer.start()
        self._started.set()
        next_checkpoint = time.monotonic() + self._settings.checkpoint_interval_s
        try:
            while not self._stopping.is_set():
                self._turned_at = time.monotonic()
                if self._reposition:
                    await self._position(self._consumer.assignment())
                fetched_in = self._generation
                batches = await self._consumer.getmany(
                    timeout_ms=self._settings.poll_timeout_ms,
                    max_records=self._settings.batch_max_records,
                )
                for tp, records in batches.items():
                    if records:
                        await self._index(tp, records, fetched_in=fetched_in)
                if time.monotonic() >= next_checkpoint:
                    await self.checkpoint_now()
                    next_checkpoint = time.monotonic() + self._settings.checkpoint_interval_s
            await self.checkpoint_now()
        finally:
            await self._consumer.stop()
            await self._producer.stop()
            if self._witnesses is not None:
                await self.witnessed()
                await self._witnesses.aclose()

    def stop(self) -> None:
        self._stopping.set()

    def loop_state(self) -> LoopState:
        return LoopState(
            started=self._started.is_set(),
            turned_at=self._turned_at,
            write_failing=self._write_failing,
        )

    async def started(self) -> None:
        await self._started.wait()

    async def _position(self, assigned: Iterable[TopicPartition]) -> None:
        """Seek `assigned` to the store's positions, no batch written meanwhile. A batch from a
        fetch begun before this returns is stale: counted once before the first await (the
        consumer may already hold records from the committed offset) and once after the seeks
        (the loop keeps fetching while this runs, and may be given such records meanwhile)."""
        self._generation += 1
        self._reposition = False
        async with self._appending:
            try:
                await self._resume(sorted(assigned))
            except IllegalStateError:
                # Revoked while being positioned: the next assignment positions it again.
                log.info("partitions revoked while positioned")
            finally:
                self._generation += 1

    async def _resume(self, assigned: list[TopicPartition]) -> None:
        """Seek each partition to the offset after the last record the store holds (called
        with the write lock held, by `_position`)."""
        assert self._consumer is not None
        for tp in assigned:
            position = await asyncio.to_thread(
                self._store.next_source_offset, tp.topic, tp.partition
            )
            start = {
                AUDIT_ACCESS_TOPIC: self._settings.access_start_offset,
                # A partial merge/split history would give a child the wrong keys.
                LINKAGE_TOPIC: 0,
            }.get(tp.topic, self._settings.start_offset)
            if position is not None:
                self._consumer.seek(tp, position)
            elif start > 0:
                self._consumer.seek(tp, start)
            else:
                await self._consumer.seek_to_beginning(tp)
            log.info("resuming", extra={"topic": tp.topic, "partition": tp.partition})

    def _entries(self, tp: TopicPartition, records: list[ConsumerRecord]) -> list[LogEntry]:
        return [
            entry_for_bytes(
                self._catalog,
                r.value if r.value is not None else b"",
                keys=self._keys,
                source=SourcePosition(tp.topic, tp.partition, r.offset),
            )
            for r in records
        ]

    async def _index(
        self, tp: TopicPartition, records: list[ConsumerRecord], *, fetched_in: int
    ) -> None:
        if tp.topic == LINKAGE_TOPIC:
            await self._index_linkage(tp, records, fetched_in=fetched_in)
            return
        if self._stale(fetched_in):
            return
        entries = self._entries(tp, records)
        if any(e.rejection is RejectionReason.UNKNOWN_SIGNER for e in entries):
            self._keys = await asyncio.to_thread(self._load_keys)
            entries = self._entries(tp, records)
        result = await self._retrying(
            lambda: self._store.append(entries, appended_at_ms=self._clock_ms()),
            fetched_in=fetched_in,
        )
        if result is None:
            return
        # Counted once the batch is written: a stale batch is dropped and read again, and
        # counting it then as well would report each of its rejections twice.
        for entry in entries:
            if entry.kind is EntryKind.CONSOLE_ACCESS:
                self.stats.access_events += 1
            elif entry.rejection is not None:
                self.stats.rejected[f"{tp.topic} {entry.rejection.value}"] += 1
                assert entry.source is not None
                # Position and reason only: the record may be anyone's text.
                log.warning(
                    "audit record rejected",
                    extra={
                        "topic": tp.topic,
                        "offset": entry.source.offset,
                        "reason": entry.rejection.value,
                    },
                )
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.appended += result.appended
        self.stats.redelivered += result.skipped
        self.stats.duplicates += result.duplicates
        await self._commit_offsets({tp: records[-1].offset + 1})

    async def _index_linkage(
        self, tp: TopicPartition, records: list[ConsumerRecord], *, fetched_in: int
    ) -> None:
        if self._stale(fetched_in):
            return
        changes: list[LinkageChanged] = []
        rejected: list[LogEntry] = []
        for r in records:
            read = read_linkage_change(
                self._catalog,
                r.value if r.value is not None else b"",
                source=SourcePosition(tp.topic, tp.partition, r.offset),
            )
            if isinstance(read, LinkageChanged):
                changes.append(read)
                continue
            rejected.append(read)
        result = await self._retrying(
            lambda: self._store.append_linkage(
                changes, rejected=rejected, appended_at_ms=self._clock_ms()
            ),
            fetched_in=fetched_in,
        )
        if result is None:
            return
        for entry in rejected:  # once written (see `_index`)
            assert entry.rejection is not None
            assert entry.source is not None
            self.stats.rejected[f"{tp.topic} {entry.rejection.value}"] += 1
            # Position and reason only, as for the audit topics.
            log.warning(
                "linkage record rejected",
                extra={
                    "topic": tp.topic,
                    "offset": entry.source.offset,
                    "reason": entry.rejection.value,
                },
            )
        self.stats.batches += 1
        self.stats.records += len(rejected)
        self.stats.appended += result.rejected.appended
        self.stats.redelivered += result.rejected.skipped
        self.stats.linkage_changes += result.recorded
        self.stats.linkage_repeated += result.repeated
        if result.recorded:
            log.info("linkage changes recorded", extra={"count": result.recorded})
        await self._commit_offsets({tp: records[-1].offset + 1})

    def _stale(self, fetched_in: int) -> bool:
        """A batch fetched before the latest positioning: dropped unwritten, and every
        partition positioned from the store again before the next fetch (the consumer has
        moved past these records; they may also lie ahead of the store's position)."""
        if fetched_in == self._generation:
            return False
        self.stats.stale_batches += 1
        self._reposition = True
        log.info("batch fetched before positioning dropped")
        return True

    async def _retrying(self, write: Callable[[], _T], *, fetched_in: int) -> _T | None:
        """Run a store write in a thread until it commits; None, writing nothing, for a stale
        batch (`_stale`). Nothing is committed when it fails, so the same batch is retried and
        the offsets stay where they were; a corrupt store stops the indexer."""
        while True:
            try:
                async with self._appending:
                    if self._stale(fetched_in):
                        return None
                    written = await asyncio.to_thread(write)
                    self._write_failing = False
                    return written
            except StorageCorrupt:
                raise
            except StorageError as error:
                self._write_failing = True
                self.stats.storage_retries += 1
                log.error("append failed, retrying", extra={"error": error.reason[:200]})
                await asyncio.sleep(self._settings.retry_backoff_s)

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        """After the database commit, never before (see the module docstring).

        A failed commit (e.g. the group is rebalancing) is not an error for the log: the
        store holds the position, and whatever is re-delivered is recognised and skipped."""
        assert self._consumer is not None
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            log.warning("offset commit failed", extra={"error": type(error).__name__})

    async def checkpoint_now(self) -> StoredCheckpoint | None:
        """Sign a checkpoint if the tree grew, then publish every unpublished one."""
        head = await asyncio.to_thread(check_tree, self._store)
        latest = await asyncio.to_thread(self._store.latest_checkpoint)
        checkpoint = plan_checkpoint(
            origin=self._settings.origin,
            tree_size=head.size,
            root_hash=head.root,
            previous=latest.checkpoint if latest else None,
            now_ms=self._clock_ms(),
        )
        if checkpoint is not None:
            note = encode_signed_note(sign_checkpoint(checkpoint, self._key))
            latest = await asyncio.to_thread(self._store.add_checkpoint, checkpoint, note)
            self.stats.checkpoints_signed += 1
            log.info("checkpoint signed", extra={"tree_size": checkpoint.tree_size})
        await self._publish_pending()
        if checkpoint is not None or self._witness_pending:
            self._start_witnessing()
        return latest

    def _start_witnessing(self) -> None:
        """Witness in the background: a slow witness (up to its timeout) must not hold up the
        loop that indexes records. One round at a time; a checkpoint signed while a round runs
        is submitted on the next tick."""
        if self._witnesses is None:
            return
        if self._witnessing is not None and not self._witnessing.done():
            self._witness_pending = True
            return
        self._witnessing = asyncio.create_task(self.witness_latest())

    async def witnessed(self) -> None:
        """Wait for the witnessing round under way, if any (on stopping, and for tests)."""
        if self._witnessing is not None:
            await self._witnessing

    async def witness_latest(self) -> None:
        """Submit the latest checkpoint to the witnesses (when a policy is configured). Never
        raises: a witness that is down or refuses is logged, and the next checkpoint tries
        again (from the size the witness last cosigned), so indexing never waits on it."""
        if self._witnesses is None:
            return
        latest = await asyncio.to_thread(self._store.latest_checkpoint)
        if latest is None:
            return
        try:
            round_ = await self._witnesses.witness_checkpoint(latest)
        except Exception as error:  # a witness must never stop the log
            self._witness_pending = True
            log.warning("witnessing failed", extra={"error": type(error).__name__})
            return
        self._witness_pending = bool(round_.failed)
        for name, failure in round_.failed.items():
            log.warning(
                "witness did not cosign",
                extra={"witness": name, "status": failure.status, "tree_size": round_.tree_size},
            )
        self.stats.checkpoints_cosigned += len(round_.cosigned)
        if not round_.quorum_met:
            log.warning(
                "checkpoint below the witness quorum", extra={"tree_size": round_.tree_size}
            )

    async def _publish_pending(self) -> None:
        if self._producer is None:
            return
        history = await asyncio.to_thread(self._store.checkpoints)
        for stored in history:
            if stored.published_at_ms is not None:
                continue
            cp = stored.checkpoint
            value = self._catalog.encode(
                MessageType.CHECKPOINT,
                {
                    "origin": cp.origin,
                    "tree_size": cp.tree_size,
                    "root_hash": cp.root_hash,
                    "timestamp": cp.timestamp_ms,
                    "key_id": self._key_id,
                    "signed_note": stored.note.decode(),
                },
            )
            try:
                await self._producer.send_and_wait(
                    AUDIT_CHECKPOINT_TOPIC, value=value, key=cp.origin.encode()
                )
            except KafkaError as error:
                # Kept in the history as unpublished; the next tick publishes it.
                log.warning("checkpoint not published yet", extra={"error": type(error).__name__})
                return
            await asyncio.to_thread(
                self._store.mark_published, cp.tree_size, at_ms=self._clock_ms()
            )
            self.stats.checkpoints_published += 1


def build_indexer(
    hub: HubSettings,
    settings: AuditSettings,
    *,
    store: AuditStore | None = None,
    log_key: Ed25519PrivateKey | None = None,
) -> AuditIndexer:
    """The one wiring point: store, schema catalog, log key and the producers' trusted public
    keys (`<keys_dir>/trusted/`) from settings; the witnesses when a policy is configured."""
    if store is None:
        store = open_store(
            settings.database_url_for(hub),
            store_key=StoreKeyFile(settings.resolved_store_key_path(hub)),
        )
    return AuditIndexer(
        hub=hub,
        settings=settings,
        store=store,
        catalog=SchemaCatalog(hub.schemas_dir),
        log_key=log_key
        if log_key is not None
        else ensure_log_key(hub.keys_dir, name=LOG_KEY_NAME, origin=settings.origin),
        trusted_keys=lambda: KeyDirectory.load(hub.keys_dir / "trusted"),
        witnesses=_witnesses(settings, store),
    )


def _witnesses(settings: AuditSettings, store: AuditStore) -> WitnessSubmitter | None:
    """The submitter to the policy's witnesses; None (no witnessing) without a policy. A policy
    that does not parse stops the indexer at start with the line at fault."""
    if settings.witness_policy_path is None:
        return None
    if not isinstance(store, SqlAuditStore):
        raise TypeError("witnessing keeps cosignatures beside an SQL audit store")
    policy = parse_policy(settings.witness_policy_path.read_text(encoding="utf-8"))
    return WitnessSubmitter(
        policy=policy,
        http=httpx.AsyncClient(timeout=settings.witness_timeout_s),
        store=store,
        cosignatures=CosignatureStore(store.engine),
        owns_http=True,
    )


async def run_until_signalled(indexer: AuditIndexer) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, indexer.stop)
    try:
        await indexer.run()
    finally:
        indexer.store.close()


def main() -> int:
    """`python -m services.audit.service` (or `safehub audit index`): run the indexer."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    indexer = build_indexer(HubSettings(), AuditSettings())
    asyncio.run(run_until_signalled(indexer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
