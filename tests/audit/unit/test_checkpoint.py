"""Signed checkpoints: C2SP checkpoint body, signed-note wire format, Ed25519, and the checks a
monitor runs between checkpoints (consistency, split view, truncation)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.checkpoint import (
    AUDIT_LOG_ORIGIN,
    Checkpoint,
    NoteSignature,
    SignedCheckpoint,
    check_consistency,
    check_inclusion,
    check_split_view,
    decode_checkpoint,
    decode_signed_note,
    encode_checkpoint,
    encode_signed_note,
    key_id,
    sign_checkpoint,
    verify_checkpoint,
)
from services.audit.domain.errors import (
    AuditError,
    CheckpointMalformed,
    CheckpointOriginMismatch,
    CheckpointSignatureInvalid,
    ConsistencyProofInvalid,
    InclusionProofInvalid,
    LogTruncated,
    ProofRequestInvalid,
    SplitViewDetected,
)
from services.audit.domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ConsistencyProof,
    LeafHashSubtrees,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)

# Fixed seeds: Ed25519 is deterministic, so every run signs the same bytes.
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))

NOW_MS = 1_717_171_717_000
# Root of the 8-leaf Certificate Transparency test tree.
CT_ROOT_8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


def records(n: int, *, fork_at: int | None = None) -> list[bytes]:
    """Synthetic decision records; `fork_at` rewrites one to model a log that changed history."""
    return [(b"forged " if i == fork_at else b"") + f"decision-{i}".encode() for i in range(n)]


def root_at(entries: list[bytes], size: int) -> bytes:
    return CompactRange().extend(leaf_hash(e) for e in entries[:size]).root()


def checkpoint(size: int, root: bytes, timestamp_ms: int = NOW_MS) -> Checkpoint:
    return Checkpoint(
        origin=AUDIT_LOG_ORIGIN, tree_size=size, root_hash=root, timestamp_ms=timestamp_ms
    )


def signed_note(cp: Checkpoint, key: Ed25519PrivateKey = LOG_KEY) -> bytes:
    return encode_signed_note(sign_checkpoint(cp, key))


# --- The body ---------------------------------------------------------------------------------


def test_body_is_the_c2sp_checkpoint_text_plus_a_timestamp_line() -> None:
    cp = checkpoint(8, CT_ROOT_8)
    assert encode_checkpoint(cp) == (
        b"safehub.audit.v1\n"
        b"8\n"
        b"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
        b"timestamp-ms: 1717171717000\n"
    )
    assert decode_checkpoint(encode_checkpoint(cp)) == cp


origins = st.text(
    alphabet=st.characters(
        blacklist_categories=("Z", "Cc", "Cs"),
        blacklist_characters="+\u0085\u001c\u001d\u001e\u001f",
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: not any(ch.isspace() for ch in s))

checkpoints = st.builds(
    Checkpoint,
    origin=origins,
    tree_size=st.integers(min_value=0, max_value=2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    timestamp_ms=st.integers(min_value=0, max_value=2**64 - 1),
)


@settings(max_examples=200, deadline=None)
@given(cp=checkpoints)
def test_body_round_trips(cp: Checkpoint) -> None:
    assert decode_checkpoint(encode_checkpoint(cp)) == cp


GOOD_ROOT_LINE = base64.b64encode(CT_ROOT_8)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n\n", "5 lines"),
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE + b"\n", "3 lines"),
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1", "newline"),
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE + b"\nextra\ntimestamp-ms: 1\n", "5 lines"),
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp: 1\n", "fourth line"),
        (b"safehub.audit.v1\n08\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "leading zeros"),
        (b"safehub.audit.v1\n+8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "leading zeros"),
        (b"safehub.audit.v1\n 8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "leading zeros"),
        (b"safehub.audit.v1\n8_0\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "leading zeros"),
        ("safehub.audit.v1\n٨\n".encode() + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "ASCII"),
        (
            b"safehub.audit.v1\n18446744073709551616\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n",
            "outside",
        ),
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: -1\n", "leading zeros"),
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE[:-1] + b"\ntimestamp-ms: 1\n", "base64"),
        # Same bytes, non-zero padding bits: a second spelling of one root.
        (b"safehub.audit.v1\n8\n" + GOOD_ROOT_LINE[:-2] + b"h=\ntimestamp-ms: 1\n", "canonical"),
        (
            b"safehub.audit.v1\n8\n" + base64.b64encode(CT_ROOT_8[:31]) + b"\ntimestamp-ms: 1\n",
            "31 bytes",
        ),
        (b"safehub audit\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "spaces"),
        (b"safehub+audit\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", r"'\+'"),
        (b"\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "empty"),
        (b"safehub\x07\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "control"),
        (b"safehub\xff\n8\n" + GOOD_ROOT_LINE + b"\ntimestamp-ms: 1\n", "UTF-8"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(CheckpointMalformed, match=reason):
        decode_checkpoint(body)


@pytest.mark.parametrize(
    "fields",
    [
        {"origin": ""},
        {"origin": "safehub audit"},
        {"origin": "safehub\naudit"},
        {"origin": "a+b"},
        {"origin": "safehub\u2003audit"},  # an em space
        {"tree_size": -1},
        {"tree_size": 2**64},
        {"timestamp_ms": -1},
        {"root_hash": b"\x00" * 31},
    ],
)
def test_checkpoints_cannot_be_built_with_fields_the_format_cannot_carry(
    fields: dict[str, object],
) -> None:
    base: dict[str, object] = {
        "origin": AUDIT_LOG_ORIGIN,
        "tree_size": 8,
        "root_hash": CT_ROOT_8,
        "timestamp_ms": NOW_MS,
    }
    with pytest.raises(CheckpointMalformed):
        Checkpoint(**{**base, **fields})  # type: ignore[arg-type]


# --- Keys and signatures ----------------------------------------------------------------------


def test_key_id_follows_the_signed_note_spec() -> None:
    public = LOG_KEY.public_key()
    expected = hashlib.sha256(
        AUDIT_LOG_ORIGIN.encode() + b"\n" + b"\x01" + public.public_bytes_raw()
    ).digest()[:4]
    assert key_id(AUDIT_LOG_ORIGIN, public) == expected
    assert key_id("another.log", public) != expected


def test_key_id_and_signature_match_the_go_sumdb_note_vector() -> None:
    """golang.org/x/mod/sumdb/note's published example: key PeterNeumann+c74f20a3."""
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key()
    assert base64.b64encode(b"\x01" + public.public_bytes_raw()) == (
        b"ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    assert key_id("PeterNeumann", public).hex() == "c74f20a3"
    text = (
        b"If you think cryptography is the answer to your problem,\n"
        b"then you don't know what your problem is.\n"
    )
    assert base64.b64encode(key_id("PeterNeumann", public) + key.sign(text)) == (
        b"x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
    )


def test_sign_and_verify_round_trip() -> None:
    cp = checkpoint(8, CT_ROOT_8)
    signed = sign_checkpoint(cp, LOG_KEY)
    assert verify_checkpoint(signed, LOG_KEY.public_key()) == cp
    assert signed.signatures[0].key_name == AUDIT_LOG_ORIGIN
    assert signed.signatures[0].key_id == key_id(AUDIT_LOG_ORIGIN, LOG_KEY.public_key())


def test_signed_note_wire_format() -> None:
    cp = checkpoint(8, CT_ROOT_8)
    signature = LOG_KEY.sign(encode_checkpoint(cp))
    expected_line = (
        "— safehub.audit.v1 "
        + base64.b64encode(key_id(AUDIT_LOG_ORIGIN, LOG_KEY.public_key()) + signature).decode()
        + "\n"
    )
    assert signed_note(cp) == encode_checkpoint(cp) + b"\n" + expected_line.encode()
    decoded = decode_signed_note(signed_note(cp))
    assert decoded == sign_checkpoint(cp, LOG_KEY)
    assert verify_checkpoint(decoded, LOG_KEY.public_key()) == cp


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 9},
        {"tree_size": 7},
        {"root_hash": EMPTY_ROOT},
        {"timestamp_ms": NOW_MS + 1},
    ],
)
def test_a_tampered_checkpoint_fails(change: dict[str, Any]) -> None:
    signed = sign_checkpoint(checkpoint(8, CT_ROOT_8), LOG_KEY)
    tampered = dataclasses.replace(
        signed, checkpoint=dataclasses.replace(signed.checkpoint, **change)
    )
    with pytest.raises(CheckpointSignatureInvalid, match="altered after signing"):
        verify_checkpoint(tampered, LOG_KEY.public_key())


