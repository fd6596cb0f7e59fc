"""Errors raised by the audit log's core. One root, so callers can catch audit errors as a family.

AuditError
├── ProofRequestInvalid         a proof was asked for indices/sizes the tree does not have
├── InclusionProofInvalid       the record is not proven to be in the log at that root
├── ConsistencyProofInvalid     the newer tree is not proven to extend the older one
├── CheckpointMalformed         checkpoint text or fields break the checkpoint format
├── CheckpointSignatureInvalid  no signature by the expected key, or it does not verify
├── CheckpointOriginMismatch    two checkpoints compared that come from different logs
├── SplitViewDetected           the log signed two different roots for the same size
└── LogTruncated                a newer checkpoint is smaller than an older one

Every error has a `reason` saying what failed and what a person can do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.audit.domain.checkpoint import Checkpoint

__all__ = [
    "AuditError",
    "CheckpointMalformed",
    "CheckpointOriginMismatch",
    "CheckpointSignatureInvalid",
    "ConsistencyProofInvalid",
    "InclusionProofInvalid",
    "LogTruncated",
    "ProofRequestInvalid",
    "SplitViewDetected",
]


class AuditError(Exception):
    """Root of every error raised by services.audit."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ProofRequestInvalid(AuditError):
    """The caller asked for a proof the tree cannot have (a client error, not tampering)."""


class InclusionProofInvalid(AuditError):
    """RFC 9162 §2.1.3.2 verification failed."""


class ConsistencyProofInvalid(AuditError):
    """RFC 9162 §2.1.4.2 verification failed."""


class CheckpointMalformed(AuditError):
    """A checkpoint does not follow the C2SP checkpoint / signed-note format."""


class CheckpointSignatureInvalid(AuditError):
    """No signature from the expected log key, or a signature that does not verify."""


class CheckpointOriginMismatch(AuditError):
    def __init__(self, first: Checkpoint, second: Checkpoint) -> None:
        self.first = first
        self.second = second
        super().__init__(
            f"checkpoints come from different logs ({first.origin!r} and {second.origin!r}); "
            "only checkpoints of the same log can be compared"
        )


class SplitViewDetected(AuditError):
    """Two validly signed checkpoints of one size with different roots: the log forked."""

    def __init__(self, first: Checkpoint, second: Checkpoint) -> None:
        self.first = first
        self.second = second
        super().__init__(
            f"log {first.origin!r} signed two different roots for tree size {first.tree_size}: "
            f"{first.root_hash.hex()} (timestamp_ms {first.timestamp_ms}) and "
            f"{second.root_hash.hex()} (timestamp_ms {second.timestamp_ms}); "
            "keep both checkpoints as evidence, stop trusting the log and escalate to the "
            "log operator"
        )


class LogTruncated(AuditError):
    """A later checkpoint shows fewer records than an earlier one: records were removed."""

    def __init__(self, older: Checkpoint, newer: Checkpoint) -> None:
        self.older = older
        self.newer = newer
        super().__init__(
            f"log {older.origin!r} shrank from {older.tree_size} to {newer.tree_size} records "
            f"(timestamp_ms {older.timestamp_ms} -> {newer.timestamp_ms}); an append-only log "
            "never shrinks: keep both checkpoints as evidence and escalate to the log operator"
        )
