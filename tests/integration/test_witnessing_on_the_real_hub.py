"""Witnessing on the real hub (issue 19, part 1's "done means", with the broker).

`tests/audit/integration/test_witnessing.py` drives the submitter against witness apps in
process with no broker. Here everything is on the real path: police notices are posted to the
police adapter over HTTP (signed, published to its topic as its principal), decided by the
real gateway with real OPA, read from the real audit topic by the real audit indexer, which
runs with `SAFEHUB_AUDIT_WITNESS_POLICY_PATH` naming a tlog-policy "2 of council, police" and
submits each checkpoint it signs to two witnesses (`services.witness`, as `safehub witness
serve` runs it: each under uvicorn on its own port, with its own key and state directory).

1. Both witnesses cosign; the partner verifier accepts the exported log with the quorum.
2. The police witness stops: indexing goes on (every audit record the gateway wrote about the
   notices sent meanwhile is in the log, counted on the topic), later checkpoints are signed
   and cosigned by the council only, and fall short of the quorum.
3. The police witness comes back from a backup older than what it last cosigned (its 409
   names its size, the hub sends the consistency proof from there): the next checkpoint is
   cosigned by both again.
4. A split view: a second history of the same log (same origin and key, one leaf changed) is
   refused by both witnesses, gathers no cosignature, and the verifier refuses its checkpoint.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.types import Message, Receive, Scope, Send

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.checkpoint import encode_signed_note, sign_checkpoint
from services.audit.domain.merkle import leaf_hash
from services.audit.domain.witnessing import (
    QuorumNotMet,
    WitnessPolicy,
    cosigned_note,
    parse_policy,
)
from services.audit.export import export_log
from services.audit.indexer import (
    REJECTED_PREFIX,
    EntryKind,
    IndexColumns,
    LogEntry,
    plan_checkpoint,
)
from services.audit.keys import encode_verifier_key
from services.audit.service import AuditIndexer, build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage import DecisionQuery, StoredCheckpoint
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import read_export, verify_log, verify_witnessed
from services.audit.witness_client import WitnessSubmitter
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.child_keys import StoreKeyFile
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, AUDIT_PRINCIPAL, AUDIT_TOPIC
from services.witness.app import create_app, witness_verifier_key
from services.witness.settings import WitnessSettings
from tests.adapters.integration.conftest import Hub, hub
from tests.audit.integration.produce import audit_end_offset
from tests.console.browser.conftest import gateway
from tests.integration.bus import TopicReader

__all__ = ["gateway", "hub"]  # the real gateway, and the adapters posting to the real broker

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(600)]

WITHIN_S = 120.0
PARTNERS = ("council", "police")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServedWitness:
    """One partner's witness under uvicorn on a fixed loopback port, so it can be stopped and
    started again at the address the policy names."""

    def __init__(self, name: str, root: Path, log_vkey: str, hub_settings: HubSettings) -> None:
        self.partner = name
        self.settings = WitnessSettings(
            name=f"witness.{name}.example/safehub",
            data_dir=root / name,
            log_vkeys=[log_vkey],
            logs_file=root / "no-logs-file",
            port=_free_port(),
        )
        self.hub_settings = hub_settings
        self.url = f"http://127.0.0.1:{self.settings.port}"
        self.statuses: list[int] = []
        """Every answer's HTTP status, in order."""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def vkey(self) -> str:
        return witness_verifier_key(self.settings, self.hub_settings).encode()

    def state_dir(self) -> Path:
        return self.settings.state_dir(self.hub_settings)

    def start(self) -> None:
        app = create_app(self.settings, self.hub_settings)

        async def observed(scope: Scope, receive: Receive, send: Send) -> None:
            """The witness app as served, with each answer's status noted for the test."""

            async def noting(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.statuses.append(int(message["status"]))
                await send(message)

            await app(scope, receive, noting)

        config = uvicorn.Config(
            observed, host="127.0.0.1", port=self.settings.port, log_level="warning", ws="none"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert self._thread.is_alive(), f"the {self.partner} witness did not start"
            assert time.monotonic() < deadline, f"the {self.partner} witness did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)
            assert not self._thread.is_alive(), f"the {self.partner} witness did not stop"
        self._server = None
        self._thread = None


@dataclass
class Witnessed:
    """The running indexer with its witnesses, and what a partner is given."""

    store: SqlAuditStore
    cosignatures: CosignatureStore
    indexer: AuditIndexer
    log_key: Ed25519PrivateKey
    origin: str
    policy: WitnessPolicy
    witnesses: dict[str, ServedWitness]


@dataclass(frozen=True)
class LogIdentity:
    """The audit log this test runs: a fresh origin and key, so no other run's log is mixed in."""

    key: Ed25519PrivateKey
    origin: str

    @property
    def vkey(self) -> str:
        return encode_verifier_key(self.origin, self.key.public_key())


@pytest.fixture
def log_identity() -> LogIdentity:
    return LogIdentity(
        key=Ed25519PrivateKey.generate(), origin=f"safehub.audit.witnessed-{uuid.uuid4().hex[:8]}"
    )


@pytest.fixture
def witnesses(
    tmp_path: Path, stack: HubSettings, log_identity: LogIdentity
) -> Iterator[dict[str, ServedWitness]]:
    """The council's and the police's witnesses, each its own key, state and port."""
    served = {
        name: ServedWitness(name, tmp_path / "witnesses", log_identity.vkey, stack)
        for name in PARTNERS
    }
    try:
        for witness in served.values():
            witness.start()
        yield served
    finally:
        for witness in served.values():
            witness.stop()


@pytest.fixture
async def witnessed(
    stack: HubSettings,
    tmp_path: Path,
    log_identity: LogIdentity,
    witnesses: dict[str, ServedWitness],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Witnessed]:
    policy_file = tmp_path / "partners.policy"
    policy_file.write_text(
        "\n".join(
            [
                f"log {log_identity.vkey}",
                *(f"witness {n} {witnesses[n].vkey()} {witnesses[n].url}" for n in PARTNERS),
                "group partners all council police",
                "quorum partners",
            ]
        )
        + "\n"
    )
    # As an operator configures it: the variable, read by the indexer's settings.
    monkeypatch.setenv("SAFEHUB_AUDIT_WITNESS_POLICY_PATH", str(policy_file))
    audit_db = tmp_path / "audit" / "audit.db"
    audit_db.parent.mkdir()
    store = open_store(f"sqlite:///{audit_db}", store_key=StoreKeyFile(tmp_path / "audit.key"))
    settings = AuditSettings(
        database_url=f"sqlite:///{audit_db}",
        origin=log_identity.origin,
        start_offset=await audit_end_offset(stack),
        access_start_offset=await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
        checkpoint_interval_s=1.0,
        poll_timeout_ms=200,
        witness_timeout_s=5.0,
    )
    assert settings.witness_policy_path == policy_file
    indexer = build_indexer(stack, settings, store=store, log_key=log_identity.key)
    task = asyncio.create_task(indexer.run())
    try:
        yield Witnessed(
            store=store,
            cosignatures=CosignatureStore(store.engine),
            indexer=indexer,
            log_key=log_identity.key,
            origin=log_identity.origin,
            policy=parse_policy(policy_file.read_text()),
            witnesses=witnesses,
        )
    finally:
        indexer.stop()
        await asyncio.wait_for(task, timeout=60)
        store.close()


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WITHIN_S
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def _post_police_notices(hub: Hub, seed: int, count: int) -> list[str]:
    """Police occurrences posted to the police adapter as its own client does."""
    records = hub.records(seed)
    headers = await hub.headers("POLICE")
    ids = []
    for _ in range(count):
        answer = await hub.adapters["POLICE"].post(
            "/v1/occurrences", json=records.police_ppn(records.child()), headers=headers
        )
        assert answer.status_code in (200, 201, 202), answer.text
        assert answer.json()["status"] == "published", answer.text
        ids.append(str(answer.json()["notice_id"]))
    return ids


async def _audit_records_of(
    stack: HubSettings, reader: TopicReader, notice_ids: set[str]
) -> dict[str, int]:
    """How many hub-signed audit records about each of `notice_ids` the topic holds. The
    gateway writes a notice's records in one transaction, so once each notice has one, the
    rest of its transaction is at most one fetch behind."""
    catalog = SchemaCatalog(stack.schemas_dir)
    keys = KeyDirectory.load(stack.keys_dir / "trusted")

    def about(records: list[ConsumerRecord]) -> Counter[str]:
        found: Counter[str] = Counter()
        for record in records:
            try:
                opened = open_audit_record(catalog, record.value, keys, topic=AUDIT_TOPIC)
            except AuditRecordRejected:
                continue  # not the gateway's (another test's deliberate forgery)
            if str(opened.record.get("notice_id")) in notice_ids:
                found[str(opened.record["notice_id"])] += 1
        return found

    records = await reader.read_until(lambda rs: set(about(rs)) == notice_ids, timeout_s=WITHIN_S)
    records += await reader.read_until(lambda _: False, timeout_s=1.0)
    return dict(about(records))


def _decided(store: SqlAuditStore, notice_id: str) -> int:
    return len(store.find(DecisionQuery(notice_id=notice_id)))


async def _all_indexed(w: Witnessed, notice_ids: list[str]) -> int:
    """Wait until the indexer holds a decision for every notice and a checkpoint covers them;
    returns the leaf count that covers them."""

    async def indexed() -> bool:
        counts = [await asyncio.to_thread(_decided, w.store, n) for n in notice_ids]
        return all(counts)

    await _until(indexed, "the indexer never logged a decision about every notice")
    covering = w.store.head().size

    async def signed() -> bool:
        latest = await asyncio.to_thread(w.store.latest_checkpoint)
        return latest is not None and latest.checkpoint.tree_size >= covering

    await _until(signed, "the indexer signed no checkpoint covering the notices")
    return covering


def _cosigners(w: Witnessed, tree_size: int) -> set[str]:
    names = {c.name for c in w.cosignatures.for_checkpoint(tree_size)}
    return {p.name for p in w.policy.witnesses if p.key.name in names}


async def _latest_cosigned_by(w: Witnessed, covering: int, partners: set[str]) -> StoredCheckpoint:
    """The latest checkpoint at or above `covering` once exactly `partners` have cosigned it
    (and the indexer's witnessing round is over)."""
    found: list[StoredCheckpoint] = []

    async def cosigned() -> bool:
        latest = await asyncio.to_thread(w.store.latest_checkpoint)
        if latest is None or latest.checkpoint.tree_size < covering:
            return False
        if _cosigners(w, latest.checkpoint.tree_size) != partners:
            return False
        found[:] = [latest]
        return True

    await _until(cosigned, f"no checkpoint >= {covering} cosigned by exactly {sorted(partners)}")
    return found[0]


def _note(w: Witnessed, stored: StoredCheckpoint) -> bytes:
    """The checkpoint as a partner gets it: the log's signature and every cosignature."""
    return cosigned_note(stored.note, w.cosignatures.for_checkpoint(stored.checkpoint.tree_size))


async def test_two_partner_witnesses_on_the_real_hub(
    stack: HubSettings, gateway: None, hub: Hub, witnessed: Witnessed, tmp_path: Path
) -> None:
    w = witnessed
    public = w.log_key.public_key()

    # 1. Both cosign; the partner verifier accepts the export with the quorum.
    first = await _post_police_notices(hub, seed=1901, count=2)
    covering = await _all_indexed(w, first)
    both = await _latest_cosigned_by(w, covering, set(PARTNERS))
    size_a = both.checkpoint.tree_size
    verify_witnessed(_note(w, both), public, w.policy)
    export_log(w.store, tmp_path / "export", cosignatures=w.cosignatures.by_checkpoint())
    entries, notes = read_export(tmp_path / "export")
    # A partner verifies the log as of the checkpoint it was given (later ones may still be
    # on their way to the witnesses): entries up to it, and every checkpoint up to it.
    as_of = [n for n in notes if int(n.split(b"\n")[1]) <= size_a]
    report = verify_log(
        entries=[e for e in entries if e.leaf_index < size_a],
        notes=as_of,
        public_key=public,
        policy=w.policy,
    )
    assert report.witnessed is not None
    assert report.witnessed[size_a] == PARTNERS
    # The police witness's machine is backed up now (its state: only origin, size, root).
    backup = tmp_path / "police-state-backup"
    shutil.copytree(w.witnesses["police"].state_dir(), backup)

    # 2. A second batch cosigned by both, then the police witness stops.
    second = await _post_police_notices(hub, seed=1902, count=1)
    covering = await _all_indexed(w, second)
    size_b = (await _latest_cosigned_by(w, covering, set(PARTNERS))).checkpoint.tree_size
    assert size_b > size_a
    w.witnesses["police"].stop()

    # What the gateway writes about the notices sent while the witness is down, read from the
    # audit topic as the indexer reads it (from its end now, no consumer group).
    reader = await TopicReader(stack, AUDIT_PRINCIPAL, AUDIT_TOPIC).start()
    try:
        during = await _post_police_notices(hub, seed=1903, count=2)
        on_topic = await _audit_records_of(stack, reader, set(during))
    finally:
        await reader.stop()
    covering = await _all_indexed(w, during)
    down = await _latest_cosigned_by(w, covering, {"council"})
    assert _cosigners(w, down.checkpoint.tree_size) == {"council"}
    with pytest.raises(QuorumNotMet):
        verify_witnessed(_note(w, down), public, w.policy)
    # The whole log still verifies for a partner: witnessed up to the last checkpoint both
    # cosigned, the later ones reported below the quorum.
    export_log(w.store, tmp_path / "export-down", cosignatures=w.cosignatures.by_checkpoint())
    entries_down, notes_down = read_export(tmp_path / "export-down")
    partial = verify_log(entries=entries_down, notes=notes_down, public_key=public, policy=w.policy)
    assert partial.witnessed_size is not None
    assert size_a <= partial.witnessed_size < down.checkpoint.tree_size
    assert partial.witnessed is not None
    assert partial.witnessed[down.checkpoint.tree_size] == ("council",)
    # No record lost: every audit record about those notices on the topic is in the log.
    assert set(on_topic) == set(during)
    assert {n: _decided(w.store, n) for n in during} == on_topic
    assert all(_decided(w.store, n) for n in [*first, *second])
    police_key = w.policy.witness("police").key.name
    believed = w.cosignatures.witness_size(police_key)  # what it last cosigned
    assert believed >= size_b

    # 3. The police witness comes back from its backup (it had cosigned size_b since): its 409
    # names the older size and the hub resubmits with the consistency proof from there.
    shutil.rmtree(w.witnesses["police"].state_dir())
    shutil.copytree(backup, w.witnesses["police"].state_dir())
    w.witnesses["police"].statuses.clear()
    w.witnesses["police"].start()
    after = await _post_police_notices(hub, seed=1904, count=1)
    covering = await _all_indexed(w, after)
    back = await _latest_cosigned_by(w, covering, set(PARTNERS))
    verify_witnessed(_note(w, back), public, w.policy)
    assert w.cosignatures.witness_size(police_key) >= back.checkpoint.tree_size > believed
    # The exchange: the hub's `old` (the size it believed) answered 409, then cosigned.
    statuses = w.witnesses["police"].statuses
    assert statuses[:2] == [409, 200], statuses

    # 4. A split view: the same origin and key, leaf `size` - 1 changed, one leaf more.
    w.indexer.stop()
    await w.indexer.witnessed()
    sizes = {w.cosignatures.witness_size(p.key.name) for p in w.policy.witnesses}
    assert len(sizes) == 1, sizes
    (size,) = sizes
    fork_store = open_store(
        f"sqlite:///{tmp_path / 'fork.db'}", store_key=StoreKeyFile(tmp_path / "fork.key")
    )
    try:
        honest_leaves = w.store.leaves(0, size)
        forked = [
            LogEntry(
                kind=leaf.kind,
                entry_id=f"fork-{leaf.leaf_index}",
                data=leaf.tree_input,
                leaf_hash=leaf.leaf_hash,
                columns=IndexColumns(),
            )
            for leaf in honest_leaves[:-1]
        ]
        for n, text in enumerate((b"shown to one partner only", b"and one more")):
            data = REJECTED_PREFIX + b'{"forged":"' + text + b'"}'
            forked.append(
                LogEntry(
                    kind=EntryKind.REJECTED,
                    entry_id=f"fork-other-{n}",
                    data=data,
                    leaf_hash=leaf_hash(data),
                    columns=IndexColumns(event="REJECTED"),
                )
            )
        fork_store.append(forked, appended_at_ms=0)
        checkpoint = plan_checkpoint(
            origin=w.origin,
            tree_size=fork_store.head().size,
            root_hash=fork_store.head().root,
            previous=None,
            now_ms=int(time.time() * 1000),
        )
        assert checkpoint is not None
        assert checkpoint.tree_size == size + 1
        fork_note = encode_signed_note(sign_checkpoint(checkpoint, w.log_key))
        stored = fork_store.add_checkpoint(checkpoint, fork_note)
        fork_cosignatures = CosignatureStore(fork_store.engine)
        async with httpx.AsyncClient(timeout=10) as http:
            submitter = WitnessSubmitter(
                policy=w.policy, http=http, store=fork_store, cosignatures=fork_cosignatures
            )
            round_ = await submitter.witness_checkpoint(stored)
        assert round_.cosigned == {}
        assert {n: f.status for n, f in round_.failed.items()} == {"council": 422, "police": 422}
        assert not round_.quorum_met
        assert fork_cosignatures.by_checkpoint() == {}
        with pytest.raises(QuorumNotMet):
            verify_witnessed(fork_note, public, w.policy)
    finally:
        fork_store.close()
