"""Errors raised by the shared library. One root, so callers can catch hub errors as a family.

HubError
├── CodecError
│   ├── NotSingleObjectEncoded      bytes lack the C3 01 marker or are too short
│   ├── UnknownSchemaFingerprint    the fingerprint names no schema in this repo
│   ├── UnexpectedSchema            a known schema, but not the one the caller expects
│   └── MalformedPayload            the body does not decode (or encode) with its schema
├── EnvelopeError
│   ├── UnknownSigningKey           key id not in the trusted key directory
│   └── BadSignature                signature does not verify
├── AuditRecordRejected             a record on an audit topic is not what its topic accepts
│                                   (unsigned, wrong signer, wrong schema, unbounded text)
├── FeedItemUnverified              a feed record is not a hub-sealed item for this reader
├── CredentialsMissing              no broker credential file for a principal
│   └── CredentialInvalid           there is one, but it is unusable (so every handler of a
│                                   missing credential reports it too)
├── PolicyBundleInvalid             a policy folder's files break the policy contract
├── SharingDecisionInvalid          a policy answer is not a well-formed decision per subscriber
├── InProcessPolicyFailed           regopy gave no defined decisions object (`kind` says why)
├── TlsMaterialMissing              TLS is switched on but a CA, certificate or token file is absent
├── SealingError                    personal data sealed at rest (child_keys.py)
│   ├── StoreKeyInvalid             a store key (its file) is not a 32-byte key
│   └── SealedValueUnreadable       a sealed value does not open: another store key, or the
│                                   value was altered or moved to another row or child
└── TransparencyLogError            C2SP signed notes, checkpoints, cosignatures (each has `reason`)
    ├── NoteMalformed               text that breaks its C2SP format (note, checkpoint, vkey,
    │                               cosignature, add-checkpoint request)
    ├── NoteUnverified              no verifying signature by a trusted key, or a bad one
    ├── ConsistencyUnproven         a consistency proof does not show the new tree extends the old
    ├── InclusionUnproven           an inclusion proof does not put the leaf under the signed root
    └── WitnessQuorumUnmet          too few trusted witnesses cosigned a checkpoint (tlog-proof)
"""

from __future__ import annotations

__all__ = [
    "AuditRecordRejected",
    "BadSignature",
    "CodecError",
    "ConsistencyUnproven",
    "CredentialInvalid",
    "CredentialsMissing",
    "EnvelopeError",
    "FeedItemUnverified",
    "HubError",
    "InProcessPolicyFailed",
    "InclusionUnproven",
    "MalformedPayload",
    "NotSingleObjectEncoded",
    "NoteMalformed",
    "NoteUnverified",
    "PolicyBundleInvalid",
    "ProvenanceInvalid",
    "SealedValueUnreadable",
    "SealingError",
    "SharingDecisionInvalid",
    "StoreKeyInvalid",
    "TlsMaterialMissing",
    "TransparencyLogError",
    "UnexpectedSchema",
    "UnknownSchemaFingerprint",
    "UnknownSigningKey",
    "WitnessQuorumUnmet",
]


class HubError(Exception):
    """Root of every error raised by services.hubkit."""


class CodecError(HubError):
    pass


class NotSingleObjectEncoded(CodecError):
    pass


class UnknownSchemaFingerprint(CodecError):
    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"schema fingerprint {fingerprint.hex()} is not in schemas/avro (or a released copy); "
            "the sender uses a schema this hub does not know"
        )


class UnexpectedSchema(CodecError):
    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"expected a {expected} but the bytes hold a {actual}")


class MalformedPayload(CodecError):
    pass


class EnvelopeError(HubError):
    pass


class UnknownSigningKey(EnvelopeError):
    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"signing key {key_id!r} is not in the trusted key directory")


class BadSignature(EnvelopeError):
    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"signature by key {key_id!r} does not verify: payload or metadata altered"
        )


