"""The audit indexer against the real broker: decisions produced by the gateway principal in
Kafka transactions become leaves, once each; checkpoints are signed, published and
verifiable; every leaf has a verifying proof; and each tamper case is detected."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoint import (
    Checkpoint,
    check_inclusion,
    encode_signed_note,
    sign_checkpoint,
)
from services.audit.domain.merkle import inclusion_proof, leaf_hash
from services.audit.errors import EntriesMissing, EntryEdited, SplitViewDetected
from services.audit.export import consistency_evidence, export_log, inclusion_evidence
from services.audit.indexer import to_ms
from services.audit.service import AuditIndexer, build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage import CachedSubtrees, DecisionQuery, check_tree
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import (
    read_export,
    verify_consistency_files,
    verify_inclusion_files,
    verify_log,
    verify_note,
)
from services.hubkit.bus import TopicReader
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_CHECKPOINT_TOPIC,
    AUDIT_TOPIC,
    LINKAGE_TOPIC,
)
from tests.audit.integration.produce import (
    audit_end_offset,
    produce_audit_records,
)
from tests.audit.records import audit_records, rejection
from tests.factories import FIXED_NOW, notices

pytestmark = pytest.mark.kafka


async def _settings(stack: HubSettings, tmp_path: Path, origin: str) -> AuditSettings:
    """A new log starting at the current end of both audit topics."""
    return AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        origin=origin,
        start_offset=await audit_end_offset(stack),
        access_start_offset=await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
        checkpoint_interval_s=0.3,
        batch_max_records=40,
        poll_timeout_ms=200,
    )


def _batch(seed: int, count: int) -> tuple[list[dict[str, Any]], list[str]]:
    gen = notices(seed)
    records: list[dict[str, Any]] = []
    ids: list[str] = []
    for i in range(count):
        notice = gen.notice("SAFEGUARDING_CONTACT")
        ids.append(notice["notice_id"])
        records += audit_records(notice, decided_at=FIXED_NOW + dt.timedelta(minutes=i))
    return records, ids


async def _wait_for_notices(store: SqlAuditStore, notice_ids: list[str], timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        logged = await asyncio.to_thread(
            lambda: sum(len(store.find(DecisionQuery(notice_id=n))) for n in notice_ids)
        )
        if logged >= 6 * len(notice_ids):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {logged} of {6 * len(notice_ids)} decisions were logged")
        await asyncio.sleep(0.25)


async def _run_until_logged(
    indexer: AuditIndexer, store: SqlAuditStore, notice_ids: list[str]
) -> None:
    running = asyncio.create_task(indexer.run())
    try:
        await _wait_for_notices(store, notice_ids, timeout_s=120)
        await asyncio.sleep(0.6)  # at least one more checkpoint tick
    finally:
        indexer.stop()
        await running


def _checkpoints_of(
    catalog: SchemaCatalog, values: list[bytes], origin: str, key: Ed25519PrivateKey
) -> list[Checkpoint]:
    found = []
    for value in values:
        message = catalog.decode(value, MessageType.CHECKPOINT)
        if message["origin"] != origin:
            continue  # other logs (other test runs) share the topic
        checkpoint = verify_note(message["signed_note"].encode(), key.public_key())
        assert (message["tree_size"], message["root_hash"]) == (
            checkpoint.tree_size,
            checkpoint.root_hash,
        )
        assert to_ms(message["timestamp"]) == checkpoint.timestamp_ms
        found.append(checkpoint)
    return found


async def test_n_decisions_become_n_leaves_with_verifiable_checkpoints_and_proofs(
    stack: HubSettings, tmp_path: Path, log_key: Ed25519PrivateKey
) -> None:
    origin = f"safehub.audit.test-{uuid.uuid4().hex[:8]}"
    settings = await _settings(stack, tmp_path, origin)
    catalog = SchemaCatalog(stack.schemas_dir)
    records, notice_ids = _batch(seed=uuid.uuid4().int, count=12)  # 72 decisions
    rejections = [rejection(offset=uuid.uuid4().int % 10**9) for _ in range(2)]
    aborted, aborted_ids = _batch(seed=uuid.uuid4().int, count=2)

    checkpoints = await TopicReader(stack, "admin", AUDIT_CHECKPOINT_TOPIC, partitions=1).start()
    await produce_audit_records(stack, records[:30])
    await produce_audit_records(stack, aborted, abort=True)
    await produce_audit_records(stack, [*records[30:], *rejections])

    store = open_store(settings.database_url_for(stack))
    indexer = build_indexer(stack, settings, store=store, log_key=log_key)
    await _run_until_logged(indexer, store, notice_ids)
    published = [r.value for r in await checkpoints.drain(quiet_s=1.0)]
    await checkpoints.stop()

    # N decisions -> N leaves: each decision id exactly once, aborted ones never.
    for record in [*records, *rejections]:
        assert len(store.leaves_for_entry(str(record["decision_id"]))) == 1
    for record in aborted:
        assert store.leaves_for_entry(str(record["decision_id"])) == []
    assert not set(aborted_ids) & {
        leaf.columns.notice_id for leaf in store.find(DecisionQuery(limit=100_000))
    }
    head = store.head()
    assert indexer.stats.appended == head.size
    # Whatever a group rebalance re-delivered was recognised, not appended again.
    assert indexer.stats.appended + indexer.stats.redelivered == indexer.stats.records
    offsets = [
        leaf.source.offset
        for leaf in store.leaves(0, head.size)
        if leaf.source and leaf.source.topic == AUDIT_TOPIC
    ]
    assert offsets == sorted(set(offsets))
    assert offsets[0] >= settings.start_offset  # a new log starts where it was told to
    check_tree(store)

    # Checkpoints: signed, published, growing, consistent, the last one at the final size.
    on_topic = _checkpoints_of(catalog, published, origin, log_key)
    history = store.checkpoints()
    assert on_topic
    assert on_topic == [c.checkpoint for c in history]
    assert all(c.published_at_ms is not None for c in history)
    assert history[-1].checkpoint.tree_size == head.size
    for older, newer in itertools.pairwise(history):
        assert older.checkpoint.tree_size < newer.checkpoint.tree_size
        evidence = consistency_evidence(
            store, old_size=older.checkpoint.tree_size, new_size=newer.checkpoint.tree_size
        )
        verify_consistency_files(
            old_note=evidence.old.note,
            new_note=evidence.new.note,
            proof=evidence.proof,
            public_key=log_key.public_key(),
        )

    # Every leaf proves against the latest published checkpoint (RFC 9162 §2.1.3)...
    latest = verify_note(history[-1].note, log_key.public_key())
    subtrees = CachedSubtrees(store)
    for start in range(0, head.size, 1000):
        for leaf in store.leaves(start, start + 1000):
            proof = inclusion_proof(subtrees, leaf_index=leaf.leaf_index, tree_size=head.size)
            check_inclusion(latest, proof, leaf_hash=leaf_hash(leaf.tree_input))
    # ...and this test's decisions also as the files a partner receives.
    for record in [*records, *rejections]:
        (leaf,) = store.leaves_for_entry(str(record["decision_id"]))
        inclusion = inclusion_evidence(store, leaf_index=leaf.leaf_index, catalog=catalog)
        verify_inclusion_files(
            entry=inclusion.entry,
            proof=inclusion.proof,
            note=inclusion.checkpoint.note,
            public_key=log_key.public_key(),
            catalog=catalog,
        )

    # The whole log verifies; then each tamper case is detected.
    out = tmp_path / "export"
    export_log(store, out, catalog=catalog)
    entries, notes = read_export(out)
    report = verify_log(entries=entries, notes=notes, public_key=log_key.public_key())
    assert report.entries == head.size

    edited = list(entries)
    victim = edited[head.size // 2]
    edited[head.size // 2] = type(victim)(
        victim.leaf_index, victim.data[:-1] + bytes([victim.data[-1] ^ 1]), None
    )
    with pytest.raises(EntryEdited):
        verify_log(entries=edited, notes=notes, public_key=log_key.public_key())

    with pytest.raises(EntriesMissing):
        verify_log(entries=entries[:-3], notes=notes, public_key=log_key.public_key())

    fork = Checkpoint(origin, head.size, bytes(32), history[-1].checkpoint.timestamp_ms + 5)
    forked_note = encode_signed_note(sign_checkpoint(fork, log_key))
    with pytest.raises(SplitViewDetected):
        verify_log(entries=entries, notes=[*notes, forked_note], public_key=log_key.public_key())
    store.close()


async def test_a_restarted_indexer_resumes_from_the_store_and_logs_re_emitted_decisions(
    stack: HubSettings, tmp_path: Path, log_key: Ed25519PrivateKey
) -> None:
    origin = f"safehub.audit.test-{uuid.uuid4().hex[:8]}"
    settings = await _settings(stack, tmp_path, origin)
    first, first_ids = _batch(seed=uuid.uuid4().int, count=3)
    await produce_audit_records(stack, first)
    store = open_store(settings.database_url_for(stack))
    await _run_until_logged(
        build_indexer(stack, settings, store=store, log_key=log_key), store, first_ids
    )
    size_before = store.head().size
    checkpoint_before = store.latest_checkpoint()
    assert checkpoint_before is not None

    # The gateway re-decides one notice after a crash: same decision ids, later decided_at.
    re_emitted = [
        {**r, "decided_at": r["decided_at"] + dt.timedelta(seconds=30)} for r in first[:6]
    ]
    second, second_ids = _batch(seed=uuid.uuid4().int, count=2)
    await produce_audit_records(stack, [*re_emitted, *second])
    restarted = build_indexer(stack, settings, store=store, log_key=log_key)
    await _run_until_logged(restarted, store, second_ids)

    # Resumed after the last logged record: nothing appended twice, nothing skipped.
    assert store.head().size == size_before + restarted.stats.appended
    for record in first[:6]:
        leaves = store.leaves_for_entry(str(record["decision_id"]))
        assert len(leaves) == 2
        assert leaves[1].duplicate_of == leaves[0].leaf_index
    assert restarted.stats.duplicates == 6
    latest = store.latest_checkpoint()
    assert latest is not None
    evidence = consistency_evidence(
        store, old_size=checkpoint_before.checkpoint.tree_size, new_size=latest.checkpoint.tree_size
    )
    verify_consistency_files(
        old_note=checkpoint_before.note,
        new_note=latest.note,
        proof=evidence.proof,
        public_key=log_key.public_key(),
    )

    # Kafka re-delivers everything (as after a crash between the DB and offset commits, or a
    # reset of the group's offsets): every record is recognised by decision id + content hash.
    size_before_replay = store.head().size
    replay = _ReplayFromStart(
        hub=stack,
        settings=settings,
        store=store,
        catalog=SchemaCatalog(stack.schemas_dir),
        log_key=log_key,
        trusted_keys=lambda: KeyDirectory.load(stack.keys_dir / "trusted"),
    )
    running = asyncio.create_task(replay.run())
    try:
        deadline = asyncio.get_running_loop().time() + 120
        while replay.stats.redelivered < size_before_replay:
            assert asyncio.get_running_loop().time() < deadline, replay.stats
            await asyncio.sleep(0.2)
    finally:
        replay.stop()
        await running
    assert replay.stats.redelivered >= size_before_replay
    assert store.head().size == size_before_replay + replay.stats.appended
    for record in second:
        assert len(store.leaves_for_entry(str(record["decision_id"]))) == 1
    check_tree(store)
    store.close()


class _ReplayFromStart(AuditIndexer):
    """An indexer that ignores the store's position and re-reads everything this log has
    read, from where the log started."""

    async def _resume(self, assigned: list[TopicPartition]) -> None:
        assert self._consumer is not None
        for tp in assigned:
            if tp.topic == AUDIT_ACCESS_TOPIC:
                self._consumer.seek(tp, self._settings.access_start_offset)
            elif tp.topic == LINKAGE_TOPIC:
                # The log read the linkage topic from its start (its rejected records are
                # leaves too): so does the replay.
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, self._settings.start_offset)