def test_a_checkpoint_moved_to_another_origin_has_no_valid_signature() -> None:
    signed = sign_checkpoint(checkpoint(8, CT_ROOT_8), LOG_KEY)
    moved = dataclasses.replace(
        signed, checkpoint=dataclasses.replace(signed.checkpoint, origin="other.log")
    )
    with pytest.raises(CheckpointSignatureInvalid, match=r"no signature by key other\.log"):
        verify_checkpoint(moved, LOG_KEY.public_key())


def test_every_single_bit_flip_in_a_signed_note_is_refused() -> None:
    note = signed_note(checkpoint(8, CT_ROOT_8))
    accepted = []
    for bit in range(len(note) * 8):
        flipped = bytearray(note)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            verify_checkpoint(decode_signed_note(bytes(flipped)), LOG_KEY.public_key())
        except (CheckpointMalformed, CheckpointSignatureInvalid):
            continue
        accepted.append(bit)
    assert accepted == []


def test_a_wrong_key_fails() -> None:
    signed = sign_checkpoint(checkpoint(8, CT_ROOT_8), LOG_KEY)
    with pytest.raises(CheckpointSignatureInvalid, match="current public key"):
        verify_checkpoint(signed, OTHER_KEY.public_key())
    # Signed by another key entirely.
    with pytest.raises(CheckpointSignatureInvalid, match="no signature by key"):
        verify_checkpoint(
            sign_checkpoint(checkpoint(8, CT_ROOT_8), OTHER_KEY), LOG_KEY.public_key()
        )


