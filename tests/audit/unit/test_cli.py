"""`safehub audit ...`: the hub writes evidence files, the partner verifies them with only the
public key; exit status 0 verified, 1 tampered, 2 unreadable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.storage_sql import SqlAuditStore
from services.cli.audit import register
from tests.audit.logs import build_log, decision_entries


def safehub_audit(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="safehub")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *map(str, argv)])
    code: int = args.handler(args)
    return code


@pytest.fixture
def hub_log(
    sqlite_store: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> tuple[str, Path]:
    build_log(sqlite_store, log_key, entries=decision_entries(3))  # 18 leaves
    key_file = tmp_path / "audit-log.pub"
    key_file.write_bytes(
        log_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(sqlite_store.engine.url.render_as_string(hide_password=False)), key_file


def test_export_and_verify_the_whole_log(
    hub_log: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, key = hub_log
    out = tmp_path / "export"
    assert safehub_audit("export", out, "--views", "--database-url", url) == 0
    assert safehub_audit("verify", "log", out, "--key", key) == 0
    assert "OK: 18 entries rebuild every one of 3 signed checkpoints" in capsys.readouterr().out
    # Truncate the export: exit 1, with the reason.
    lines = (out / "entries.jsonl").read_text().splitlines()
    (out / "entries.jsonl").write_text("\n".join(lines[:10]) + "\n")
    assert safehub_audit("verify", "log", out, "--key", key) == 1
    assert "FAILED (EntriesMissing)" in capsys.readouterr().err


def test_a_commitments_only_export_verifies_and_holds_no_record(
    hub_log: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, key = hub_log
    full, partner = tmp_path / "full", tmp_path / "partner"
    assert safehub_audit("export", full, "--views", "--database-url", url) == 0
    assert (
        safehub_audit("export", partner, "--views", "--commitments-only", "--database-url", url)
        == 0
    )
    assert safehub_audit("verify", "log", partner, "--key", key) == 0
    assert "OK: 18 entries rebuild every one of 3 signed checkpoints" in capsys.readouterr().out
    full_lines = [json.loads(x) for x in (full / "entries.jsonl").read_text().splitlines()]
    partner_lines = [json.loads(x) for x in (partner / "entries.jsonl").read_text().splitlines()]
    assert [x["data"] for x in full_lines] == [x["data"] for x in partner_lines]
    assert any("record" in x and "salt" in x for x in full_lines)
    assert not any("record" in x or "salt" in x for x in partner_lines)


def test_inclusion_proof_files_for_a_decision(
    hub_log: tuple[str, Path],
    sqlite_store: SqlAuditStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, key = hub_log
    decision_id = sqlite_store.leaf(5).entry_id
    out = tmp_path / "proof"
    assert (
        safehub_audit(
            "proof",
            "inclusion",
            "--decision-id",
            decision_id,
            "--out-dir",
            out,
            "--database-url",
            url,
        )
        == 0
    )
    args = (out / "entry.json", "--proof", out / "inclusion.json")
    assert (
        safehub_audit(
            "verify", "inclusion", *args, "--checkpoint", out / "checkpoint.note", "--key", key
        )
        == 0
    )
    assert "OK: entry 5" in capsys.readouterr().out
    entry = json.loads((out / "entry.json").read_text())
    entry["view"]["decision"]["explanation"] = "Nothing to see here."
    (out / "entry.json").write_text(json.dumps(entry))
    assert (
        safehub_audit(
            "verify", "inclusion", *args, "--checkpoint", out / "checkpoint.note", "--key", key
        )
        == 1
    )
    assert "EntryEdited" in capsys.readouterr().err


def test_consistency_and_checkpoint_commands(
    hub_log: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, key = hub_log
    out = tmp_path / "consistency"
    assert (
        safehub_audit(
            "proof", "consistency", "--old-size", "7", "--out-dir", out, "--database-url", url
        )
        == 0
    )
    assert (
        safehub_audit(
            "verify",
            "consistency",
            out / "old.note",
            out / "new.note",
            "--proof",
            out / "consistency.json",
            "--key",
            key,
        )
        == 0
    )
    assert "size 18 extends checkpoint at size 7" in capsys.readouterr().out
    # Swapped: the "newer" checkpoint is smaller, a truncated log.
    assert (
        safehub_audit(
            "verify",
            "consistency",
            out / "new.note",
            out / "old.note",
            "--proof",
            out / "consistency.json",
            "--key",
            key,
        )
        == 1
    )
    assert "LogTruncated" in capsys.readouterr().err
    note = tmp_path / "latest.note"
    assert safehub_audit("checkpoint", "--out", note, "--database-url", url) == 0
    assert note.read_text().splitlines()[1] == "18"


def test_unreadable_input_exits_2(
    hub_log: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, key = hub_log
    bad = tmp_path / "bad.note"
    bad.write_text("not a checkpoint\n")
    assert safehub_audit("verify", "consistency", bad, bad, "--proof", bad, "--key", key) == 2
    assert "CheckpointMalformed" in capsys.readouterr().err
    assert safehub_audit("verify", "log", tmp_path, "--key", tmp_path / "missing.pub") == 2
    assert (
        safehub_audit(
            "proof",
            "inclusion",
            "--leaf-index",
            "99",
            "--out-dir",
            tmp_path / "p",
            "--database-url",
            url,
        )
        == 2
    )
    assert "NotFound" in capsys.readouterr().err


def test_the_store_check_command(
    hub_log: tuple[str, Path], sqlite_store: SqlAuditStore, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.audit.tamper import tamper

    url, _ = hub_log
    assert safehub_audit("check", "--full", "--database-url", url) == 0
    assert "OK: 18 leaves" in capsys.readouterr().out
    tamper(
        sqlite_store, "audit_leaves", "UPDATE audit_leaves SET data = x'00' WHERE leaf_index = 3"
    )
    assert safehub_audit("check", "--database-url", url) == 0  # the edge is intact
    assert safehub_audit("check", "--full", "--database-url", url) == 1
    assert "StorageCorrupt" in capsys.readouterr().err
