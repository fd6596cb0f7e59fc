"""The hub submits its checkpoints to two real witnesses (services.witness.app, in process over
httpx's ASGI transport; no broker): both cosign a growing log, a 409 is answered with a proof
from the witness's size, cosignatures are verified and stored; a fork shown to a witness is
refused, so it never gathers a quorum; the partner verifier with a 2-of-2 policy accepts the
witnessed log and refuses a checkpoint with one cosignature."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.checkpoint import decode_signed_note, encode_checkpoint
from services.audit.domain.witnessing import (
    QuorumNotMet,
    WitnessPolicy,
    add_checkpoint_body,
    cosigned_note,
    parse_policy,
)
from services.audit.export import export_log
from services.audit.keys import encode_verifier_key
from services.audit.service import AuditIndexer
from services.audit.settings import AuditSettings
from services.audit.storage import consistency_proof_between
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import read_export, verify_log, verify_witnessed
from services.audit.witness_client import WitnessSubmitter
from services.hubkit.cosignature import cosigner_verifier_key, verify_cosignature
from services.hubkit.settings import HubSettings
from services.witness.app import create_app, witness_verifier_key
from services.witness.settings import WitnessSettings
from tests.audit.logs import CATALOG, ORIGIN, build_log, decision_entries, sign_now
from tests.audit.records import TRUSTED_KEYS
from tests.audit.unit.test_cli import safehub_audit

PARTNERS = ("council", "police")


@dataclass
class Hub:
    """One history of the log: its store, its cosignatures and its submitter."""

    store: SqlAuditStore
    cosignatures: CosignatureStore
    submitter: WitnessSubmitter


@pytest.fixture
def policy(tmp_path: Path, log_key: Ed25519PrivateKey) -> WitnessPolicy:
    log_vkey = encode_verifier_key(ORIGIN, log_key.public_key())
    lines = [f"log {log_vkey}"]
    for name in PARTNERS:
        settings = WitnessSettings(
            name=f"witness.{name}.example/safehub",
            data_dir=tmp_path / name,
            log_vkeys=[log_vkey],
            logs_file=tmp_path / "no-such-file",
        )
        vkey = witness_verifier_key(settings, HubSettings(data_dir=tmp_path / "hub"))
        lines.append(f"witness {name} {vkey.encode()} http://{name}.witness.test")
    lines += ["group partners all council police", "quorum partners"]
    return parse_policy("\n".join(lines) + "\n")


@pytest.fixture
async def http(tmp_path: Path, policy: WitnessPolicy) -> AsyncIterator[httpx.AsyncClient]:
    """One client reaching both witness apps (each its own key and state directory)."""
    mounts = {}
    for name in PARTNERS:
        settings = WitnessSettings(
            name=f"witness.{name}.example/safehub",
            data_dir=tmp_path / name,
            log_vkeys=[next(iter(policy.logs)).encode()],
            logs_file=tmp_path / "no-such-file",
        )
        app = create_app(settings, HubSettings(data_dir=tmp_path / "hub"), clock=lambda: 1.9e9)
        mounts[f"http://{name}.witness.test"] = httpx.ASGITransport(app=app)
    statuses: list[tuple[str, int]] = []

    async def record(response: httpx.Response) -> None:
        statuses.append((response.request.url.host.split(".")[0], response.status_code))

    async with httpx.AsyncClient(mounts=mounts, event_hooks={"response": [record]}) as client:
        client.statuses = statuses  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def hubs(tmp_path: Path, policy: WitnessPolicy, http: httpx.AsyncClient) -> Iterator[list[Hub]]:
    opened: list[Hub] = []

    def hub(name: str) -> Hub:
        store = open_store(f"sqlite:///{tmp_path / name / 'audit.db'}")
        cosignatures = CosignatureStore(store.engine)
        submitter = WitnessSubmitter(
            policy=policy, http=http, store=store, cosignatures=cosignatures
        )
        opened.append(Hub(store, cosignatures, submitter))
        return opened[-1]

    hub("honest")
    hub("fork")
    yield opened
    for h in opened:
        h.store.close()


async def test_two_witnesses_cosign_a_growing_log_and_a_409_is_resolved(
    hubs: list[Hub], policy: WitnessPolicy, log_key: Ed25519PrivateKey, http: httpx.AsyncClient
) -> None:
    honest = hubs[0]
    entries = decision_entries(6)
    sizes = []
    for n, batch in enumerate((entries[:5], entries[5:9], entries[9:])):
        honest.store.append(batch, appended_at_ms=n)
        sign_now(honest.store, log_key, at_ms=1_800_000_000_000 + n)
        latest = honest.store.latest_checkpoint()
        assert latest is not None
        round_ = await honest.submitter.witness_checkpoint(latest)
        assert round_.failed == {}
        assert set(round_.cosigned) == set(PARTNERS)
        assert round_.quorum_met
        sizes.append(latest.checkpoint.tree_size)
        for name in PARTNERS:
            key_name = policy.witness(name).key.name
            assert honest.cosignatures.witness_size(key_name) == latest.checkpoint.tree_size
    assert sizes == sorted(set(sizes))
    assert sizes[-1] == len(entries)
    assert all(status == 200 for _, status in http.statuses)  # type: ignore[attr-defined]

    # Every stored cosignature verifies with the witness's key over the checkpoint it is for.
    for stored in honest.store.checkpoints():
        text = encode_checkpoint(stored.checkpoint)
        cosigs = honest.cosignatures.for_checkpoint(stored.checkpoint.tree_size)
        assert sorted(c.name for c in cosigs) == sorted(w.key.name for w in policy.witnesses)
        for c in cosigs:
            key = next(w.key for w in policy.witnesses if w.key.name == c.name)
            verify_cosignature(text, c.note_signature(), key)

    # The council cosigned a checkpoint whose answer the hub never kept (say, the hub stopped
    # before storing it): the hub's size for the council is behind. The council's 409 names
    # its size, the hub sends the proof from it and is cosigned.
    honest.store.append(decision_entries(1, seed=13), appended_at_ms=8)
    sign_now(honest.store, log_key, at_ms=1_800_000_000_050)
    lost = honest.store.latest_checkpoint()
    assert lost is not None
    assert lost.checkpoint.tree_size > sizes[-1]
    proof = consistency_proof_between(
        honest.store, old_size=sizes[-1], new_size=lost.checkpoint.tree_size
    )
    answer = await http.post(
        "http://council.witness.test/add-checkpoint",
        content=add_checkpoint_body(old_size=sizes[-1], proof=tuple(proof.path), note=lost.note),
    )
    assert answer.status_code == 200
    assert honest.cosignatures.witness_size(policy.witness("council").key.name) == sizes[-1]
    honest.store.append(decision_entries(2, seed=12), appended_at_ms=9)
    sign_now(honest.store, log_key, at_ms=1_800_000_000_100)
    latest = honest.store.latest_checkpoint()
    assert latest is not None
    http.statuses.clear()  # type: ignore[attr-defined]
    round_ = await honest.submitter.witness_checkpoint(latest)
    assert round_.quorum_met
    assert round_.failed == {}
    assert sorted(http.statuses) == [  # type: ignore[attr-defined]
        ("council", 200),
        ("council", 409),
        ("police", 200),
    ]
    assert honest.cosignatures.witness_size(policy.witness("council").key.name) == (
        latest.checkpoint.tree_size
    )


async def _witness_all(hub: Hub) -> None:
    for stored in hub.store.checkpoints():
        round_ = await hub.submitter.witness_checkpoint(stored)
        assert round_.quorum_met, round_.failed


async def test_a_split_view_is_refused_so_the_fork_has_no_quorum(
    hubs: list[Hub], log_key: Ed25519PrivateKey
) -> None:
    honest, fork = hubs
    entries = decision_entries(4)
    other = decision_entries(4, seed=99)
    # The same origin and key; one leaf (index 6) differs in the history shown to the fork.
    forked = [*entries[:6], other[6], *entries[7:]]
    assert forked[6].data != entries[6].data
    for hub, log in ((honest, entries), (fork, forked)):
        hub.store.append(log[:4], appended_at_ms=0)
        sign_now(hub.store, log_key, at_ms=1_800_000_000_000)
        hub.store.append(log[4:], appended_at_ms=1)
        sign_now(hub.store, log_key, at_ms=1_800_000_000_001)
    await _witness_all(honest)

    forked_latest = fork.store.latest_checkpoint()
    honest_latest = honest.store.latest_checkpoint()
    assert forked_latest is not None
    assert honest_latest is not None
    assert forked_latest.checkpoint.tree_size == honest_latest.checkpoint.tree_size
    assert forked_latest.checkpoint.root_hash != honest_latest.checkpoint.root_hash

    round_ = await fork.submitter.witness_checkpoint(forked_latest)
    assert round_.cosigned == {}
    assert {name: f.status for name, f in round_.failed.items()} == {"council": 422, "police": 422}
    assert not round_.quorum_met
    assert fork.cosignatures.by_checkpoint() == {}


async def test_the_verifier_requires_the_quorum(
    hubs: list[Hub], policy: WitnessPolicy, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    honest = hubs[0]
    entries = decision_entries(3)
    honest.store.append(entries[:3], appended_at_ms=0)
    sign_now(honest.store, log_key, at_ms=1_800_000_000_000)
    honest.store.append(entries[3:], appended_at_ms=1)
    sign_now(honest.store, log_key, at_ms=1_800_000_000_001)
    await _witness_all(honest)

    export_log(honest.store, tmp_path / "export", cosignatures=honest.cosignatures.by_checkpoint())
    exported, notes = read_export(tmp_path / "export")
    report = verify_log(
        entries=exported, notes=notes, public_key=log_key.public_key(), policy=policy
    )
    assert report.witnessed == {3: PARTNERS, len(entries): PARTNERS}
    # Without a policy the export still verifies as before (cosignature lines are ignored).
    plain = verify_log(entries=exported, notes=notes, public_key=log_key.public_key())
    assert plain.witnessed is None

    latest = honest.store.latest_checkpoint()
    assert latest is not None
    one = honest.cosignatures.for_checkpoint(latest.checkpoint.tree_size)[:1]
    single = cosigned_note(latest.note, one)
    assert len(decode_signed_note(single).signatures) == 2
    with pytest.raises(QuorumNotMet, match="does not meet the policy's quorum 'partners'"):
        verify_witnessed(single, log_key.public_key(), policy)
    # The latest checkpoint below the quorum: the log is witnessed up to the earlier one
    # (the entries rebuild both roots), and the report says so.
    below = verify_log(
        entries=exported,
        notes=[*notes[:-1], single],
        public_key=log_key.public_key(),
        policy=policy,
    )
    assert below.witnessed_size == 3
    assert below.witnessed is not None
    assert len(below.witnessed[len(entries)]) == 1
    assert report.witnessed_size == len(entries)
    # A later note carrying the missing cosignature completes the same checkpoint.
    assert verify_log(
        entries=exported,
        notes=[*notes[:-1], single, notes[-1]],
        public_key=log_key.public_key(),
        policy=policy,
    ).witnessed_size == len(entries)
    # No checkpoint meets the quorum: nothing the partners' witnesses saw is shown.
    with pytest.raises(QuorumNotMet):
        verify_log(entries=exported, notes=[single], public_key=log_key.public_key(), policy=policy)


def _indexer(
    hub: Hub, submitter: WitnessSubmitter, key: Ed25519PrivateKey, tmp_path: Path
) -> AuditIndexer:
    clock = itertools.count(1_800_000_000_000, 1000)
    return AuditIndexer(
        hub=HubSettings(data_dir=tmp_path / "hub"),
        settings=AuditSettings(origin=ORIGIN),
        store=hub.store,
        catalog=CATALOG,
        log_key=key,
        trusted_keys=lambda: TRUSTED_KEYS,
        clock_ms=lambda: next(clock),
        witnesses=submitter,
    )


async def test_the_indexer_submits_after_signing_and_a_witness_down_never_blocks_it(
    hubs: list[Hub], policy: WitnessPolicy, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    honest = hubs[0]
    indexer = _indexer(honest, honest.submitter, log_key, tmp_path)
    honest.store.append(decision_entries(2), appended_at_ms=0)
    signed = await indexer.checkpoint_now()
    assert signed is not None
    await indexer.witnessed()  # witnessing runs beside the indexing loop
    assert indexer.stats.checkpoints_cosigned == 2
    assert len(honest.cosignatures.for_checkpoint(signed.checkpoint.tree_size)) == 2

    attempts: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.host)
        raise httpx.ConnectError("witness down", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as unreachable:
        submitter = WitnessSubmitter(
            policy=policy, http=unreachable, store=honest.store, cosignatures=honest.cosignatures
        )
        blocked = _indexer(honest, submitter, log_key, tmp_path)
        honest.store.append(decision_entries(1, seed=5), appended_at_ms=1)
        later = await blocked.checkpoint_now()
        await blocked.witnessed()
        assert later is not None
        assert later.checkpoint.tree_size > signed.checkpoint.tree_size  # signed regardless
        assert len(attempts) == 2
        # No growth, but the failed round is retried on the next tick.
        assert await blocked.checkpoint_now() == later
        await blocked.witnessed()
        assert len(attempts) == 4
    assert blocked.stats.checkpoints_cosigned == 0
    assert honest.cosignatures.for_checkpoint(later.checkpoint.tree_size) == []


async def test_safehub_audit_verify_log_with_a_policy(
    hubs: list[Hub],
    policy: WitnessPolicy,
    log_key: Ed25519PrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    honest = hubs[0]
    build_log(honest.store, log_key, entries=decision_entries(2), batch=6, origin=ORIGIN)
    await _witness_all(honest)
    key_file = tmp_path / "audit-log.vkey"
    key_file.write_text(encode_verifier_key(ORIGIN, log_key.public_key()) + "\n")
    url = honest.store.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "export"
    assert safehub_audit("export", out, "--database-url", url) == 0

    witnesses = [f"witness {w.name} {w.key.encode()}" for w in policy.witnesses]
    two_of_two = tmp_path / "partners.policy"
    two_of_two.write_text("\n".join([*witnesses, "group p all council police", "quorum p"]) + "\n")
    assert safehub_audit("verify", "log", out, "--key", key_file, "--policy", two_of_two) == 0
    printed = capsys.readouterr().out
    assert "checkpoint 6: cosigned by council, police (witnessed)" in printed
    assert "checkpoint 12: cosigned by council, police (witnessed)" in printed
    assert "the log up to size 12 is what the partners' witnesses cosigned" in printed

    # A third partner the policy requires has cosigned nothing: every checkpoint is below it.
    other_key = Ed25519PrivateKey.generate().public_key()
    health = cosigner_verifier_key("witness.health.example", other_key)
    three = tmp_path / "three.policy"
    three.write_text(
        "\n".join(
            [*witnesses, f"witness health {health.encode()}", "group p all council police health"]
        )
        + "\nquorum p\n"
    )
    assert safehub_audit("verify", "log", out, "--key", key_file, "--policy", three) == 1
    assert "FAILED (QuorumNotMet)" in capsys.readouterr().err