def test_a_signature_that_borrows_the_log_key_id_fails() -> None:
    cp = checkpoint(8, CT_ROOT_8)
    impostor = NoteSignature(
        key_name=AUDIT_LOG_ORIGIN,
        key_id=key_id(AUDIT_LOG_ORIGIN, LOG_KEY.public_key()),
        signature=OTHER_KEY.sign(encode_checkpoint(cp)),
    )
    with pytest.raises(CheckpointSignatureInvalid, match="does not verify"):
        verify_checkpoint(SignedCheckpoint(cp, (impostor,)), LOG_KEY.public_key())
    truncated = dataclasses.replace(impostor, signature=LOG_KEY.sign(encode_checkpoint(cp))[:-1])
    with pytest.raises(CheckpointSignatureInvalid, match="does not verify"):
        verify_checkpoint(SignedCheckpoint(cp, (truncated,)), LOG_KEY.public_key())


def test_unknown_cosignatures_are_ignored_and_never_stand_in_for_the_log() -> None:
    cp = checkpoint(8, CT_ROOT_8)
    body = encode_checkpoint(cp)
    witness_line = (
        "— witness.example/w1 "
        + base64.b64encode(
            key_id("witness.example/w1", WITNESS_KEY.public_key()) + WITNESS_KEY.sign(body)
        ).decode()
        + "\n"
    ).encode()
    cosigned = signed_note(cp) + witness_line
    assert verify_checkpoint(decode_signed_note(cosigned), LOG_KEY.public_key()) == cp
    witness_only = body + b"\n" + witness_line
    with pytest.raises(CheckpointSignatureInvalid, match=r"signed by: witness\.example/w1\+"):
        verify_checkpoint(decode_signed_note(witness_only), LOG_KEY.public_key())


NOTE = signed_note(checkpoint(8, CT_ROOT_8))
BODY = encode_checkpoint(checkpoint(8, CT_ROOT_8))
SIGNATURE_LINE = NOTE[len(BODY) + 1 :]


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (BODY, "no blank line"),
        (BODY + b"\n" + SIGNATURE_LINE[:-1], "does not end in a newline"),
        (BODY + b"\n" + SIGNATURE_LINE.replace("—".encode(), b"-"), "does not start"),
        (BODY + b"\n" + SIGNATURE_LINE.replace(b" ", b"  ", 1), "not '"),
        (BODY + b"\n" + "— safehub.audit.v1 AAAA\n".encode(), "too short"),
        (BODY + b"\n" + "— safehub.audit.v1 !!!!\n".encode(), "base64"),
        (BODY + b"\n" + SIGNATURE_LINE * 65, "more than the 64"),
        # The last blank line separates the signatures, so the body gains an empty line.
        (BODY + b"\n" + b"\n" + SIGNATURE_LINE, "5 lines"),
        (BODY.replace(b"8", b"8\r", 1) + b"\n" + SIGNATURE_LINE, "control character"),
        (b"\xff" + NOTE, "UTF-8"),
    ],
)
def test_malformed_notes_are_refused(note: bytes, reason: str) -> None:
    with pytest.raises(CheckpointMalformed, match=reason):
        decode_signed_note(note)


# --- Between checkpoints ----------------------------------------------------------------------


def verified(entries: list[bytes], size: int, timestamp_ms: int = NOW_MS) -> Checkpoint:
    """Sign a checkpoint over the log, send it over the wire and verify it as a monitor would."""
    note = signed_note(checkpoint(size, root_at(entries, size), timestamp_ms))
    return verify_checkpoint(decode_signed_note(note), LOG_KEY.public_key())


def test_consistency_across_two_checkpoints() -> None:
    entries = records(20)
    old, new = verified(entries, 7), verified(entries, 20, NOW_MS + 60_000)
    subtrees = LeafHashSubtrees([leaf_hash(e) for e in entries])
    check_consistency(old, new, consistency_proof(subtrees, old_size=7, new_size=20))
    # Equal checkpoints need no proof; the empty tree precedes everything.
    check_consistency(new, new, ConsistencyProof(old_size=20, new_size=20, path=()))
    empty = verified(entries, 0)
    assert empty.root_hash == EMPTY_ROOT
    check_consistency(empty, new, consistency_proof(subtrees, old_size=0, new_size=20))


