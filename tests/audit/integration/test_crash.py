"""kill -9 mid-batch: the indexer runs in its own process against the real broker, is frozen
inside a batch (inside the database transaction, or between the database commit and the
Kafka offset commit) and killed with SIGKILL. After a restart every decision is logged
exactly once, the store agrees with itself, and the first checkpoint signed after the restart
is provably consistent (RFC 9162) with the last one signed before the kill."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.audit.domain.checkpoint import decode_signed_note
from services.audit.export import consistency_evidence, export_log
from services.audit.keys import load_public_key
from services.audit.storage import DecisionQuery, check_tree
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import read_export, verify_consistency_files, verify_log
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.audit.integration.produce import audit_end_offset, produce_audit_records
from tests.audit.integration.test_indexer_kafka import _batch
from tests.factories import REPO

pytestmark = pytest.mark.kafka


@pytest.fixture
def drivers() -> Iterator[list[subprocess.Popen[str]]]:
    """Every indexer process a test starts; any still running at the end is killed (by pid),
    so a failed test never leaves a frozen indexer in the consumer group."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def _driver(
    started: list[subprocess.Popen[str]],
    url: str,
    keys: Path,
    origin: str,
    start_offset: tuple[int, int],
    *extra: str,
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.audit.integration.indexer_driver",
            "--database-url",
            url,
            "--keys-dir",
            str(keys),
            "--origin",
            origin,
            "--start-offset",
            str(start_offset[0]),
            "--access-start-offset",
            str(start_offset[1]),
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(proc)
    return proc


async def _until(condition, proc: subprocess.Popen[str], what: str, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await asyncio.to_thread(condition):
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(
                f"the indexer exited ({proc.returncode}) before {what}: {err[-3000:]}"
            )
        if asyncio.get_running_loop().time() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"timed out waiting for {what}: {err[-3000:]}")
        await asyncio.sleep(0.1)


def _checkpointed(url: str) -> bool:
    store = open_store(url)
    try:
        return store.latest_checkpoint() is not None
    finally:
        store.close()


def _all_logged(url: str, notice_ids: list[str]) -> bool:
    store = open_store(url)
    try:
        return all(len(store.find(DecisionQuery(notice_id=n))) >= 6 for n in notice_ids)
    finally:
        store.close()


@pytest.mark.parametrize("freeze", ["in-db-commit", "before-offset-commit"])
async def test_kill_9_mid_batch_then_restart_is_consistent(
    stack: HubSettings, tmp_path: Path, freeze: str, drivers: list[subprocess.Popen[str]]
) -> None:
    origin = f"safehub.audit.crash-{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    keys = tmp_path / "keys"
    marker = tmp_path / "frozen"
    start_offset = (
        await audit_end_offset(stack),
        await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
    )
    warmup, warmup_ids = _batch(seed=uuid.uuid4().int, count=1)
    await produce_audit_records(stack, warmup)

    # 1. Start, wait for a signed checkpoint, then send decisions: the indexer freezes inside
    #    the next batch (holding some of them) and is killed there with SIGKILL.
    proc = _driver(
        drivers, url, keys, origin, start_offset, "--freeze", freeze, "--marker", str(marker)
    )
    await _until(lambda: _checkpointed(url), proc, "the first checkpoint", timeout_s=180)
    records, first_ids = _batch(seed=uuid.uuid4().int, count=10)
    await produce_audit_records(stack, records)
    await _until(marker.exists, proc, "the freeze", timeout_s=120)
    store: SqlAuditStore = open_store(url)
    before = store.latest_checkpoint()
    size_at_kill = store.head().size
    store.close()
    assert before is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # 2. Nothing half-written: the frozen batch is all there (committed) or not at all.
    store = open_store(url)
    check_tree(store)
    head = store.head()
    assert head.size == size_at_kill
    assert store.latest_checkpoint() == before
    store.close()

    # 3. More decisions arrive while it is down; restart without freezing.
    more, more_ids = _batch(seed=uuid.uuid4().int, count=4)
    await produce_audit_records(stack, more)
    proc = _driver(drivers, url, keys, origin, start_offset)
    await _until(
        lambda: _all_logged(url, warmup_ids + first_ids + more_ids), proc, "all decisions", 180
    )
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    stats = json.loads(out.strip().splitlines()[-1])
    # Resumed after the last committed leaf. (A group rebalance while it runs can re-deliver
    # a batch; such records are recognised and skipped, never appended twice.)
    assert stats["appended"] + stats["redelivered"] == stats["records"]

    # 4. Every decision exactly once; the store agrees with itself.
    store = open_store(url)
    for record in [*warmup, *records, *more]:
        assert len(store.leaves_for_entry(str(record["decision_id"]))) == 1
    check_tree(store)

    # 5. The checkpoint after the restart provably extends the one before the kill.
    public_key = load_public_key(keys / "trusted" / "audit-log.pub")
    after = store.latest_checkpoint()
    assert after is not None
    assert after.checkpoint.tree_size > before.checkpoint.tree_size
    evidence = consistency_evidence(
        store, old_size=before.checkpoint.tree_size, new_size=after.checkpoint.tree_size
    )
    report = verify_consistency_files(
        old_note=before.note, new_note=after.note, proof=evidence.proof, public_key=public_key
    )
    assert report.old == decode_signed_note(before.note).checkpoint
    # And the whole history, rebuilt from the entries, verifies.
    export_log(store, tmp_path / "export")
    entries, notes = read_export(tmp_path / "export")
    verify_log(entries=entries, notes=notes, public_key=public_key)
    store.close()
