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
└── CredentialsMissing              no broker credential file for a principal
"""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "CodecError",
    "CredentialsMissing",
    "EnvelopeError",
    "HubError",
    "MalformedPayload",
    "NotSingleObjectEncoded",
    "UnexpectedSchema",
    "UnknownSchemaFingerprint",
    "UnknownSigningKey",
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


class CredentialsMissing(HubError):
    def __init__(self, principal: str, path: str) -> None:
        self.principal = principal
        super().__init__(
            f"no broker credentials for principal {principal!r} at {path}; run `safehub stack up`"
        )
