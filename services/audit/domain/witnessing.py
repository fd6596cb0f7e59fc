"""Witnessing the audit log's checkpoints: the partners' trust policy (C2SP tlog-policy,
c2sp.org/tlog-policy), whether a checkpoint's cosignatures meet its quorum, and the
add-checkpoint request the hub sends a witness (C2SP tlog-witness).

A policy is line based; items are separated by ASCII spaces and tabs, `#` starts a comment:

    log <vkey> [<url>]                    the log (type 0x01 key named after its origin)
    witness <name> <vkey> [<url>]         a witness (type 0x04 cosignature/v1 key)
    group <name> all|any|<k> <name>...    at least k of its members witnessed
    quorum <name>                         exactly one: a witness, a group, or `none`

so "2 of council, police, health" is `group partners 2 council police health` and
`quorum partners`. A group or the quorum names only witnesses and groups defined above it, each
member at most once (so no cycles, and no witness counted twice).

Pure: parsing, quorum evaluation and cosignature checks over bytes passed in.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from services.audit.domain.errors import AuditError
from services.hubkit.cosignature import Cosignature, verified_cosigners
from services.hubkit.errors import NoteMalformed
from services.hubkit.signed_note import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    SIGNATURE_TYPE_ED25519,
    NoteSignature,
    VerifierKey,
    decode_verifier_key,
    encode_signature_line,
)
from services.hubkit.tlog_witness import AddCheckpoint, encode_add_checkpoint

__all__ = [
    "NO_QUORUM",
    "PolicyGroup",
    "PolicyWitness",
    "QuorumNotMet",
    "WitnessPolicy",
    "WitnessPolicyInvalid",
    "add_checkpoint_body",
    "cosigned_note",
    "parse_policy",
    "quorum_met",
    "require_quorum",
    "verified_witnesses",
]

NO_QUORUM = "none"  # tlog-policy's predefined name: no cosignature required
_SEPARATOR = re.compile(r"[ \t]+")
# tlog-policy: only tab and newline among the control characters.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class WitnessPolicyInvalid(AuditError):
    """A witness policy file breaks the tlog-policy format (the reason names the line)."""


@dataclass(frozen=True, slots=True)
class PolicyWitness:
    """A witness: its name in the policy, its cosignature/v1 verifier key, and where the hub
    submits checkpoints to it (its tlog-witness submission prefix), if given."""

    name: str
    key: VerifierKey
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyGroup:
    """A group witnesses a checkpoint when at least `threshold` of its members have."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    logs: tuple[VerifierKey, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[PolicyGroup, ...]
    quorum: str

    def witness(self, name: str) -> PolicyWitness:
        for witness in self.witnesses:
            if witness.name == name:
                return witness
        raise KeyError(name)


def _vkey(text: str, number: int, signature_type: int, what: str) -> VerifierKey:
    try:
        key = decode_verifier_key(text)
    except NoteMalformed as error:
        raise WitnessPolicyInvalid(f"line {number}: {error.reason}") from error
    if key.signature_type != signature_type:
        raise WitnessPolicyInvalid(
            f"line {number}: a {what} key has signature type {signature_type:#04x}, this one "
            f"{key.signature_type:#04x}; ask its operator for its {what} verifier key"
        )
    return key


def parse_policy(text: str) -> WitnessPolicy:
    """Parse a tlog-policy file. Raises WitnessPolicyInvalid naming the line at fault."""
    logs: list[VerifierKey] = []
    witnesses: list[PolicyWitness] = []
    groups: list[PolicyGroup] = []
    quorum: str | None = None
    defined: set[str] = set()
    public_keys: set[bytes] = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        if _FORBIDDEN.search(raw):
            raise WitnessPolicyInvalid(f"line {number}: control characters are not allowed")
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        keyword, *items = _SEPARATOR.split(line)
        if keyword == "log" and len(items) in (1, 2):
            key = _vkey(items[0], number, SIGNATURE_TYPE_ED25519, "log")
            if key.public_key in public_keys:
                raise WitnessPolicyInvalid(f"line {number}: this key is listed twice")
            public_keys.add(key.public_key)
            logs.append(key)
        elif keyword == "witness" and len(items) in (2, 3):
            name = items[0]
            if name in defined or name == NO_QUORUM:
                raise WitnessPolicyInvalid(f"line {number}: the name {name!r} is already taken")
            key = _vkey(items[1], number, SIGNATURE_TYPE_COSIGNATURE_V1, "witness")
            if key.public_key in public_keys:
                raise WitnessPolicyInvalid(f"line {number}: this key is listed twice")
            public_keys.add(key.public_key)
            defined.add(name)
            witnesses.append(PolicyWitness(name, key, items[2] if len(items) == 3 else None))
        elif keyword == "group" and len(items) >= 3:
            groups.append(_group(items, number, defined))
            defined.add(items[0])
        elif keyword == "quorum" and len(items) == 1:
            if quorum is not None:
                raise WitnessPolicyInvalid(f"line {number}: a policy has exactly one quorum")
            if items[0] != NO_QUORUM and items[0] not in defined:
                raise WitnessPolicyInvalid(
                    f"line {number}: quorum {items[0]!r} is not a witness or group defined above it"
                )
            quorum = items[0]
        else:
            raise WitnessPolicyInvalid(
                f"line {number}: expected 'log <vkey> [url]', 'witness <name> <vkey> [url]', "
                "'group <name> all|any|<k> <member>...' or 'quorum <name>'"
            )
    if quorum is None:
        raise WitnessPolicyInvalid("the policy has no quorum line (use 'quorum none' for none)")
    return WitnessPolicy(tuple(logs), tuple(witnesses), tuple(groups), quorum)


