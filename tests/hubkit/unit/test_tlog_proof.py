"""C2SP tlog-proof (hubkit.tlog_proof): the format as the specification lays it out, strict
parsing (a bad file names its line), and verification: every proof built from a random tree
verifies, and a flipped bit in any hash, the index, the entry, the log's signature or a
cosignature fails it."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.merkle import CompactRange, LeafHashSubtrees, inclusion_proof
from services.hubkit.cosignature import cosign, cosigner_verifier_key
from services.hubkit.errors import (
    InclusionUnproven,
    NoteMalformed,
    NoteUnverified,
    TransparencyLogError,
    WitnessQuorumUnmet,
)
from services.hubkit.merkle import leaf_hash
from services.hubkit.signed_note import (
    SIGNATURE_TYPE_ED25519,
    NoteSignature,
    SignedNote,
    VerifierKey,
    encode_note,
    encode_signature_line,
)
from services.hubkit.tlog_checkpoint import TlogCheckpoint, encode_checkpoint_text
from services.hubkit.tlog_proof import (
    TLOG_PROOF_HEADER,
    TlogProof,
    decode_tlog_proof,
    encode_tlog_proof,
    verify_tlog_proof,
)

ORIGIN = "example.com/fancylog"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG_VKEY = VerifierKey.for_ed25519(ORIGIN, SIGNATURE_TYPE_ED25519, LOG_KEY.public_key())
WITNESS_KEYS = {
    name: Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32)
    for i, name in enumerate(("council", "police", "health"))
}
WITNESSES = {
    name: cosigner_verifier_key(f"witness.{name}.example", key.public_key())
    for name, key in WITNESS_KEYS.items()
}


def two_of_three(names: frozenset[str]) -> bool:
    return len(names) >= 2


def _note(size: int, root: bytes, *, cosigners: tuple[str, ...] = ("council", "police")) -> bytes:
    text = encode_checkpoint_text(TlogCheckpoint(ORIGIN, size, root))
    signature = NoteSignature(ORIGIN, LOG_VKEY.key_id, LOG_KEY.sign(text))
    note = encode_note(SignedNote(text, (signature,)))
    for name in cosigners:
        cosig = cosign(
            text,
            name=WITNESSES[name].name,
            private_key=WITNESS_KEYS[name],
            timestamp=1_800_000_000,
        )
        note += encode_signature_line(cosig.note_signature())
    return note


def _proof(leaves: list[bytes], index: int, **kwargs: tuple[str, ...]) -> TlogProof:
    hashes = [leaf_hash(d) for d in leaves]
    path = inclusion_proof(LeafHashSubtrees(hashes), leaf_index=index, tree_size=len(leaves)).path
    root = CompactRange().extend(hashes).root()
    return TlogProof(index=index, path=path, checkpoint=_note(len(leaves), root, **kwargs))


def _verify(proof: TlogProof, entry: bytes, **overrides: object) -> object:
    arguments: dict[str, object] = {
        "entry": entry,
        "log_keys": [LOG_VKEY],
        "witnesses": WITNESSES,
        "quorum_met": two_of_three,
    }
    arguments.update(overrides)
    return verify_tlog_proof(proof, **arguments)  # type: ignore[arg-type]


LEAVES = [f"entry-{i}".encode() for i in range(11)]


# -- the format --------------------------------------------------------------------------------


def test_the_file_is_laid_out_as_the_specification_shows() -> None:
    proof = _proof(LEAVES, 6)
    proof = TlogProof(proof.index, proof.path, proof.checkpoint, extra=b"age-v1.2.1")
    text = encode_tlog_proof(proof).decode()
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" == TLOG_PROOF_HEADER
    assert lines[1] == "extra " + base64.b64encode(b"age-v1.2.1").decode()
    assert lines[2] == "index 6"
    hashes = lines[3 : 3 + len(proof.path)]
    assert [base64.b64decode(h) for h in hashes] == list(proof.path)
    assert lines[3 + len(proof.path)] == ""
    assert text.endswith(proof.checkpoint.decode())
    assert lines[4 + len(proof.path)] == ORIGIN
    assert any(line.startswith("\u2014 witness.council.example ") for line in lines)
    assert decode_tlog_proof(text.encode()) == proof


@given(
    size=st.integers(min_value=1, max_value=40),
    data=st.data(),
    extra=st.none() | st.binary(min_size=1, max_size=40),
)
@settings(max_examples=60, deadline=None)
def test_round_trip_and_every_proof_from_a_random_tree_verifies(
    size: int, data: st.DataObject, extra: bytes | None
) -> None:
    leaves = [data.draw(st.binary(max_size=24)) + bytes([i]) for i in range(size)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    built = _proof(leaves, index)
    proof = TlogProof(built.index, built.path, built.checkpoint, extra)
    parsed = decode_tlog_proof(encode_tlog_proof(proof))
    assert parsed == proof
    verified = _verify(parsed, leaves[index])
    assert verified.index == index  # type: ignore[attr-defined]
    assert verified.checkpoint.tree_size == size  # type: ignore[attr-defined]
    assert verified.witnesses == ("council", "police")  # type: ignore[attr-defined]


@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_flipped_bit_in_any_hash_or_the_index_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=40))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = _proof(LEAVES[:1] + [bytes([i]) for i in range(1, size)], index)
    entry = LEAVES[0] if index == 0 else bytes([index])
    bit = data.draw(st.integers(min_value=0, max_value=255))
    if data.draw(st.booleans()):
        # A flipped bit in one of the path's hashes.
        which = data.draw(st.integers(min_value=0, max_value=len(proof.path) - 1))
        flipped = bytearray(proof.path[which])
        flipped[bit // 8] ^= 1 << (bit % 8)
        path = (*proof.path[:which], bytes(flipped), *proof.path[which + 1 :])
        tampered = TlogProof(proof.index, path, proof.checkpoint)
    else:
        # A flipped bit in the index (still inside the tree, or outside it).
        tampered = TlogProof(proof.index ^ (1 << (bit % 6)), proof.path, proof.checkpoint)
    reparsed = decode_tlog_proof(encode_tlog_proof(tampered))
    with pytest.raises(InclusionUnproven):
        _verify(reparsed, entry)


# -- strict parsing ------------------------------------------------------------------------------


def _valid() -> bytes:
    return encode_tlog_proof(_proof(LEAVES, 3))


@pytest.mark.parametrize(
    ("edit", "line", "why"),
    [
        (lambda t: t.replace(b"tlog-proof@v1", b"tlog-proof@v2", 1), 1, "expected"),
        (lambda t: t.replace(b"index 3", b"index 03", 1), 2, "leading zeros"),
        (lambda t: t.replace(b"index 3", b"index -3", 1), 2, "leading zeros"),
        (lambda t: t.replace(b"index 3", b"index3", 1), 2, "expected 'index <N>'"),
        (lambda t: t.replace(b"index 3\n", b"", 1), 2, "expected 'index <N>'"),
        (lambda t: t.replace(b"index 3\n", b"index 3\nAAAA\n", 1), 3, "not 32"),
        (lambda t: t.replace(b"index 3\n", b"index 3\n!!!!\n", 1), 3, "base64"),
        (
            lambda t: t.replace(b"c2sp.org/tlog-proof@v1\n", b"c2sp.org/tlog-proof@v1\nextra %\n"),
            2,
            "base64",
        ),
        (lambda t: t.split(b"\n\n", 1)[0], 7, "ends before"),
        (
            lambda t: t.replace(ORIGIN.encode() + b"\n11\n", ORIGIN.encode() + b"\n011\n", 1),
            8,
            "the checkpoint",
        ),
        (lambda t: t.replace("\u2014".encode(), b"-", 1), 8, "the checkpoint"),
        (lambda t: t + b"trailing", 8, "the checkpoint"),
        (lambda t: b"\xff" + t, 0, "UTF-8"),
    ],
)
def test_a_bad_file_is_refused_naming_its_line(edit: object, line: int, why: str) -> None:
    data = edit(_valid())  # type: ignore[operator]
    with pytest.raises(NoteMalformed) as refused:
        decode_tlog_proof(data)
    if line:
        assert f"tlog-proof line {line}:" in refused.value.reason
    assert why in refused.value.reason


# -- verification ----------------------------------------------------------------------------


def test_another_entry_fails() -> None:
    proof = _proof(LEAVES, 3)
    _verify(proof, LEAVES[3])
    with pytest.raises(InclusionUnproven, match="does not match the checkpoint"):
        _verify(proof, LEAVES[4])


def test_a_checkpoint_from_an_untrusted_log_or_key_fails() -> None:
    proof = _proof(LEAVES, 3)
    other = VerifierKey.for_ed25519(
        ORIGIN, SIGNATURE_TYPE_ED25519, Ed25519PrivateKey.generate().public_key()
    )
    with pytest.raises(NoteUnverified, match="no signature by a trusted key"):
        _verify(proof, LEAVES[3], log_keys=[other])
    renamed = VerifierKey.for_ed25519(
        "example.com/otherlog", SIGNATURE_TYPE_ED25519, LOG_KEY.public_key()
    )
    with pytest.raises(NoteUnverified, match="not from a log you trust"):
        _verify(proof, LEAVES[3], log_keys=[renamed])


def test_an_altered_checkpoint_fails_its_log_signature() -> None:
    proof = _proof(LEAVES, 3)
    text = proof.checkpoint.replace(b"\n11\n", b"\n12\n", 1)
    with pytest.raises(NoteUnverified, match="does not verify"):
        _verify(TlogProof(proof.index, proof.path, text), LEAVES[3])


def test_the_quorum_counts_only_cosignatures_that_verify() -> None:
    one = _proof(LEAVES, 3, cosigners=("council",))
    with pytest.raises(WitnessQuorumUnmet, match="cosigned by council, which does not meet"):
        _verify(one, LEAVES[3])
    # A forged cosignature by a listed witness does not count.
    two = _proof(LEAVES, 3)
    lines = two.checkpoint.decode().split("\n")
    police = next(i for i, line in enumerate(lines) if "witness.police.example" in line)
    name, _, signature = lines[police].rpartition(" ")
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1
    lines[police] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    forged = TlogProof(two.index, two.path, "\n".join(lines).encode())
    with pytest.raises(WitnessQuorumUnmet):
        _verify(forged, LEAVES[3])
    # Three of three meet a stricter policy; two of three do not.
    three = _proof(LEAVES, 3, cosigners=("council", "police", "health"))
    assert _verify(three, LEAVES[3], quorum_met=lambda n: len(n) == 3)
    with pytest.raises(WitnessQuorumUnmet):
        _verify(two, LEAVES[3], quorum_met=lambda n: len(n) == 3)


def test_every_failure_is_a_transparency_log_error_with_a_reason() -> None:
    proof = _proof(LEAVES, 3, cosigners=())
    with pytest.raises(TransparencyLogError) as failed:
        _verify(proof, LEAVES[3])
    assert failed.value.reason