class AuditRecordRejected(HubError):
    """`reason` is a code from `services.hubkit.audit_trail.RejectionReason`; the message
    names no content of the record (it may be an attacker's text)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"audit record rejected ({reason}): {detail}")


class FeedItemUnverified(HubError):
    """A feed record that is not a hub-sealed feed item for this reader; `reason` is a code
    (unverifiable, not_signed_by_hub, wrong_subscriber) for counters and logs."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


class ProvenanceInvalid(HubError):
    """A field's provenance (the agency's per-field SD-JWT signature, hubkit.field_provenance)
    does not hold; `reason` is a code for counters and logs (malformed, unknown_signer,
    bad_signature, not_signed, duplicate, wrong_notice, incomplete, altered, stray), and the
    message names a field path at most, never a value. `path` is the field that failed, when
    one field did (for a reader to name it without parsing the message)."""

    def __init__(self, reason: str, detail: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"provenance {reason}: {detail}")


class CredentialsMissing(HubError):
    def __init__(self, principal: str, path: str, *, operator_path: str | None = None) -> None:
        self.principal = principal
        if operator_path is None:
            where = f"at {path}"
        else:
            where = (
                f"at {path} (the hub's credential file) or {operator_path} (the KafkaUser "
                f"Secret {principal!r} the Strimzi User Operator writes, mounted as-is)"
            )
        super().__init__(
            f"no broker credentials for principal {principal!r} {where}; locally run "
            "`safehub stack up`"
        )


class CredentialInvalid(CredentialsMissing):
    """A credential file exists but cannot be used; `reason` says what is wrong with it (the
    password itself is never part of the message)."""

    def __init__(self, principal: str, path: str, reason: str) -> None:
        self.principal = principal
        self.reason = reason
        HubError.__init__(
            self, f"the broker credential of {principal!r} at {path} is unusable: {reason}"
        )


class PolicyBundleInvalid(HubError):
    """A policy folder or bundle holds data the policy contract cannot read as written."""


class SharingDecisionInvalid(HubError):
    """A policy result that is not exactly one well-formed decision per subscriber."""


class InProcessPolicyFailed(HubError):
    """regopy failed or answered other than a defined object; `kind` labels why for metrics
    (the same kinds as the gateway's PolicyResultInvalid)."""

    def __init__(self, message: str, *, kind: str) -> None:
        self.kind = kind
        super().__init__(message)


class TlsMaterialMissing(HubError):
    """A setting switches TLS (or OPA's token) on, but the file it needs is not there."""

    def __init__(self, what: str, path: str, setting: str) -> None:
        self.what = what
        self.path = path
        super().__init__(
            f"{what} not found at {path}; run `safehub stack up` (it makes the local stack's "
            f"CA, certificate and OPA token) or set {setting}"
        )


class SealingError(HubError):
    """Personal data sealed under a child's data key (services.hubkit.child_keys)."""


class StoreKeyInvalid(SealingError):
    """A store key, or the file that holds it, is not a 32-byte key: the message names the
    file to restore."""


class SealedValueUnreadable(SealingError):
    """A sealed value does not open with the key and associated data it should have: the
    store key changed, or the value was altered or copied to another row or child. Never
    raised for an erased child: erasure deletes the child's rows with its key."""


class TransparencyLogError(HubError):
    """Root of the C2SP transparency-log errors (signed-note, tlog-checkpoint,
    tlog-cosignature, tlog-witness); `reason` says what failed and what to do."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NoteMalformed(TransparencyLogError):
    """Text that breaks its C2SP format: nothing in it can be trusted or compared."""


class NoteUnverified(TransparencyLogError):
    """No signature by a trusted key verifies, or one by a trusted key fails (signed-note)."""


class ConsistencyUnproven(TransparencyLogError):
    """RFC 9162 §2.1.4.2 verification failed: the new tree is not shown to extend the old."""


class InclusionUnproven(TransparencyLogError):
    """RFC 9162 §2.1.3.2 verification failed: the leaf is not shown at its index under the root."""


class WitnessQuorumUnmet(TransparencyLogError):
    """The checkpoint's verified cosignatures do not satisfy the verifier's witness policy: it
    may be a view of the log the witnesses never saw (C2SP tlog-proof, verification step 3)."""
