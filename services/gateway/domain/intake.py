"""Intake: is this message a notice the gateway may decide on, or a retraction it may deliver?
Pure, given keys and schemas.

Every failure here is permanent (retrying cannot fix a bad signature), so it becomes a
NoticeRejected with a machine-readable reason for the dead-letter topic and the audit log.

A notice's per-field provenance (the agency's SD-JWT on its envelope, hubkit.field_provenance)
is checked here too, failing closed: it must verify, be signed by the envelope's own key, and
disclose exactly the notice's fields with exactly their values. Otherwise the gateway would
pass recipients field signatures that do not say what the notice says. A field signature
that does not hold is a signature that does not hold: BAD_SIGNATURE, the detail naming the
provenance check that failed (never a value). A notice without one (a publisher from before
per-field provenance) is accepted as before and its feed items carry none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from services.gateway.errors import NoticeRejected
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, VerifiedEnvelope, open_envelope
from services.hubkit.errors import (
    BadSignature,
    CodecError,
    MalformedPayload,
    NotSingleObjectEncoded,
    ProvenanceInvalid,
    UnexpectedSchema,
    UnknownSchemaFingerprint,
    UnknownSigningKey,
)
from services.hubkit.field_provenance import (
    IssuedProvenance,
    open_issued,
    require_matches_notice,
)
from services.hubkit.notice import notice_id_for, to_json_value
from services.hubkit.retraction import retraction_id_for
from services.hubkit.topology import AgencyEntry

__all__ = ["AcceptedNotice", "AcceptedRetraction", "accept_message", "accept_notice"]


@dataclass(frozen=True, slots=True)
class AcceptedNotice:
    notice: dict[str, Any]
    """The notice as JSON values: the policy input and the source for redaction."""
    envelope_sha256: bytes
    """SHA-256 of the signed envelope as read (the notice hash feed items carry)."""
    payload_sha256: bytes
    """SHA-256 of the signed payload, the notice's own bytes: the same for every signed copy
    of one notice, so a re-signed replay is told from a changed notice (domain/replay.py)."""
    signer: str
    provenance: IssuedProvenance | None = None
    """The agency's per-field signatures, verified against this notice; None when the
    publisher signed no fields (feed items then carry none)."""

    @property
    def notice_id(self) -> str:
        return str(self.notice["notice_id"])


def _codec_reason(error: CodecError) -> str:
    if isinstance(error, UnknownSchemaFingerprint):
        return "UNKNOWN_SCHEMA_FINGERPRINT"
    if isinstance(error, NotSingleObjectEncoded | UnexpectedSchema):
        return "UNDECODABLE_ENVELOPE"
    return "MALFORMED_PAYLOAD"


@dataclass(frozen=True, slots=True)
class AcceptedRetraction:
    """A NoticeRetraction bound to its agency, its notice and its partition; whether the notice
    was decided, and so who gets the withdrawal, is the edge's to look up (domain/retraction.py)."""

    retraction: dict[str, Any]
    """The NoticeRetraction as decoded (retracted_at a datetime)."""
    envelope_sha256: bytes
    payload_sha256: bytes
    signer: str

    @property
    def retraction_id(self) -> str:
        return str(self.retraction["retraction_id"])

    @property
    def retracted_notice_id(self) -> str:
        return str(self.retraction["retracted_notice_id"])

    @property
    def subject_linkage_key(self) -> str:
        return str(self.retraction["subject_linkage_key"])


def accept_message(
    *,
    catalog: SchemaCatalog,
    keys: KeyDirectory,
    agency: AgencyEntry,
    key: bytes | None,
    value: bytes,
) -> AcceptedNotice | AcceptedRetraction:
    """A notice topic carries notices and retractions: the signed payload's schema fingerprint
    says which, and each is checked by its own rules after the same envelope checks."""
    verified = _verified_envelope(catalog, keys, agency, value)
    try:
        is_retraction = catalog.message_type_of(verified.payload) is MessageType.NOTICE_RETRACTION
    except CodecError:
        is_retraction = False  # the notice checks name what is wrong with the payload
    if is_retraction:
        return _accept_retraction(catalog, agency, key, value, verified)
    return _accept_notice(catalog, keys, agency, key, value, verified)


