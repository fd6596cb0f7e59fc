"""Interoperability: the C2SP specifications' examples and a reference implementation's
output, byte for byte, so a partner could run another witness or verifier instead."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.hubkit.cosignature import (
    cosign,
    cosignature_message,
    cosigner_verifier_key,
    decode_cosignature,
    verify_cosignature,
)
from services.hubkit.errors import NoteMalformed, NoteUnverified
from services.hubkit.signed_note import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    SIGNATURE_TYPE_ED25519,
    VerifierKey,
    decode_note,
    decode_signature_lines,
    decode_verifier_key,
    encode_note,
    encode_signature_line,
    note_key_id,
    verify_ed25519_note,
)
from services.hubkit.tlog_checkpoint import decode_checkpoint_text
from services.hubkit.tlog_witness import decode_add_checkpoint

# c2sp.org/signed-note, "Verifier keys" -> "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3"
    "mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# The example of golang.org/x/mod/sumdb/note (the reference implementation of signed notes):
# its private key, text and signed note. Ed25519 is deterministic, so signing must match.
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_SIGNATURE_LINE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
).encode()

# A cosignature/v1 (type 0x04) note made by github.com/transparency-dev/formats/note, as
# captured in yaglo/signed_note test/support/vectors/typed_notes.tsv: its vkey and its note.
REF_COSIGNER_VKEY = "vec.example/cosigv10+c12688da+BLMSTPoQj0PojM8eKiPf9xUT8g6b0OuMyvYb5sSu9JH5"
REF_COSIGNED_NOTE = (
    "vec.example/cosigv10\n42\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 vec.example/cosigv10 wSaI2gAAAABqbL5Q3HjbTCJeqMg3tmpdYGAg05ijTi7k0pyreJSULmtv3g+yXH+G"
    "/Ko87JG+QkLF6af9+GVVNlEIgf6T0bw0wQyMDw==\n"
).encode()

# c2sp.org/tlog-cosignature: the example cosigned checkpoint and the example signed message.
SPEC_COSIGNED = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
).encode()
SPEC_MESSAGE = (
    b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

# c2sp.org/tlog-witness: the example add-checkpoint request body.
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks"
    "+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()


def test_signed_note_spec_example_verifies_with_its_vkey() -> None:
    vkey = decode_verifier_key(SPEC_VKEY)
    assert (vkey.name, vkey.key_id.hex(), vkey.signature_type) == (
        "example.com/foo",
        "530d903a",
        SIGNATURE_TYPE_ED25519,
    )
    assert note_key_id(vkey.name, SIGNATURE_TYPE_ED25519, vkey.public_key).hex() == "530d903a"
    note = decode_note(SPEC_NOTE)
    assert note.text == b"This is an example message.\n"
    assert verify_ed25519_note(note, [vkey]) == vkey
    assert encode_note(note) == SPEC_NOTE
    assert vkey.encode() == SPEC_VKEY


def test_reference_note_signature_reproduced_byte_for_byte() -> None:
    key = Ed25519PrivateKey.from_private_bytes(GO_SEED)
    vkey = VerifierKey.for_ed25519("PeterNeumann", SIGNATURE_TYPE_ED25519, key.public_key())
    assert vkey.encode() == GO_VKEY
    (expected,) = decode_signature_lines(GO_SIGNATURE_LINE)
    signature = key.sign(GO_TEXT)
    assert expected.key_id == vkey.key_id
    assert expected.signature == signature
    assert encode_signature_line(expected) == GO_SIGNATURE_LINE


def test_reference_cosignature_verifies_and_key_id_uses_type_0x04() -> None:
    vkey = decode_verifier_key(REF_COSIGNER_VKEY)
    assert vkey.signature_type == SIGNATURE_TYPE_COSIGNATURE_V1
    assert note_key_id(vkey.name, 0x04, vkey.public_key).hex() == "c12688da"
    # The same key as a plain note key (type 0x01) has another id: the type byte matters.
    assert note_key_id(vkey.name, 0x01, vkey.public_key).hex() != "c12688da"
    note = decode_note(REF_COSIGNED_NOTE)
    (line,) = note.signatures
    cosignature = verify_cosignature(note.text, line, vkey)
    assert cosignature.key_id.hex() == "c12688da"
    assert cosignature.timestamp > 1_600_000_000
    tampered = note.text.replace(b"\n42\n", b"\n43\n")
    with pytest.raises(NoteUnverified):
        verify_cosignature(tampered, line, vkey)


def test_spec_cosignature_example_layout_and_message() -> None:
    note = decode_note(SPEC_COSIGNED)
    witness_line = note.signatures[1]
    cosignature = decode_cosignature(witness_line)
    # The line is key id || u64 big-endian time || 64-byte signature; its time is the one
    # in the spec's example of the signed message.
    assert cosignature.key_id.hex() == "8d66cf3f"
    assert cosignature.timestamp == 1679315147
    assert len(cosignature.signature) == 64
    assert cosignature_message(note.text, 1679315147) == SPEC_MESSAGE


def test_cosign_then_verify_with_printed_vkey() -> None:
    key = Ed25519PrivateKey.from_private_bytes(GO_SEED)
    text = decode_note(SPEC_COSIGNED).text
    cosignature = cosign(text, name="witness.example/w1", private_key=key, timestamp=1679315147)
    line = encode_signature_line(cosignature.note_signature())
    vkey = decode_verifier_key(
        cosigner_verifier_key("witness.example/w1", key.public_key()).encode()
    )
    (parsed,) = decode_signature_lines(line)
    assert verify_cosignature(text, parsed, vkey).timestamp == 1679315147
    # Deterministic: the signature is Ed25519 over exactly the spec's message layout.
    key.public_key().verify(cosignature.signature, cosignature_message(text, 1679315147))
    with pytest.raises(NoteMalformed):
        cosign(text, name="witness.example/w1", private_key=key, timestamp=0)


def test_spec_add_checkpoint_request_parses() -> None:
    request = decode_add_checkpoint(SPEC_REQUEST)
    assert request.old_size == 20852014
    assert len(request.proof) == 4
    assert all(len(h) == 32 for h in request.proof)
    note = decode_note(request.note)
    assert len(note.signatures) == 2
    checkpoint = decode_checkpoint_text(note.text)
    assert (checkpoint.origin, checkpoint.tree_size) == ("example.com/behind-the-sofa", 20852163)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key id
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # length
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann+c74f20a3",
    ],
)
def test_bad_verifier_keys_refused(vkey: str) -> None:
    with pytest.raises(NoteMalformed):
        decode_verifier_key(vkey)
