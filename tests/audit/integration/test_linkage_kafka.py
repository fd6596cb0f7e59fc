"""The audit indexer against the real broker, on the child index's linkage topic: merges and
splits written by the child index principal are kept in topic order, once each; a restarted
indexer continues after the last one; and the IG API's subject access report, asked with any
key of a merged child, covers all its keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.api import create_app
from services.audit.linkage import MODEL_DECIDER, LinkageChanged, keys_of_child
from services.audit.service import AuditIndexer, build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage import DecisionQuery
from services.audit.storage_sql import SqlAuditStore, open_store
from services.hubkit.bus import reader_options
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, LINKAGE_TOPIC
from tests.audit.integration.produce import (
    audit_end_offset,
    produce_audit_records,
    produce_linkage_changes,
)
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.records import audit_records
from tests.audit.serve import serve
from tests.factories import FIXED_NOW, notices

pytestmark = pytest.mark.kafka


def _change(kind: str, child_key: str, *others: str, decided_by: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "child_key": child_key,
        "other_keys": list(others),
        "decided_by": decided_by,
        "review_id": None if decided_by == MODEL_DECIDER else f"rv-{uuid.uuid4().hex[:8]}",
        "match_probability": 0.9,
        "occurred_at": FIXED_NOW,
    }


def _decisions_about(keys: list[str]) -> list[dict[str, Any]]:
    """Six decisions about one notice under each key (fresh notices: ids no run has used)."""
    gen = notices(uuid.uuid4().int)
    records: list[dict[str, Any]] = []
    for n, key in enumerate(keys):
        notice = gen.notice("SAFEGUARDING_CONTACT")
        notice = {**notice, "subject": {**notice["subject"], "linkage_key": key}}
        records += audit_records(notice, decided_at=FIXED_NOW + dt.timedelta(minutes=n))
    return records


async def _run_until(
    indexer: AuditIndexer, done: Callable[[], bool], *, timeout_s: float = 120
) -> None:
    running = asyncio.create_task(indexer.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not await asyncio.to_thread(done):
            assert asyncio.get_running_loop().time() < deadline, indexer.stats
            assert not running.done(), running
            await asyncio.sleep(0.2)
    finally:
        indexer.stop()
        await running


def _ours(store: SqlAuditStore, records: list[dict[str, Any]]) -> list[LinkageChanged]:
    ids = {r["event_id"] for r in records}
    return [c for c in store.linkage_changes() if c.event_id in ids]


async def test_merges_and_splits_from_the_child_index_reach_the_subject_access_report(
    stack: HubSettings, tmp_path: Path, log_key: Ed25519PrivateKey, idp: LocalIdp
) -> None:
    settings = AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        origin=f"safehub.audit.test-{uuid.uuid4().hex[:8]}",
        start_offset=await audit_end_offset(stack),
        access_start_offset=await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
        checkpoint_interval_s=0.3,
        batch_max_records=40,
        poll_timeout_ms=200,
        jwks_url=idp.jwks_url,
        token_issuer=ISSUER,
        token_audience=AUDIENCE,
    )
    a, b, c = (secrets.token_hex(32) for _ in range(3))  # fresh keys: no other run names them
    joined = _change("MERGE", a, b, decided_by="mash-manager-1")
    history = [
        joined,
        _change("MERGE", a, c, decided_by=MODEL_DECIDER),
        _change("SPLIT", a, c, decided_by="mash-manager-1"),
    ]
    await produce_linkage_changes(stack, [*history, joined])  # the first one announced twice
    decisions = _decisions_about([a, b, c])
    await produce_audit_records(stack, decisions)

    store = open_store(settings.database_url_for(stack))
    indexer = build_indexer(stack, settings, store=store, log_key=log_key)

    def logged() -> bool:
        found = store.find(DecisionQuery(subject_linkage_key=c))
        seen_again = indexer.stats.linkage_repeated >= 1
        return seen_again and len(_ours(store, history)) == 3 and len(found) == 6

    await _run_until(indexer, logged)

    # In topic order, once each; the repeat recognised by its event id.
    kept = _ours(store, history)
    assert [x.event_id for x in kept] == [r["event_id"] for r in history]
    assert [x.kind.value for x in kept] == ["MERGE", "MERGE", "SPLIT"]
    assert kept[1].decided_by == MODEL_DECIDER
    offsets = [x.source.offset for x in kept if x.source is not None]
    assert len(offsets) == 3
    assert offsets == sorted(offsets)
    assert all(x.source is not None and x.source.topic == LINKAGE_TOPIC for x in kept)
    assert keys_of_child(store.linkage_changes(), b) == {a, b}
    assert keys_of_child(store.linkage_changes(), c) == {c}
    # The whole topic was read, from its start (its log start: older records may have been
    # deleted by retention or by an operator): the history is whole.
    everything = store.linkage_changes()
    assert everything[0].source is not None
    assert everything[0].source.offset == await _log_start(stack)

    # Restarted: continues after the last change it recorded, reads nothing twice.
    rejoined = _change("MERGE", b, c, decided_by="mash-manager-2")
    await produce_linkage_changes(stack, [rejoined])
    restarted = build_indexer(stack, settings, store=store, log_key=log_key)
    await _run_until(restarted, lambda: len(_ours(store, [rejoined])) == 1)
    # At most the repeat after the last recorded change is read again (a repeat is recorded
    # nowhere, so it moves no position); never a change already recorded.
    assert restarted.stats.linkage_repeated <= 1
    assert restarted.stats.linkage_changes >= 1
    assert keys_of_child(store.linkage_changes(), a) == {a, b, c}
    store.close()

    # Asked with any of the child's keys, the IG's subject access report covers all three.
    with serve(create_app(settings, stack)) as http:
        reports = [
            http.get(
                f"/v1/subjects/{key}/access-report",
                headers={"Authorization": f"Bearer {idp.token()}"},
            )
            for key in (a, b, c)
        ]
    assert [r.status_code for r in reports] == [200, 200, 200]
    bodies = [r.json() for r in reports]
    for key, body in zip((a, b, c), bodies, strict=True):
        assert body["subject_keys"][0] == key
        assert set(body["subject_keys"]) == {a, b, c}
        assert len(body["disclosures"]) == 15
        assert len(body["not_shared"]) == 3
        assert [x["kind"] for x in body["linkage_changes"]] == ["MERGE", "MERGE", "SPLIT", "MERGE"]


async def _log_start(stack: HubSettings) -> int:
    reader = AIOKafkaConsumer(**reader_options(stack, "admin"))
    await reader.start()
    try:
        partition = TopicPartition(LINKAGE_TOPIC, 0)
        starts = await reader.beginning_offsets([partition])
        return int(starts[partition])
    finally:
        await reader.stop()