def test_a_forged_consistency_proof_fails() -> None:
    entries = records(20)
    old, new = verified(entries, 7), verified(entries, 20)
    subtrees = LeafHashSubtrees([leaf_hash(e) for e in entries])
    proof = consistency_proof(subtrees, old_size=7, new_size=20)
    forged_path = (proof.path[0], leaf_hash(b"forged"), *proof.path[2:])
    with pytest.raises(ConsistencyProofInvalid):
        check_consistency(old, new, dataclasses.replace(proof, path=forged_path))
    with pytest.raises(ConsistencyProofInvalid, match="between these two sizes"):
        check_consistency(old, new, consistency_proof(subtrees, old_size=6, new_size=20))
    with pytest.raises(ConsistencyProofInvalid, match="empty"):
        check_consistency(old, new, dataclasses.replace(proof, path=()))


def test_a_log_that_rewrote_history_cannot_prove_consistency() -> None:
    honest, forked = records(20), records(20, fork_at=3)
    old = verified(honest, 7)
    new = verified(forked, 20)  # the log signs its rewritten tree with its real key
    forked_subtrees = LeafHashSubtrees([leaf_hash(e) for e in forked])
    with pytest.raises(ConsistencyProofInvalid, match="not a prefix"):
        check_consistency(old, new, consistency_proof(forked_subtrees, old_size=7, new_size=20))


def test_split_view_is_detected_and_names_both_checkpoints() -> None:
    honest, forked = records(10), records(10, fork_at=4)
    first, second = verified(honest, 10), verified(forked, 10, NOW_MS + 5)
    with pytest.raises(SplitViewDetected) as caught:
        check_split_view(first, second)
    assert (caught.value.first, caught.value.second) == (first, second)
    assert first.root_hash.hex() in caught.value.reason
    assert second.root_hash.hex() in caught.value.reason
    assert "tree size 10" in caught.value.reason
    # Found on the way too, whatever proof is offered.
    with pytest.raises(SplitViewDetected):
        check_consistency(first, second, ConsistencyProof(old_size=10, new_size=10, path=()))


def test_same_root_different_times_or_sizes_is_not_a_split_view() -> None:
    entries = records(10)
    check_split_view(verified(entries, 10), verified(entries, 10, NOW_MS + 1))
    check_split_view(verified(entries, 9), verified(entries, 10))


def test_truncation_is_detected() -> None:
    entries = records(10)
    older, newer = verified(entries, 8), verified(entries, 5, NOW_MS + 1)
    with pytest.raises(LogTruncated, match="shrank from 8 to 5") as caught:
        check_consistency(older, newer, ConsistencyProof(old_size=8, new_size=5, path=()))
    assert (caught.value.older, caught.value.newer) == (older, newer)


def test_checkpoints_of_different_logs_are_not_compared() -> None:
    entries = records(10)
    ours = verified(entries, 10)
    theirs = dataclasses.replace(ours, origin="other.log", root_hash=EMPTY_ROOT)
    with pytest.raises(CheckpointOriginMismatch):
        check_split_view(ours, theirs)
    with pytest.raises(CheckpointOriginMismatch):
        check_consistency(ours, theirs, ConsistencyProof(old_size=10, new_size=10, path=()))


def test_inclusion_against_a_checkpoint_binds_the_signed_size() -> None:
    entries = records(3)
    cp = verified(entries, 3)
    subtrees = LeafHashSubtrees([leaf_hash(e) for e in entries])
    proof = inclusion_proof(subtrees, leaf_index=0, tree_size=3)
    check_inclusion(cp, proof, leaf_hash=leaf_hash(entries[0]))
    with pytest.raises(InclusionProofInvalid, match="does not match the checkpoint"):
        check_inclusion(cp, proof, leaf_hash=leaf_hash(entries[1]))
    # A size-3 proof for leaf 0 also verifies as size 4 on its own; the checkpoint refuses it.
    with pytest.raises(InclusionProofInvalid, match="checkpoint is at size 3"):
        check_inclusion(
            cp, dataclasses.replace(proof, tree_size=4), leaf_hash=leaf_hash(entries[0])
        )


def test_every_error_is_an_audit_error_with_a_reason() -> None:
    for error in (
        CheckpointMalformed,
        CheckpointOriginMismatch,
        CheckpointSignatureInvalid,
        ConsistencyProofInvalid,
        InclusionProofInvalid,
        LogTruncated,
        ProofRequestInvalid,
        SplitViewDetected,
    ):
        assert issubclass(error, AuditError)
    err = ConsistencyProofInvalid("why")
    assert err.reason == str(err) == "why"
