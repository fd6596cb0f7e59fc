"""The partner's verifier, attack by attack: edited entries, truncated logs, split views,
forged checkpoints, rewritten history. Evidence comes from a real (SQLite) store through the
hub's export functions; the verifier sees only files and the public key."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoint import (
    Checkpoint,
    decode_signed_note,
    encode_signed_note,
    sign_checkpoint,
)
from services.audit.errors import (
    CheckpointSignatureInvalid,
    ConsistencyProofInvalid,
    EntriesMissing,
    EntryEdited,
    EvidenceMalformed,
    InclusionProofInvalid,
    LogTruncated,
    SplitViewDetected,
)
from services.audit.export import consistency_evidence, export_log, inclusion_evidence
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import (
    decode_entry,
    encode_entry,
    read_export,
    verify_consistency_files,
    verify_inclusion_files,
    verify_log,
)
from tests.audit.logs import ORIGIN, build_log, decision_entries
from tests.factories import catalog

CATALOG = catalog()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))


@pytest.fixture
def signed_log(sqlite_store: SqlAuditStore, log_key: Ed25519PrivateKey) -> SqlAuditStore:
    build_log(sqlite_store, log_key, entries=decision_entries(5))  # 30 leaves, 5 checkpoints
    return sqlite_store


def _export(store: SqlAuditStore, tmp_path: Path, *, views: bool = True) -> Path:
    out = tmp_path / "export"
    export_log(store, out, catalog=CATALOG if views else None)
    return out


def _verify_dir(directory: Path, key: Ed25519PrivateKey, *extra: bytes):  # type: ignore[no-untyped-def]
    entries, notes = read_export(directory)
    return verify_log(
        entries=entries, notes=[*notes, *extra], public_key=key.public_key(), catalog=CATALOG
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _fork(tmp_path: Path, key: Ed25519PrivateKey, *, seed: int) -> SqlAuditStore:
    """A second log under the same key and origin: what a log operator showing different
    histories to different readers would hold."""
    fork = open_store(f"sqlite:///{tmp_path / f'fork-{seed}.db'}")
    build_log(fork, key, entries=decision_entries(5, seed=seed))
    return fork


# -- the honest log verifies ------------------------------------------------------------------


def test_an_honest_export_verifies(signed_log: SqlAuditStore, log_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = _verify_dir(_export(signed_log, tmp_path), log_key)
    assert report.entries == 30
    assert [c.tree_size for c in report.checkpoints] == [7, 14, 21, 28, 30]
    assert report.root == signed_log.head().root
    assert report.unsigned_entries == 0


def test_entries_after_the_latest_checkpoint_are_reported_as_unsigned(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    signed_log.append(decision_entries(1, seed=99), appended_at_ms=9)
    out = tmp_path / "all"
    export_log(signed_log, out, up_to_size=signed_log.head().size)
    assert _verify_dir(out, log_key).unsigned_entries == 6


def test_every_leaf_has_a_verifying_inclusion_proof(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey
) -> None:
    for index in range(30):
        evidence = inclusion_evidence(signed_log, leaf_index=index, catalog=CATALOG)
        report = verify_inclusion_files(
            entry=evidence.entry,
            proof=evidence.proof,
            note=evidence.checkpoint.note,
            public_key=log_key.public_key(),
            catalog=CATALOG,
        )
        assert report.leaf_index == index
    # Against an older checkpoint too.
    older = inclusion_evidence(signed_log, leaf_index=3, tree_size=7)
    verify_inclusion_files(
        entry=older.entry,
        proof=older.proof,
        note=older.checkpoint.note,
        public_key=log_key.public_key(),
    )


def test_consecutive_checkpoints_are_consistent(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey
) -> None:
    sizes = [c.checkpoint.tree_size for c in signed_log.checkpoints()]
    for old in sizes:
        for new in sizes:
            if new < old:
                continue
            evidence = consistency_evidence(signed_log, old_size=old, new_size=new)
            verify_consistency_files(
                old_note=evidence.old.note,
                new_note=evidence.new.note,
                proof=evidence.proof,
                public_key=log_key.public_key(),
            )


# -- attack 1: an edited entry ----------------------------------------------------------------


def test_an_edited_entry_in_an_export_is_detected(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = _export(signed_log, tmp_path, views=False)
    lines = _lines(out / "entries.jsonl")
    entry = json.loads(lines[17])
    data = bytearray(base64.b64decode(entry["data"]))
    data[-3] ^= 0x01
    entry["data"] = base64.b64encode(bytes(data)).decode()
    # With its opening, the edited leaf no longer opens; without it (a partner's
    # commitments-only copy), the rehash no longer gives the signed root.
    lines[17] = json.dumps(entry)
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(EntryEdited, match=r"entry 17 does not open its leaf"):
        _verify_dir(out, log_key)
    entry.pop("record")
    entry.pop("salt")
    lines[17] = json.dumps(entry)
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(EntryEdited, match=r"entries 14\.\.20 do not hash"):
        _verify_dir(out, log_key)


def test_an_edited_readable_view_is_detected(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = _export(signed_log, tmp_path)
    lines = _lines(out / "entries.jsonl")
    entry = json.loads(lines[4])
    entry["view"]["decision"]["outcome"] = "PERMIT"  # the bytes still say DENY
    lines[4] = json.dumps(entry)
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(EntryEdited, match="view of entry 4"):
        _verify_dir(out, log_key)


def test_an_edited_entry_fails_its_inclusion_proof(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey
) -> None:
    evidence = inclusion_evidence(signed_log, leaf_index=9)
    exported = decode_entry(evidence.entry)
    assert exported.record is not None
    assert b"R14" in exported.record
    # The record shown with the entry edited: it no longer opens the committed leaf.
    edited = encode_entry(replace(exported, record=exported.record.replace(b"R14", b"R15")))
    assert edited != evidence.entry
    with pytest.raises(EntryEdited, match="does not open its leaf"):
        verify_inclusion_files(
            entry=edited,
            proof=evidence.proof,
            note=evidence.checkpoint.note,
            public_key=log_key.public_key(),
        )
    # The leaf input itself edited: it no longer hashes into the signed root.
    flipped = bytes([exported.data[0], *exported.data[1:-1], exported.data[-1] ^ 1])
    edited = encode_entry(replace(exported, data=flipped, record=None, salt=None))
    with pytest.raises(InclusionProofInvalid, match="does not match the checkpoint"):
        verify_inclusion_files(
            entry=edited,
            proof=evidence.proof,
            note=evidence.checkpoint.note,
            public_key=log_key.public_key(),
        )


def test_a_moved_entry_fails_its_inclusion_proof(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey
) -> None:
    nine = inclusion_evidence(signed_log, leaf_index=9)
    ten = inclusion_evidence(signed_log, leaf_index=10)
    with pytest.raises(EvidenceMalformed, match="leaf 10"):
        verify_inclusion_files(
            entry=nine.entry,
            proof=ten.proof,
            note=ten.checkpoint.note,
            public_key=log_key.public_key(),
        )
    other = decode_entry(nine.entry)
    relabelled = encode_entry(type(other)(10, other.data, None))
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion_files(
            entry=relabelled,
            proof=ten.proof,
            note=ten.checkpoint.note,
            public_key=log_key.public_key(),
        )


def test_a_rewritten_database_row_is_caught_by_a_fresh_export(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    from tests.audit.tamper import tamper

    leaf = signed_log.leaf(2)
    forged = leaf.data[:-1] + bytes([leaf.data[-1] ^ 0x01])
    tamper(
        signed_log,
        "audit_leaves",
        "UPDATE audit_leaves SET data = :d WHERE leaf_index = 2",
        d=forged,
    )
    with pytest.raises(EntryEdited, match=r"entries 0\.\.6"):
        _verify_dir(_export(signed_log, tmp_path, views=False), log_key)


# -- attack 2: a truncated log ----------------------------------------------------------------


def test_an_export_missing_its_last_entries_is_detected(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = _export(signed_log, tmp_path)
    lines = _lines(out / "entries.jsonl")
    (out / "entries.jsonl").write_text("\n".join(lines[:26]) + "\n")
    with pytest.raises(EntriesMissing, match=r"holds 26 entries .* covers 30"):
        _verify_dir(out, log_key)


def test_an_export_missing_a_middle_entry_is_detected(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = _export(signed_log, tmp_path)
    lines = _lines(out / "entries.jsonl")
    del lines[12]
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(EntryEdited, match="entry 12 is missing"):
        _verify_dir(out, log_key)


def test_a_newer_smaller_checkpoint_is_a_truncated_log(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    # The operator dropped the last 9 records and signed the shorter tree later on.
    history = signed_log.checkpoints()
    old = history[-1]
    shorter = history[-2].checkpoint
    resigned = Checkpoint(
        ORIGIN, shorter.tree_size, shorter.root_hash, old.checkpoint.timestamp_ms + 1
    )
    note = encode_signed_note(sign_checkpoint(resigned, log_key))
    with pytest.raises(LogTruncated, match="shrank from 30 to 28"):
        _verify_dir(_export(signed_log, tmp_path), log_key, note)
    proof = consistency_evidence(signed_log, old_size=28, new_size=28).proof
    with pytest.raises(LogTruncated):
        verify_consistency_files(
            old_note=old.note, new_note=note, proof=proof, public_key=log_key.public_key()
        )


# -- attack 3: a split view -------------------------------------------------------------------


def test_two_checkpoints_of_one_size_are_a_split_view(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    fork = _fork(tmp_path, log_key, seed=12)
    ours = signed_log.checkpoint(14)
    theirs = fork.checkpoint(14)
    assert ours.checkpoint.root_hash != theirs.checkpoint.root_hash
    proof = consistency_evidence(signed_log, old_size=14, new_size=14).proof
    with pytest.raises(SplitViewDetected, match="two different roots for tree size 14"):
        verify_consistency_files(
            old_note=ours.note, new_note=theirs.note, proof=proof, public_key=log_key.public_key()
        )
    # Another agency's copy of a checkpoint, cross-checked against our export.
    with pytest.raises(SplitViewDetected):
        _verify_dir(_export(signed_log, tmp_path), log_key, theirs.note)
    fork.close()


def test_a_forked_history_fails_consistency(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    fork = _fork(tmp_path, log_key, seed=13)
    proof = consistency_evidence(fork, old_size=7, new_size=30).proof
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency_files(
            old_note=signed_log.checkpoint(7).note,
            new_note=fork.checkpoint(30).note,
            proof=proof,
            public_key=log_key.public_key(),
        )
    fork.close()


# -- forged checkpoints and unreadable evidence ------------------------------------------------


def test_a_checkpoint_signed_by_another_key_is_refused(
    signed_log: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    cp = signed_log.checkpoint(30).checkpoint
    forged = encode_signed_note(sign_checkpoint(cp, OTHER_KEY))
    with pytest.raises(CheckpointSignatureInvalid):
        _verify_dir(_export(signed_log, tmp_path), log_key, forged)
    # Editing a signed note's size breaks its signature.
    note = signed_log.checkpoint(28).note.replace(b"\n28\n", b"\n30\n")
    assert decode_signed_note(note).checkpoint.tree_size == 30
    with pytest.raises(CheckpointSignatureInvalid, match="altered"):
        _verify_dir(_export(signed_log, tmp_path), log_key, note)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda e: b"not json",
        lambda e: e.replace(b"safehub.audit.entry.v1", b"other"),
        lambda e: e.replace(b'"data": "', b'"data": "!!'),
    ],
)
def test_unreadable_entry_files_are_malformed_evidence(signed_log: SqlAuditStore, mangle) -> None:  # type: ignore[no-untyped-def]
    evidence = inclusion_evidence(signed_log, leaf_index=0)
    with pytest.raises(EvidenceMalformed):
        decode_entry(mangle(evidence.entry))


def test_an_export_directory_must_hold_the_log(tmp_path: Path) -> None:
    with pytest.raises(EvidenceMalformed, match="not an audit log export"):
        read_export(tmp_path)
