"""The demo's two partner witnesses (issue 19): the policy the demo's indexer uses names them
and the demo's log key, their keys and state live under the data directory, and the witness
apps the demo serves cosign the demo log's checkpoints, which the demo's summary reports."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.witnessing import parse_policy
from services.audit.keys import encode_verifier_key, ensure_log_key
from services.audit.settings import LOG_KEY_NAME
from services.audit.storage_sql import open_store
from services.audit.witness_client import WitnessSubmitter
from services.cli.demo_witnesses import (
    DEMO_WITNESS_PORTS,
    demo_audit_settings,
    wait_until_cosigned,
    witness_apps,
)
from services.hubkit.child_keys import StoreKeyFile
from services.hubkit.settings import HubSettings
from tests.audit.logs import decision_entries, sign_now


def test_the_demo_policy_names_its_two_witnesses_and_its_log(tmp_path: Path) -> None:
    hub = HubSettings(data_dir=tmp_path)
    audit, witnesses = demo_audit_settings(hub)
    assert audit.witness_policy_path == tmp_path / "witnesses" / "partners.policy"
    policy = parse_policy(audit.witness_policy_path.read_text())
    log_key = ensure_log_key(hub.keys_dir, name=LOG_KEY_NAME, origin=audit.origin)
    assert [k.encode() for k in policy.logs] == [
        encode_verifier_key(audit.origin, log_key.public_key())
    ]
    assert {w.name: w.url for w in policy.witnesses} == {
        name: f"http://127.0.0.1:{port}" for name, port in DEMO_WITNESS_PORTS.items()
    }
    # Each witness's own key and state, under the data directory (never the repository).
    for witness in witnesses:
        assert witness.settings.key_path(hub).is_relative_to(tmp_path / "witnesses")
    # A second start keeps the same keys: the same policy.
    again, _ = demo_audit_settings(hub)
    assert again.witness_policy_path is not None
    assert parse_policy(again.witness_policy_path.read_text()) == policy


def test_an_operators_policy_wins_and_the_demo_runs_no_witnesses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = tmp_path / "theirs.policy"
    monkeypatch.setenv("SAFEHUB_AUDIT_WITNESS_POLICY_PATH", str(theirs))
    audit, witnesses = demo_audit_settings(HubSettings(data_dir=tmp_path))
    assert audit.witness_policy_path == theirs
    assert witnesses == []
    assert not (tmp_path / "witnesses").exists()


async def test_the_demo_witnesses_cosign_and_the_summary_says_so(tmp_path: Path) -> None:
    hub = HubSettings(data_dir=tmp_path)
    audit, witnesses = demo_audit_settings(hub)
    assert audit.witness_policy_path is not None
    policy = parse_policy(audit.witness_policy_path.read_text())
    store = open_store(
        audit.database_url_for(hub), store_key=StoreKeyFile(audit.resolved_store_key_path(hub))
    )
    log_key = ensure_log_key(hub.keys_dir, name=LOG_KEY_NAME, origin=audit.origin)
    entries = decision_entries(2)
    notice_ids = {e.columns.notice_id for e in entries if e.columns.notice_id}
    try:
        store.append(entries, appended_at_ms=0)
        summary = await wait_until_cosigned(hub, audit, notice_ids, within_s=0)
        assert summary == "audit log: no checkpoint signed yet"
        sign_now(store, log_key, at_ms=1_800_000_000_000, origin=audit.origin)
        summary = await wait_until_cosigned(hub, audit, notice_ids, within_s=0)
        assert "not cosigned by council, police: the partners' quorum is not met" in summary

        mounts = {
            f"http://127.0.0.1:{port}": httpx.ASGITransport(app=app)
            for _, app, port in witness_apps(hub, witnesses)
        }
        async with httpx.AsyncClient(mounts=mounts) as http:
            submitter = WitnessSubmitter(
                policy=policy,
                http=http,
                store=store,
                cosignatures=CosignatureStore(store.engine),
            )
            latest = store.latest_checkpoint()
            assert latest is not None
            round_ = await submitter.witness_checkpoint(latest)
        assert round_.failed == {}
        assert round_.quorum_met
    finally:
        store.close()
    summary = await wait_until_cosigned(hub, audit, notice_ids, within_s=5)
    assert summary == (
        f"audit log: checkpoint at size {len(entries)} cosigned by the witnesses of "
        "council, police (quorum met)"
    )
