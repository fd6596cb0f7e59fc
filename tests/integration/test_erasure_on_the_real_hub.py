"""Erasing a child on the real hub (issue 18, part 2's "done means", with the broker).

`tests/cli/integration/test_erasure_end_to_end.py` runs the erasure job across the three
stores in process, their contents put there by the test. Here the two stores the bus fills
are filled by the bus: notices about two synthetic children are published as their agency's
adapter publishes them, decided by the real gateway with real OPA, followed into the MASH
console's sealed projection from the real feeds (a real console server), and logged by the
real audit indexer from the real audit topic, where every leaf naming a child commits to a
salted hash. Then one child is erased as the job erases it: the console through its erase
route with the job's `children:erase` token, the audit index through `erase_child`, between
the INTENT and DELETION entries, then CONFIRMATION.

Afterwards: the console and the audit index say the child is unreadable; neither store's
files (database, write-ahead log) hold the child's names, a marker from the notice, or its
linkage key; the other child still reads everywhere; and the partner verifier verifies every
checkpoint the log signed (before and after the erasure), every consistency proof between
them, the whole log rehashed, and an inclusion proof for every leaf.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.export import consistency_evidence, export_log, inclusion_evidence
from services.audit.indexer import ErasureEvent, ErasurePhase, LogEntry, entry_for_erasure
from services.audit.service import build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import (
    read_export,
    verify_consistency_files,
    verify_inclusion_files,
    verify_log,
)
from services.cli.erasure_job import CLIENT_ID, register_erasure_client
from services.hubkit.auth import CHILD_ERASE_SCOPE
from services.hubkit.child_keys import StoreKeyFile
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.codec import SchemaCatalog
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.audit.integration.produce import audit_end_offset
from tests.console.browser.conftest import Agencies, agencies, console_ready, gateway
from tests.console.harness import ConsoleServers, console_servers

__all__ = ["agencies", "gateway"]  # the browser tests' real gateway and publishing agencies

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(600)]

WITHIN_S = 120.0


@pytest.fixture(scope="module")
async def servers(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsoleServers]:
    async with console_servers(stack, tmp_path_factory.mktemp("console")) as running:
        await console_ready(running)
        yield running


def _child_notice(agencies: Agencies, given: str, family: str, marker: str) -> dict[str, Any]:
    """A safeguarding contact about a synthetic child whose names and summary are markers."""
    notice = agencies.synthetic.notice("SAFEGUARDING_CONTACT")
    notice["subject"]["given_name"] = given
    notice["subject"]["family_name"] = family
    notice["narrative"]["summary"] = f"Synthetic summary {marker}."
    return notice


def _files(path: Path) -> bytes:
    """A SQLite database with its write-ahead log and shared memory, as a backup takes it."""
    parts = sorted(path.parent.glob(path.name + "*"))
    assert parts, f"no database at {path}"
    return b"".join(p.read_bytes() for p in parts)


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + WITHIN_S
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.25)


def _erasure_entry(
    store: SqlAuditStore, key: str, erasure_id: str, phase: ErasurePhase, count: int
) -> LogEntry:
    return entry_for_erasure(
        ErasureEvent(
            erasure_id=erasure_id,
            phase=phase,
            at_ms=int(time.time() * 1000),
            actor="erasure-job (test)",
            record_type="MASH_CONTACT_RECORD",
            rule="retention",
            child_ref=store.child_ref(key),
            stores={"console_projection": count},
        )
    )


async def test_a_child_fed_through_the_bus_is_erased_and_the_log_still_verifies(
    stack: HubSettings,
    gateway: None,
    servers: ConsoleServers,
    agencies: Agencies,
    tmp_path: Path,
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    token = secrets.token_hex(5)
    erased = {"given": f"Quillon{token}", "family": f"Marrowby{token}", "marker": f"Fen-{token}"}
    kept = {"given": f"Tamsel{token}", "family": f"Oakhurst{token}", "marker": f"Ley-{token}"}

    audit_db = tmp_path / "audit" / "audit.db"
    audit_db.parent.mkdir()
    store = open_store(f"sqlite:///{audit_db}", store_key=StoreKeyFile(tmp_path / "audit.key"))
    log_key = Ed25519PrivateKey.generate()
    settings = AuditSettings(
        database_url=f"sqlite:///{audit_db}",
        origin=f"safehub.audit.erasure-{uuid.uuid4().hex[:8]}",
        start_offset=await audit_end_offset(stack),
        access_start_offset=await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
        checkpoint_interval_s=0.5,
        poll_timeout_ms=200,
    )

    # The job's own client at the console's identity provider, as `safehub erasure register`.
    job_key = tmp_path / "erasure-job.pem"
    register_erasure_client(servers.identity.resolved_state_dir(stack.data_dir), job_key)
    http = httpx.AsyncClient(timeout=30)
    job = ClientCredentials(
        http=http,
        token_endpoint=f"{servers.identity.issuer}/token",
        client_id=CLIENT_ID,
        private_key_path=job_key,
        scope=CHILD_ERASE_SCOPE,
    )

    async def console(method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await job.token()}"}
        return await http.request(
            method, f"{servers.console_url}{path}", json=body, headers=headers
        )

    async def console_reads(key: str) -> bool:
        answer = await console("GET", f"/v1/children/erasures/{key}")
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["readable"])

    indexer = build_indexer(stack, settings, store=store, log_key=log_key)
    indexing = asyncio.create_task(indexer.run())
    try:
        keys = {}
        for child in (erased, kept):
            notice = _child_notice(agencies, child["given"], child["family"], child["marker"])
            keys[child["given"]] = str(notice["subject"]["linkage_key"])
            await agencies.publish(notice)
        gone, stays = keys[erased["given"]], keys[kept["given"]]

        # The bus fills both stores: the console follows the feeds, the indexer the audit topic.
        for key in (gone, stays):
            await _until(lambda k=key: console_reads(k), "the console never held the child")
            await _until(
                lambda k=key: asyncio.to_thread(store.child_readable, k),
                "the audit indexer never logged a decision about the child",
            )
        await _until(
            lambda: asyncio.to_thread(lambda: store.latest_checkpoint() is not None),
            "the indexer signed no checkpoint",
        )
        first_checkpoint = store.latest_checkpoint()
        assert first_checkpoint is not None
        console_db = servers.console.store_path
        assert console_db is not None
        # What is there to erase: the console keeps the linkage key beside sealed items.
        assert gone.encode() in _files(console_db)

        # The erasure, in the job's order: intent, each store, deletion, check, confirmation.
        erasure_id = str(uuid.uuid4())
        store.append(
            [_erasure_entry(store, gone, erasure_id, ErasurePhase.INTENT, 0)],
            appended_at_ms=int(time.time() * 1000),
        )
        answer = await console("POST", "/v1/children/erasures", {"subject_linkage_key": gone})
        assert answer.status_code == 200, answer.text
        assert answer.json()["erased"] > 0
        audit_part = store.erase_child(gone)
        assert audit_part.leaves > 0
        store.append(
            [_erasure_entry(store, gone, erasure_id, ErasurePhase.DELETION, audit_part.leaves)],
            appended_at_ms=int(time.time() * 1000),
        )
        assert not await console_reads(gone)
        assert not store.child_readable(gone)
        store.append(
            [_erasure_entry(store, gone, erasure_id, ErasurePhase.CONFIRMATION, 0)],
            appended_at_ms=int(time.time() * 1000),
        )
        size = store.head().size
        await _until(
            lambda: asyncio.to_thread(
                lambda: (store.latest_checkpoint() or first_checkpoint).checkpoint.tree_size >= size
            ),
            "the indexer signed no checkpoint after the erasure",
        )
        # The other child is untouched.
        assert await console_reads(stays)
        assert store.child_readable(stays)
    finally:
        indexer.stop()
        await indexing
        await http.aclose()

    # Unreadable everywhere the bus put it.
    assert await _erased_from_files(gone, erased, console_db, audit_db)

    # The partner verifier, after the erasure: every checkpoint, every consistency proof
    # between them, the whole log rehashed, and an inclusion proof for every leaf.
    public = log_key.public_key()
    export_log(store, tmp_path / "export", catalog=catalog)
    exported, notes = read_export(tmp_path / "export")
    report = verify_log(entries=exported, notes=notes, public_key=public, catalog=catalog)
    assert report.entries == store.head().size
    history = store.checkpoints()
    assert len(history) >= 2
    for i, old in enumerate(history):
        for new in history[i + 1 :]:
            evidence = consistency_evidence(
                store, old_size=old.checkpoint.tree_size, new_size=new.checkpoint.tree_size
            )
            verify_consistency_files(
                old_note=evidence.old.note,
                new_note=evidence.new.note,
                proof=evidence.proof,
                public_key=public,
            )
    for leaf_index in range(store.head().size):
        inclusion = inclusion_evidence(store, leaf_index=leaf_index, catalog=catalog)
        verify_inclusion_files(
            entry=inclusion.entry,
            proof=inclusion.proof,
            note=inclusion.checkpoint.note,
            public_key=public,
            catalog=catalog,
        )
    store.close()


async def _erased_from_files(
    key: str, child: dict[str, str], console_db: Path, audit_db: Path
) -> bool:
    needles = [
        child["given"].encode(),
        child["family"].encode(),
        child["marker"].encode(),
        key.encode(),
        bytes.fromhex(key),
    ]
    for name, path in (("console", console_db), ("audit", audit_db)):
        raw = _files(path)
        for needle in needles:
            assert needle not in raw, f"{needle!r} is still in the {name} store's files"
    return True
