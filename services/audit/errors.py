"""Every error the audit service raises, as one documented tree.

The core's errors (`services.audit.domain.errors`) are re-exported here and extended with the
ones the edge (storage, export files, the verifier's inputs, the API) can raise:

AuditError
├── ProofRequestInvalid         a proof was asked for indices/sizes the tree does not have
├── InclusionProofInvalid       the record is not proven to be in the log at that root
├── ConsistencyProofInvalid     the newer tree is not proven to extend the older one
├── CheckpointMalformed         checkpoint text or fields break the checkpoint format
├── CheckpointSignatureInvalid  no signature by the expected key, or it does not verify
├── CheckpointOriginMismatch    two checkpoints compared that come from different logs
├── SplitViewDetected           the log signed two different roots for the same size
├── LogTruncated                a newer checkpoint is smaller than an older one
├── EntriesMissing              an exported log holds fewer entries than a checkpoint covers
├── EntryEdited                 entries do not hash to the root the log signed, or a record's
│                               readable view does not match its logged bytes
├── EvidenceMalformed           a record, proof, export or key file cannot be read
├── NotFound                    no leaf / decision / checkpoint with that id or size
├── NotYetCheckpointed          the entry exists but no signed checkpoint covers it yet
├── StorageError                the store is unreachable or inconsistent (retry or page)
│   └── StorageCorrupt          the stored tree disagrees with itself: stop appending
├── TokenIssuerMissing          the IG API has no identity provider to check tokens against
├── DatabaseUrlUnreadable       the file meant to hold the store's URL (a Secret) is absent,
│                               empty or not an SQLite/PostgreSQL URL
└── (break_glass_review.py) ReviewInvalid 422, NotOwningAgency 403, AlreadyReviewed 409:
                                an IG officer's review of emergency access (issue 18)

The edge maps them: the verifier CLI exits 1 on a detected attack (the first nine) and 2 on
unreadable input; the API answers 404 / 409 / 503; the indexer retries StorageError (without
committing Kafka offsets) and stops on StorageCorrupt.
"""

from __future__ import annotations

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

__all__ = [
    "TAMPER_EVIDENCE",
    "AuditError",
    "CheckpointMalformed",
    "CheckpointOriginMismatch",
    "CheckpointSignatureInvalid",
    "ConsistencyProofInvalid",
    "DatabaseUrlUnreadable",
    "EntriesMissing",
    "EntryEdited",
    "EvidenceMalformed",
    "InclusionProofInvalid",
    "LogTruncated",
    "NotFound",
    "NotYetCheckpointed",
    "ProofRequestInvalid",
    "SplitViewDetected",
    "StorageCorrupt",
    "StorageError",
    "TokenIssuerMissing",
]


class EntriesMissing(AuditError):
    """A signed checkpoint covers more entries than the log (or its export) can show."""

    def __init__(self, *, held: int, signed_size: int) -> None:
        self.held = held
        self.signed_size = signed_size
        super().__init__(
            f"the log holds {held} entries but a checkpoint signed by the log covers "
            f"{signed_size}: entries {held}..{signed_size - 1} were removed; keep the checkpoint "
            "and the export as evidence and escalate to the log operator"
        )


class EntryEdited(AuditError):
    """Logged bytes were changed after the log signed over them."""


class EvidenceMalformed(AuditError):
    """An input file (record, proof, export, key) is not in the format the verifier reads."""


class NotFound(AuditError):
    """No such leaf, decision or checkpoint."""


class NotYetCheckpointed(AuditError):
    """The entry is logged, but the latest signed checkpoint is older than it."""


class StorageError(AuditError):
    """The audit store failed; the operation may be retried."""


class StorageCorrupt(StorageError):
    """The stored tree disagrees with itself; appending further would extend a bad tree."""


class TokenIssuerMissing(AuditError):
    """The IG API was configured without a token issuer (SAFEHUB_AUDIT_TOKEN_ISSUER set
    empty): it could check no caller, so it does not start."""


class DatabaseUrlUnreadable(AuditError):
    """SAFEHUB_AUDIT_DATABASE_URL_FILE names a file that holds no usable store URL. The reason
    never quotes the file (its URL carries the database password)."""


# The errors that mean "this evidence shows tampering or a forked log", as opposed to
# unreadable input or a request the log cannot answer.
TAMPER_EVIDENCE: tuple[type[AuditError], ...] = (
    InclusionProofInvalid,
    ConsistencyProofInvalid,
    CheckpointSignatureInvalid,
    CheckpointOriginMismatch,
    SplitViewDetected,
    LogTruncated,
    EntriesMissing,
    EntryEdited,
)
