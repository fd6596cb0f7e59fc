"""Offline receipts (issue 19): the IG API serves a decision's C2SP tlog-proofs against the
checkpoint two real witnesses (services.witness.app, in process; no broker) cosigned; an IG
officer fetches them with `safehub audit receipt get` and a SEPARATE PROCESS holding only the
partners' tlog-policy (public keys) verifies them with `safehub audit receipt verify`. A
tampered entry, a tampered proof, a checkpoint below the quorum and another log's key all fail.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.api import create_app
from services.audit.cosignatures import CosignatureStore
from services.audit.domain.witnessing import WitnessPolicy, parse_policy
from services.audit.keys import encode_verifier_key
from services.audit.receipts import decision_receipts, receipt_checkpoint
from services.audit.settings import AuditSettings
from services.audit.storage import StoredLeaf
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.witness_client import WitnessSubmitter
from services.hubkit.settings import HubSettings
from services.witness.app import create_app as create_witness_app
from services.witness.app import witness_verifier_key
from services.witness.settings import WitnessSettings
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.logs import ORIGIN, decision_entries, sign_now
from tests.audit.serve import serve

REPO = Path(__file__).resolve().parents[3]
PARTNERS = ("council", "police")


def _witness_settings(tmp_path: Path, name: str, log_vkey: str) -> WitnessSettings:
    return WitnessSettings(
        name=f"witness.{name}.example/safehub",
        data_dir=tmp_path / name,
        log_vkeys=[log_vkey],
        logs_file=tmp_path / "no-such-file",
    )


@pytest.fixture
def policy_text(tmp_path: Path, log_key: Ed25519PrivateKey) -> str:
    """The partners' tlog-policy: public keys only, 2 of 2 witnesses."""
    log_vkey = encode_verifier_key(ORIGIN, log_key.public_key())
    lines = [f"log {log_vkey}"]
    for name in PARTNERS:
        settings = _witness_settings(tmp_path, name, log_vkey)
        vkey = witness_verifier_key(settings, HubSettings(data_dir=tmp_path / "hub"))
        lines.append(f"witness {name} {vkey.encode()} http://{name}.witness.test")
    return "\n".join([*lines, "group partners all council police", "quorum partners"]) + "\n"


@pytest.fixture
def policy(policy_text: str) -> WitnessPolicy:
    return parse_policy(policy_text)


@pytest.fixture
async def witnesses(tmp_path: Path, policy: WitnessPolicy) -> AsyncIterator[httpx.AsyncClient]:
    mounts = {}
    for name in PARTNERS:
        settings = _witness_settings(tmp_path, name, policy.logs[0].encode())
        app = create_witness_app(
            settings, HubSettings(data_dir=tmp_path / "hub"), clock=lambda: 1.9e9
        )
        mounts[f"http://{name}.witness.test"] = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(mounts=mounts) as client:
        yield client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlAuditStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    yield opened
    opened.close()


@pytest.fixture
async def witnessed_log(
    store: SqlAuditStore,
    policy: WitnessPolicy,
    witnesses: httpx.AsyncClient,
    log_key: Ed25519PrivateKey,
) -> SqlAuditStore:
    """A log of 18 decision leaves in two checkpoints, both cosigned by both witnesses, then 6
    more leaves under a checkpoint no witness has seen yet."""
    cosignatures = CosignatureStore(store.engine)
    submitter = WitnessSubmitter(
        policy=policy, http=witnesses, store=store, cosignatures=cosignatures
    )
    entries = decision_entries(4, seed=23)
    for n, batch in enumerate((entries[:9], entries[9:18])):
        store.append(batch, appended_at_ms=n)
        sign_now(store, log_key, at_ms=1_800_000_000_000 + n)
        latest = store.latest_checkpoint()
        assert latest is not None
        assert (await submitter.witness_checkpoint(latest)).quorum_met
    store.append(entries[18:], appended_at_ms=3)
    sign_now(store, log_key, at_ms=1_800_000_000_003)
    return store


def _decision(store: SqlAuditStore, index: int) -> StoredLeaf:
    leaf = store.leaves(index, index + 1)[0]
    assert leaf.entry_id
    return leaf


