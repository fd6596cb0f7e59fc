"""A growing log for witness tests, built with the audit log's own tree and checkpoint code:
the witness is checked against the checkpoints the hub really signs (with its timestamp line)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoint import Checkpoint, encode_signed_note, sign_checkpoint
from services.audit.domain.merkle import LeafHashSubtrees, consistency_proof, leaf_hash
from services.audit.keys import encode_verifier_key
from services.hubkit.signed_note import VerifierKey, decode_verifier_key
from services.hubkit.tlog_witness import AddCheckpoint, encode_add_checkpoint
from services.witness.domain import WitnessedLog, witnessed_logs

ORIGIN = "safehub.audit.witness-test"


@dataclass
class GrowingLog:
    """A log whose leaves are synthetic bytes; `fork` gives a log sharing a prefix."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    origin: str = ORIGIN
    leaves: list[bytes] = field(default_factory=list)

    def append(self, count: int, *, tag: str = "leaf") -> None:
        start = len(self.leaves)
        self.leaves += [f"{tag}-{i}".encode() for i in range(start, start + count)]

    def fork(self) -> GrowingLog:
        return GrowingLog(key=self.key, origin=self.origin, leaves=list(self.leaves))

    def _subtrees(self, size: int) -> LeafHashSubtrees:
        return LeafHashSubtrees([leaf_hash(d) for d in self.leaves[:size]])

    def root(self, size: int) -> bytes:
        from services.audit.domain.merkle import CompactRange

        return CompactRange().extend(leaf_hash(d) for d in self.leaves[:size]).root()

    def note(self, size: int | None = None, *, at_ms: int = 1_700_000_000_000) -> bytes:
        size = len(self.leaves) if size is None else size
        checkpoint = Checkpoint(self.origin, size, self.root(size), at_ms)
        return encode_signed_note(sign_checkpoint(checkpoint, self.key))

    def proof(self, old_size: int, new_size: int | None = None) -> tuple[bytes, ...]:
        new_size = len(self.leaves) if new_size is None else new_size
        return consistency_proof(
            self._subtrees(new_size), old_size=old_size, new_size=new_size
        ).path

    def request(self, old_size: int, new_size: int | None = None) -> bytes:
        new_size = len(self.leaves) if new_size is None else new_size
        proof = self.proof(old_size, new_size) if old_size else ()
        return encode_add_checkpoint(AddCheckpoint(old_size, proof, self.note(new_size)))

    def vkey(self) -> VerifierKey:
        return decode_verifier_key(encode_verifier_key(self.origin, self.key.public_key()))

    def logs(self) -> dict[str, WitnessedLog]:
        return witnessed_logs([self.vkey()])