def accept_notice(
    *,
    catalog: SchemaCatalog,
    keys: KeyDirectory,
    agency: AgencyEntry,
    key: bytes | None,
    value: bytes,
) -> AcceptedNotice:
    """Verify envelope, signer, schema, record key and classification of a message (`key`,
    `value`) from `agency`'s topic."""
    verified = _verified_envelope(catalog, keys, agency, value)
    return _accept_notice(catalog, keys, agency, key, value, verified)


def _verified_envelope(
    catalog: SchemaCatalog, keys: KeyDirectory, agency: AgencyEntry, value: bytes
) -> VerifiedEnvelope:
    """The envelope, signed by a key the hub knows for the agency that owns the topic."""
    try:
        verified = open_envelope(catalog, value, keys)
    except UnknownSigningKey as error:
        raise NoticeRejected("UNKNOWN_SIGNING_KEY", str(error)) from error
    except BadSignature as error:
        raise NoticeRejected("BAD_SIGNATURE", str(error)) from error
    except CodecError as error:
        raise NoticeRejected(_codec_reason(error), f"envelope: {error}") from error
    if verified.owner != agency.principal:
        raise NoticeRejected(
            "WRONG_SOURCE_TOPIC",
            f"signed by {verified.owner} but read from {agency.topic}, which only "
            f"{agency.principal} may sign for",
        )
    return verified


def _accept_notice(
    catalog: SchemaCatalog,
    keys: KeyDirectory,
    agency: AgencyEntry,
    key: bytes | None,
    value: bytes,
    verified: VerifiedEnvelope,
) -> AcceptedNotice:
    try:
        decoded = catalog.decode(verified.payload, MessageType.NOTICE)
    except UnexpectedSchema as error:
        raise NoticeRejected("MALFORMED_PAYLOAD", f"payload: {error}") from error
    except (UnknownSchemaFingerprint, NotSingleObjectEncoded, MalformedPayload) as error:
        raise NoticeRejected(_codec_reason(error), f"payload: {error}") from error
    notice: dict[str, Any] = to_json_value(decoded)
    notice_id = str(notice["notice_id"])
    if notice["source"]["agency"] != agency.code:
        raise NoticeRejected(
            "WRONG_SOURCE_TOPIC",
            f"notice says it is from {notice['source']['agency']} but was read from {agency.topic}",
            notice_id,
        )
    # Bound to the source: the organisation is the one registered for the signing agency, and
    # the id is the one that organisation's source reference derives. Otherwise a holder of one
    # agency's key could publish under another organisation or reuse another notice's id (ids
    # are predictable and every recipient sees them) and replace that notice downstream.
    organisation = notice["source"]["organisation_code"]
    if organisation != agency.organisation:
        raise NoticeRejected(
            "WRONG_ORGANISATION",
            f"notice names organisation {organisation!r}, but {agency.principal} signs for "
            f"{agency.organisation!r} only",
            # No id is recorded: one that is not bound to its source may be another
            # notice's, and its audit record must not collide with that notice's.
        )
    bound_id = notice_id_for(
        agency=agency.code,
        organisation_code=organisation,
        source_reference=notice["source"]["source_reference"],
    )
    if notice_id != bound_id:
        raise NoticeRejected(
            "NOTICE_ID_NOT_BOUND",
            "notice id is not the one its agency, organisation and source reference derive",
        )
    # Bound to its partition: every publisher keys a notice by its child's linkage key, so
    # every copy of one notice lands on one partition, whose owner alone decides whether it
    # was seen before (domain/replay.py). A copy under another key could reach another
    # partition, and another gateway, that has not seen the original yet.
    if key != str(notice["subject"]["linkage_key"]).encode():
        raise NoticeRejected(
            "RECORD_KEY_MISMATCH",
            "the record's key is not the linkage key inside the signed notice; publish it "
            "keyed by its linkage key",
            notice_id,
        )
    if notice.get("classification") is None:
        raise NoticeRejected(
            "MISSING_CLASSIFICATION",
            "notice has no security classification; the sender must classify it",
            notice_id,
        )
    return AcceptedNotice(
        notice=notice,
        envelope_sha256=hashlib.sha256(value).digest(),
        payload_sha256=hashlib.sha256(verified.payload).digest(),
        signer=verified.owner,
        provenance=_field_provenance(verified, keys, notice),
    )


