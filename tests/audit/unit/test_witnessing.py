"""The partners' witness policy (C2SP tlog-policy): parsing, refusals naming the line, and the
quorum over the witnesses whose cosignatures verify."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoint import (
    Checkpoint,
    encode_checkpoint,
    encode_signed_note,
    sign_checkpoint,
)
from services.audit.domain.witnessing import (
    QuorumNotMet,
    WitnessPolicyInvalid,
    add_checkpoint_body,
    cosigned_note,
    parse_policy,
    quorum_met,
    require_quorum,
    verified_witnesses,
)
from services.audit.keys import encode_verifier_key
from services.hubkit.cosignature import cosign, cosigner_verifier_key
from services.hubkit.signed_note import decode_note
from services.hubkit.tlog_witness import decode_add_checkpoint

ORIGIN = "safehub.audit.policy-test"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYS = {
    name: Ed25519PrivateKey.from_private_bytes(bytes([n] * 32))
    for n, name in enumerate(("council", "police", "health", "charity"), start=40)
}


def _vkey(name: str) -> str:
    return cosigner_verifier_key(f"witness.{name}.example", KEYS[name].public_key()).encode()


def _policy(quorum_lines: str, *, urls: bool = False) -> str:
    lines = [f"log {encode_verifier_key(ORIGIN, LOG_KEY.public_key())}"]
    for name in ("council", "police", "health"):
        url = f" https://{name}.example/witness" if urls else ""
        lines.append(f"witness\t{name}  {_vkey(name)}{url}")
    return "# partners of the MASH\n" + "\n".join(lines) + "\n" + quorum_lines


def test_two_of_three_partners() -> None:
    policy = parse_policy(_policy("group partners 2 council police health\nquorum partners\n"))
    assert [w.name for w in policy.witnesses] == ["council", "police", "health"]
    assert policy.groups[0].threshold == 2
    assert not quorum_met(policy, set())
    assert not quorum_met(policy, {"health"})
    assert quorum_met(policy, {"health", "police"})
    # A name the policy does not define counts for nothing.
    assert not quorum_met(policy, {"council", "charity"})


def test_nested_groups_all_any_and_none() -> None:
    text = _policy(
        "group statutory any police health\ngroup both all council statutory\nquorum both\n"
    )
    policy = parse_policy(text)
    assert quorum_met(policy, {"council", "health"})
    assert not quorum_met(policy, {"police", "health"})
    assert quorum_met(parse_policy(_policy("quorum none\n")), set())
    assert quorum_met(parse_policy(_policy("quorum police\n")), {"police"})
    assert parse_policy(_policy("quorum police\n", urls=True)).witness("police").url == (
        "https://police.example/witness"
    )


@pytest.mark.parametrize(
    ("tail", "says"),
    [
        ("", "no quorum"),
        ("quorum police\nquorum health\n", "exactly one quorum"),
        ("quorum partners\n", "not a witness or group defined above"),
        ("group g 4 council police health\nquorum g\n", "threshold '4'"),
        ("group g 0 council\nquorum g\n", "threshold '0'"),
        ("group g any council council\nquorum g\n", "at most once"),
        ("group council any police\nquorum council\n", "already taken"),
        ("witness charity NOT-A-VKEY\nquorum none\n", "line 6"),
        ("frobnicate\nquorum none\n", "expected"),
        ("quorum none\x0b\n", "control characters"),
    ],
)
def test_policy_refusals_name_what_is_wrong(tail: str, says: str) -> None:
    with pytest.raises(WitnessPolicyInvalid, match=says):
        parse_policy(_policy(tail))


def test_a_log_key_is_not_a_witness_key() -> None:
    log_vkey = encode_verifier_key(ORIGIN, LOG_KEY.public_key())
    with pytest.raises(WitnessPolicyInvalid, match="signature type 0x04"):
        parse_policy(f"witness council {log_vkey}\nquorum council\n")
    with pytest.raises(WitnessPolicyInvalid, match="listed twice"):
        parse_policy(f"witness a {_vkey('council')}\nwitness b {_vkey('council')}\nquorum a\n")


def _note() -> tuple[Checkpoint, bytes]:
    checkpoint = Checkpoint(ORIGIN, 5, bytes(range(32)), 1_800_000_000_000)
    return checkpoint, encode_signed_note(sign_checkpoint(checkpoint, LOG_KEY))


def test_cosignatures_verified_against_the_policy_and_appended_after_the_log() -> None:
    policy = parse_policy(_policy("group partners all council police\nquorum partners\n"))
    checkpoint, note = _note()
    text = encode_checkpoint(checkpoint)
    council = cosign(text, name="witness.council.example", private_key=KEYS["council"], timestamp=7)
    police = cosign(text, name="witness.police.example", private_key=KEYS["police"], timestamp=8)
    # Signed by the charity's key under the police's name: not the police's cosignature.
    forged = cosign(text, name="witness.police.example", private_key=KEYS["charity"], timestamp=9)

    full = decode_note(cosigned_note(note, [council, police]))
    assert full.signatures[0].key_name == ORIGIN  # the log's own signature stays first
    assert set(verified_witnesses(policy, full.text, full.signatures)) == {"council", "police"}
    assert require_quorum(
        policy, checkpoint_text=full.text, signatures=full.signatures, tree_size=5
    ) == ("council", "police")

    for partial in ([council], [council, forged]):
        one = decode_note(cosigned_note(note, partial))
        with pytest.raises(QuorumNotMet, match="cosigned by council, which does not meet"):
            require_quorum(policy, checkpoint_text=one.text, signatures=one.signatures, tree_size=5)

    # A cosignature of another checkpoint does not count for this one.
    other = Checkpoint(ORIGIN, 6, bytes(32), 1_800_000_000_000)
    stale = cosign(
        encode_checkpoint(other),
        name="witness.police.example",
        private_key=KEYS["police"],
        timestamp=8,
    )
    mixed = decode_note(cosigned_note(note, [council, stale]))
    assert set(verified_witnesses(policy, mixed.text, mixed.signatures)) == {"council"}


def test_add_checkpoint_body_round_trips() -> None:
    _, note = _note()
    body = add_checkpoint_body(old_size=3, proof=[bytes(32), bytes([1] * 32)], note=note)
    request = decode_add_checkpoint(body)
    assert (request.old_size, request.proof, request.note) == (
        3,
        (bytes(32), bytes([1] * 32)),
        note,
    )