def _group(items: list[str], number: int, defined: set[str]) -> PolicyGroup:
    name, threshold_text, *members = items
    if name in defined or name == NO_QUORUM:
        raise WitnessPolicyInvalid(f"line {number}: the name {name!r} is already taken")
    for member in members:
        if member not in defined:
            raise WitnessPolicyInvalid(
                f"line {number}: group member {member!r} is not a witness or group defined above it"
            )
    if len(set(members)) != len(members):
        raise WitnessPolicyInvalid(f"line {number}: a group lists each member at most once")
    if threshold_text == "all":
        threshold = len(members)
    elif threshold_text == "any":
        threshold = 1
    elif re.fullmatch(r"[1-9][0-9]*", threshold_text) and int(threshold_text) <= len(members):
        threshold = int(threshold_text)
    else:
        raise WitnessPolicyInvalid(
            f"line {number}: threshold {threshold_text!r} is not all, any or a number from 1 to "
            f"{len(members)}"
        )
    return PolicyGroup(name, threshold, tuple(members))


def quorum_met(policy: WitnessPolicy, witnessed: Collection[str]) -> bool:
    """Whether the witnesses named in `witnessed` (those whose cosignatures verified) satisfy
    the policy's quorum."""
    groups = {g.name: g for g in policy.groups}

    def met(name: str) -> bool:
        if name == NO_QUORUM:
            return True
        group = groups.get(name)
        if group is None:
            return name in witnessed
        return sum(1 for member in group.members if met(member)) >= group.threshold

    return met(policy.quorum)


def verified_witnesses(
    policy: WitnessPolicy, checkpoint_text: bytes, signatures: Iterable[NoteSignature]
) -> dict[str, Cosignature]:
    """The policy's witnesses with a cosignature that verifies over this checkpoint text.
    Lines by keys the policy does not list (the log's own, other witnesses') are ignored, as
    signed-note requires; a line by a listed key that fails does not count."""
    return verified_cosigners(
        checkpoint_text, signatures, {w.name: w.key for w in policy.witnesses}
    )


def add_checkpoint_body(*, old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The tlog-witness add-checkpoint request: old size, consistency proof, signed note."""
    return encode_add_checkpoint(AddCheckpoint(old_size=old_size, proof=tuple(proof), note=note))


def cosigned_note(note: bytes, cosignatures: Iterable[Cosignature]) -> bytes:
    """The log's signed note with the witnesses' cosignature lines appended (a note may carry
    many signatures; the log's own stays first, so a reader that wants only it still finds
    it there)."""
    lines = b"".join(encode_signature_line(c.note_signature()) for c in cosignatures)
    return note + lines


class QuorumNotMet(AuditError):
    """A checkpoint lacks the cosignatures the partners' policy requires: it may be a view of
    the log that the witnesses never saw (a fork shown to one partner only)."""

    def __init__(self, *, tree_size: int, witnessed: Collection[str], quorum: str) -> None:
        self.tree_size = tree_size
        self.witnessed = tuple(sorted(witnessed))
        names = ", ".join(self.witnessed) or "none"
        super().__init__(
            f"the checkpoint at size {tree_size} is cosigned by {names}, which does not meet "
            f"the policy's quorum {quorum!r}: do not rely on it; ask the hub for a later "
            "checkpoint its witnesses cosigned, and report it if none comes"
        )


def require_quorum(
    policy: WitnessPolicy,
    *,
    checkpoint_text: bytes,
    signatures: Iterable[NoteSignature],
    tree_size: int,
) -> tuple[str, ...]:
    """The witnesses whose cosignatures verify, in name order; QuorumNotMet when too few."""
    witnessed = verified_witnesses(policy, checkpoint_text, signatures)
    if not quorum_met(policy, witnessed):
        raise QuorumNotMet(tree_size=tree_size, witnessed=witnessed, quorum=policy.quorum)
    return tuple(sorted(witnessed))