def _safehub(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A separate process: the partner's own `safehub`, with nothing of the hub's."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _clean_env(data_dir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    return {**clean, "SAFEHUB_DATA_DIR": str(data_dir)}


def test_the_hub_picks_the_latest_cosigned_checkpoint(
    witnessed_log: SqlAuditStore, policy: WitnessPolicy
) -> None:
    cosignatures = CosignatureStore(witnessed_log.engine)
    checkpoint, cosigs, witnessed = receipt_checkpoint(witnessed_log, cosignatures, policy)
    assert checkpoint.checkpoint.tree_size == 18  # not 24: that one is not cosigned yet
    assert witnessed == PARTNERS
    assert len(cosigs) == 2
    latest, none, _ = receipt_checkpoint(witnessed_log, cosignatures, None)
    assert latest.checkpoint.tree_size == 24
    assert none == []
    # A decision logged after the last cosigned checkpoint has no receipt yet.
    from services.audit.errors import NotYetCheckpointed

    with pytest.raises(NotYetCheckpointed, match="after the next cosigned checkpoint"):
        decision_receipts(
            witnessed_log,
            _decision(witnessed_log, 20).entry_id,
            cosignatures=cosignatures,
            policy=policy,
        )


def test_a_receipt_is_verified_offline_by_a_separate_process_with_only_public_keys(
    witnessed_log: SqlAuditStore,
    policy_text: str,
    idp: LocalIdp,
    log_key: Ed25519PrivateKey,
    tmp_path: Path,
) -> None:
    policy_file = tmp_path / "hub" / "witnesses.policy"
    policy_file.parent.mkdir(parents=True, exist_ok=True)
    policy_file.write_text(policy_text)
    settings = AuditSettings(
        database_url=witnessed_log.engine.url.render_as_string(hide_password=False),
        jwks_url=idp.jwks_url,
        token_issuer=ISSUER,
        token_audience=AUDIENCE,
        witness_policy_path=policy_file,
    )
    decision = _decision(witnessed_log, 7)
    officer = tmp_path / "officer"
    (officer / "ig").mkdir(parents=True)
    (officer / "ig" / "token.json").write_text(
        json.dumps({"access_token": idp.token(), "expires_at": time.time() + 600})
    )
    with serve(create_app(settings, HubSettings(data_dir=tmp_path / "hub"))) as api:
        # The inclusion-proof route's checkpoint now carries the cosignatures as well.
        served = api.get(
            f"/v1/decisions/{decision.entry_id}/inclusion-proof",
            params={"tree_size": 18},
            headers={"Authorization": f"Bearer {idp.token()}"},
        )
        assert served.status_code == 200, served.text
        assert served.json()["checkpoint"].count("\u2014 witness.") == 2
        refused = api.get(f"/v1/decisions/{decision.entry_id}/receipt")
        assert refused.status_code == 401
        got = _safehub(
            "audit",
            "receipt",
            "get",
            decision.entry_id,
            "--out",
            tmp_path / "receipts",
            "--api",
            str(api.base_url),
            env=_clean_env(officer),
        )
    assert got.returncode == 0, got.stderr
    proofs = sorted((tmp_path / "receipts").glob("*.tlog-proof"))
    assert [p.name for p in proofs] == [f"decision-{decision.entry_id}.leaf-7.tlog-proof"]
    entry_file = proofs[0].with_name(proofs[0].name.replace(".tlog-proof", ".entry.json"))
    assert proofs[0].read_text().startswith("c2sp.org/tlog-proof@v1\nindex 7\n")

    # The partner: a fresh directory holding nothing but the policy (public keys) and the files.
    partner = tmp_path / "partner"
    partner.mkdir()
    (partner / "partners.policy").write_text(policy_text)
    env = _clean_env(partner)

    def verify(*files: Path, policy: str = "partners.policy") -> subprocess.CompletedProcess[str]:
        return _safehub("audit", "receipt", "verify", *files, "--policy", partner / policy, env=env)

    ok = verify(tmp_path / "receipts")
    assert ok.returncode == 0, ok.stderr
    assert (
        f"OK: decision {decision.entry_id} (SHARING_DECISION) is leaf 7 of the log {ORIGIN} at "
        "size 18, cosigned by council, police"
    ) in ok.stdout

    original_proof, original_entry = proofs[0].read_bytes(), entry_file.read_bytes()

    def refused_with(reason: str) -> None:
        failed = verify(proofs[0])
        assert failed.returncode == 1, failed.stdout
        assert reason in failed.stderr
        assert "Traceback" not in failed.stderr
        proofs[0].write_bytes(original_proof)
        entry_file.write_bytes(original_entry)

    # A tampered entry: one bit of the decision record (the opening of the committed leaf).
    entry = json.loads(original_entry)
    assert {"data", "record", "salt"} <= set(entry)
    record = bytearray(base64.b64decode(entry["record"]))
    record[len(record) // 2] ^= 0x01
    entry["record"] = base64.b64encode(bytes(record)).decode()
    entry_file.write_text(json.dumps(entry))
    refused_with("EntryEdited")

    # One bit of the leaf input itself (no opening to give it away): not in the signed tree.
    entry = {k: v for k, v in json.loads(original_entry).items() if k in ("format", "leaf_index")}
    data = bytearray(base64.b64decode(json.loads(original_entry)["data"]))
    data[-1] ^= 0x01
    entry["data"] = base64.b64encode(bytes(data)).decode()
    entry_file.write_text(json.dumps(entry))
    refused_with("InclusionUnproven")

    # A tampered readable view (what a person would read) no longer matches the bytes.
    entry = json.loads(original_entry)
    assert "view" in entry
    entry["view"]["decision"]["outcome"] = (
        "DENY" if entry["view"]["decision"]["outcome"] != "DENY" else "PERMIT"
    )
    entry_file.write_text(json.dumps(entry))
    refused_with("EntryEdited")

    # A tampered proof: one hash of the inclusion path.
    lines = original_proof.decode().split("\n")
    raw = bytearray(base64.b64decode(lines[2]))
    raw[0] ^= 0x80
    lines[2] = base64.b64encode(bytes(raw)).decode()
    proofs[0].write_text("\n".join(lines))
    refused_with("InclusionUnproven")

    # A receipt whose checkpoint lacks the quorum: the police's cosignature left out.
    proofs[0].write_text(
        "\n".join(
            line for line in original_proof.decode().split("\n") if "witness.police" not in line
        )
    )
    refused_with("WitnessQuorumUnmet")

    # Another log's key under the same origin: the receipt is not from the log the partners trust.
    other = encode_verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    (partner / "other-log.policy").write_text(
        policy_text.replace(policy_text.split("\n")[0], f"log {other}")
    )
    failed = verify(proofs[0], policy="other-log.policy")
    assert failed.returncode == 1
    assert "NoteUnverified" in failed.stderr
    assert "no signature by a trusted key" in failed.stderr

    # Untouched, it still verifies.
    assert verify(proofs[0]).returncode == 0