def _field_provenance(
    verified: VerifiedEnvelope, keys: KeyDirectory, notice: dict[str, Any]
) -> IssuedProvenance | None:
    """The envelope's per-field SD-JWT, verified and matched against the notice read back."""
    if verified.field_provenance is None:
        return None
    notice_id = str(notice["notice_id"])
    try:
        issued = open_issued(verified.field_provenance, keys)
        # The signer of the fields must be the signer of the notice: another trusted key
        # (another agency's) could otherwise vouch for this agency's fields.
        if issued.key_id != verified.key_id:
            raise ProvenanceInvalid(
                "wrong_key",
                f"the fields are signed by key {issued.key_id}, the notice by {verified.key_id}",
            )
        require_matches_notice(issued, notice)
    except ProvenanceInvalid as error:
        raise NoticeRejected(
            "BAD_SIGNATURE",
            f"field provenance: {error}; the agency's per-field signatures must be issued "
            "over this notice, as published, with the envelope's key",
            notice_id,
        ) from error
    return issued


def _accept_retraction(
    catalog: SchemaCatalog,
    agency: AgencyEntry,
    key: bytes | None,
    value: bytes,
    verified: VerifiedEnvelope,
) -> AcceptedRetraction:
    """The retraction's binding, as a notice's: its agency and organisation are the signer's,
    its notice id is the one that source derives (so an agency can only withdraw its own
    notices), its id is the one that notice id derives, and it is keyed by its linkage key."""
    try:
        decoded = catalog.decode(verified.payload, MessageType.NOTICE_RETRACTION)
    except CodecError as error:
        raise NoticeRejected(_codec_reason(error), f"payload: {error}") from error
    # The decoder gives uuid logical types as UUIDs; ids are compared and written as text.
    replaced_by = decoded.get("replaced_by_notice_id")
    retraction: dict[str, Any] = {
        **decoded,
        "retraction_id": str(decoded["retraction_id"]),
        "retracted_notice_id": str(decoded["retracted_notice_id"]),
        "replaced_by_notice_id": None if replaced_by is None else str(replaced_by),
    }
    source = retraction["source"]
    if source["agency"] != agency.code:
        raise NoticeRejected(
            "WRONG_SOURCE_TOPIC",
            f"retraction says it is from {source['agency']} but was read from {agency.topic}",
        )
    if source["organisation_code"] != agency.organisation:
        raise NoticeRejected(
            "WRONG_ORGANISATION",
            f"retraction names organisation {source['organisation_code']!r}, but "
            f"{agency.principal} signs for {agency.organisation!r} only",
        )
    notice_id = str(retraction["retracted_notice_id"])
    bound_id = notice_id_for(
        agency=agency.code,
        organisation_code=agency.organisation,
        source_reference=source["source_reference"],
    )
    if notice_id != bound_id:
        raise NoticeRejected(
            "NOTICE_ID_NOT_BOUND",
            "the retracted notice id is not the one the retraction's agency, organisation and "
            "source reference derive",
        )
    if retraction["retraction_id"] != retraction_id_for(notice_id):
        raise NoticeRejected(
            "NOTICE_ID_NOT_BOUND",
            "the retraction id is not the one its retracted notice id derives",
            notice_id,
        )
    if key != str(retraction["subject_linkage_key"]).encode():
        raise NoticeRejected(
            "RECORD_KEY_MISMATCH",
            "the record's key is not the linkage key inside the signed retraction; publish it "
            "keyed by the original notice's linkage key",
            notice_id,
        )
    return AcceptedRetraction(
        retraction=retraction,
        envelope_sha256=hashlib.sha256(value).digest(),
        payload_sha256=hashlib.sha256(verified.payload).digest(),
        signer=verified.owner,
    )
