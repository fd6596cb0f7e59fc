"""Authenticated audit records: which service writes which audit topic, with whose key, and
the one check every reader of an audit topic makes before it believes a record.

Two producers feed the audit log, each on its own topic, with its own schema and its own key:

    topic                record (schemas/avro)           sealed with the key of
    audit.decisions.v1   safehub.audit.AuditRecord       gateway (the hub key)
    audit.access.v1      safehub.audit.ConsoleAccess     console; and adapter-cpis (CP-IS)
                                                         for views under emergency access only

CP-IS is a delegate on the access topic (issue 18): a clinician shown content granted by
emergency access is logged by CP-IS, with its key, before it is shown. The log accepts a
CP-IS-signed record only when it is exactly that (`delegated_problem`): a NOTICE_VIEWED
naming its grant's request (break_glass_request_id) at the cpis-register desk. Anything else
CP-IS signs there is rejected as WRONG_SIGNER with the reason, as any other key would be.

Every record travels inside a SignedEnvelope (`services.hubkit.envelope`). The broker's ACLs
keep the console off the decisions topic; the signature is a second, independent check: a
principal that can write a topic still cannot make the log accept a record its producer's key
did not sign, and a key counts only on its own producer's topic (an agency's or the console's
key never makes a decision, the hub key never makes a console access event).

Console access events hold ids, codes and enumerations only. `recorded_token` is how a value a
caller can influence gets into one: as itself when it has the bounded form of an id, otherwise
as 'sha256:' and its hex digest, so no free text reaches the permanent log, yet an IG officer
who suspects a value can still find it by its digest. `check_console_access` is the same rule
applied by the reader, so a console that forgot it is refused too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, open_envelope, seal
from services.hubkit.errors import (
    AuditRecordRejected,
    BadSignature,
    CodecError,
    UnexpectedSchema,
    UnknownSigningKey,
)
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_TOPIC,
    CONSOLE_PRINCIPAL,
    CPIS_PRINCIPAL,
    CPIS_REGISTER_SUBSCRIBER,
    GATEWAY_PRINCIPAL,
)

__all__ = [
    "ACCESS_STREAM",
    "ACTOR_FORM",
    "AUDIT_REVIEW_YEARS",
    "CHILD_KEY_FORM",
    "DECISION_STREAM",
    "REVIEW_ID_FORM",
    "ROLE_FORM",
    "AuditStream",
    "LoggedRecord",
    "OpenedAuditRecord",
    "RejectionReason",
    "check_console_access",
    "delegated_problem",
    "open_audit_record",
    "read_logged_record",
    "recorded_token",
    "retention_review_date",
    "seal_audit_record",
    "stream_for",
]

ACTOR_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
"""An identity provider subject as the log records it: an opaque id, never a name or prose."""
ROLE_FORM = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
"""A role code, e.g. SOCIAL_WORKER."""
REVIEW_ID_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
"""A child index review id, as a linkage decision records it."""
CHILD_KEY_FORM = re.compile(r"[0-9a-f]{64}")
"""A child's pseudonymous key (linkage key): 64 lower-case hex characters."""
_DIGEST_FORM = re.compile(r"sha256:[0-9a-f]{64}")
# Subscriber ids, organisation codes, roles and teams from the policy bundle's data files.
_FEED_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True, slots=True)
class AuditStream:
    """One audit topic: the only record type it carries and the only key owner trusted on it."""

    topic: str
    message_type: MessageType
    signer: str
    delegates: frozenset[str] = frozenset()
    """Other key owners trusted on this topic, each for what `delegated_problem` allows only."""


DECISION_STREAM = AuditStream(AUDIT_TOPIC, MessageType.AUDIT_RECORD, GATEWAY_PRINCIPAL)
ACCESS_STREAM = AuditStream(
    AUDIT_ACCESS_TOPIC,
    MessageType.CONSOLE_ACCESS,
    CONSOLE_PRINCIPAL,
    delegates=frozenset({CPIS_PRINCIPAL}),
)
_STREAMS = {s.topic: s for s in (DECISION_STREAM, ACCESS_STREAM)}


def stream_for(topic: str) -> AuditStream | None:
    """The audit stream a topic carries; None for a topic that is not an audit topic."""
    return _STREAMS.get(topic)


class RejectionReason(StrEnum):
    """Why a record on an audit topic was not entered as what it claims to be."""

    NOT_AN_AUDIT_TOPIC = "NOT_AN_AUDIT_TOPIC"
    NOT_SIGNED = "NOT_SIGNED"
    """Not a signed envelope: a bare record (how the console could once forge a decision),
    bytes of another schema, or bytes that do not decode at all."""
    UNKNOWN_SIGNER = "UNKNOWN_SIGNER"
    """Signed with a key id the trusted key directory does not hold."""
    BAD_SIGNATURE = "BAD_SIGNATURE"
    """The signature does not verify: payload or metadata altered, or forged."""
    WRONG_SIGNER = "WRONG_SIGNER"
    """A trusted key, but not the key of this topic's producer (e.g. an agency's key, or the
    console's key on the decisions topic)."""
    WRONG_SCHEMA = "WRONG_SCHEMA"
    """Genuinely signed, but the payload is not the record type this topic carries."""
    MALFORMED_RECORD = "MALFORMED_RECORD"
    """The payload names the right schema but its body does not decode."""
    TEXT_NOT_BOUNDED = "TEXT_NOT_BOUNDED"
    """A console access event with a value outside its bounded form (free text)."""


@dataclass(frozen=True, slots=True)
class OpenedAuditRecord:
    """A record that passed every check: signed by its topic's producer, of its topic's type."""

    stream: AuditStream
    record: dict[str, Any]
    key_id: str
    signed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LoggedRecord:
    """What bytes already in the log hold (checked when they were logged, not again here)."""

    message_type: MessageType
    record: dict[str, Any]
    key_id: str | None
    """The signing key id; None for a bare record logged before records were signed."""


def seal_audit_record(
    catalog: SchemaCatalog,
    stream: AuditStream,
    record: Mapping[str, Any],
    key: SigningKey,
    signed_at: dt.datetime,
) -> bytes:
    """Encode `record` as the stream's type and seal it with its producer's key."""
    if key.owner in stream.delegates:
        problem = delegated_problem(key.owner, record)
        if problem is not None:
            # A programming mistake: the log would reject the record.
            raise ValueError(
                f"{stream.topic} does not take this record from {key.owner}: {problem}"
            )
    elif key.owner != stream.signer:
        # A wiring mistake, not an attack: the log would reject every record so signed.
        raise ValueError(
            f"{stream.topic} records are signed with the {stream.signer!r} key, not "
            f"{key.owner!r}; load the right key in the service's wiring"
        )
    return seal(catalog, catalog.encode(stream.message_type, record), key, signed_at)


def open_audit_record(
    catalog: SchemaCatalog, data: bytes, keys: KeyDirectory, *, topic: str
) -> OpenedAuditRecord:
    """Check bytes read from an audit topic; raises AuditRecordRejected with a reason code.

    The detail never quotes the bytes: they may be anyone's text."""
    stream = stream_for(topic)
    if stream is None:
        raise AuditRecordRejected(RejectionReason.NOT_AN_AUDIT_TOPIC, "not an audit topic")
    try:
        envelope = open_envelope(catalog, data, keys)
    except UnknownSigningKey:
        raise AuditRecordRejected(
            RejectionReason.UNKNOWN_SIGNER, "signed with a key the hub does not trust"
        ) from None
    except BadSignature:
        raise AuditRecordRejected(
            RejectionReason.BAD_SIGNATURE, "the signature does not verify"
        ) from None
    except CodecError:
        raise AuditRecordRejected(
            RejectionReason.NOT_SIGNED, "not a signed envelope (a bare or undecodable record)"
        ) from None
    if envelope.owner != stream.signer and envelope.owner not in stream.delegates:
        raise AuditRecordRejected(
            RejectionReason.WRONG_SIGNER,
            f"signed by {envelope.owner}, but only {stream.signer} may write {stream.topic}",
        )
    try:
        record = catalog.decode(envelope.payload, stream.message_type)
    except UnexpectedSchema as error:
        raise AuditRecordRejected(
            RejectionReason.WRONG_SCHEMA,
            f"{stream.topic} carries {stream.message_type.value}, not {error.actual}",
        ) from None
    except CodecError:
        raise AuditRecordRejected(
            RejectionReason.MALFORMED_RECORD,
            f"the payload does not decode as {stream.message_type.value}",
        ) from None
    if stream is ACCESS_STREAM:
        check_console_access(record)
    if envelope.owner != stream.signer:
        problem = delegated_problem(envelope.owner, record)
        if problem is not None:
            raise AuditRecordRejected(
                RejectionReason.WRONG_SIGNER,
                f"signed by {envelope.owner}, which may write {stream.topic} only for a view "
                f"under emergency access at the {CPIS_REGISTER_SUBSCRIBER} desk: {problem}",
            )
    return OpenedAuditRecord(stream, record, envelope.key_id, envelope.signed_at)


def delegated_problem(owner: str, record: Mapping[str, Any]) -> str | None:
    """Why a delegate's record may not be logged as its own (None when it may): CP-IS writes
    a clinician's view of content granted by emergency access, at the register's desk, and
    nothing else (not a lookup, a search, a refusal, nor a view at any other desk)."""
    if owner != CPIS_PRINCIPAL:
        return f"{owner} is not a delegate on the access topic"
    if record.get("event") != "NOTICE_VIEWED":
        return f"the event is {record.get('event')}, not NOTICE_VIEWED"
    if record.get("break_glass_request_id") is None:
        return "a view that names no emergency access grant (break_glass_request_id)"
    feed = record.get("feed")
    desk = feed.get("subscriber_id") if isinstance(feed, Mapping) else None
    if desk != CPIS_REGISTER_SUBSCRIBER:
        return f"a view at the {desk} desk, not {CPIS_REGISTER_SUBSCRIBER}"
    return None


def read_logged_record(catalog: SchemaCatalog, data: bytes) -> LoggedRecord:
    """Decode logged bytes: a signed envelope around an audit record or console access event,
    or a bare AuditRecord logged before records were signed. Raises CodecError otherwise."""
    message_type = catalog.message_type_of(data)
    if message_type is MessageType.AUDIT_RECORD:
        return LoggedRecord(message_type, catalog.decode(data, message_type), None)
    envelope = catalog.decode(data, MessageType.ENVELOPE)
    payload: bytes = envelope["payload"]
    inner = catalog.message_type_of(payload)
    if inner not in (MessageType.AUDIT_RECORD, MessageType.CONSOLE_ACCESS):
        raise UnexpectedSchema(MessageType.AUDIT_RECORD.value, inner.value)
    return LoggedRecord(inner, catalog.decode(payload, inner), str(envelope["key_id"]))


def recorded_token(value: str, form: re.Pattern[str]) -> str:
    """`value` itself when it has the bounded `form`, else 'sha256:' + its hex digest."""
    if form.fullmatch(value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _bounded(value: object, form: re.Pattern[str]) -> bool:
    return isinstance(value, str) and bool(form.fullmatch(value) or _DIGEST_FORM.fullmatch(value))


def _canonical_uuid(value: object) -> bool:
    if isinstance(value, uuid.UUID):  # the decoder gives a uuid logicalType as a UUID
        return True
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def check_console_access(record: Mapping[str, Any]) -> None:
    """Every string in a console access event has its bounded form (see the schema's docs);
    enumerations and the feed (a Recipient) are checked by the schema and the topology. A
    linkage decision (LINKAGE_DECIDED) holds review id, pseudonymous keys and the rationale's
    digest only, never the rationale; a child search (CHILD_SEARCHED) enumerations, a count
    and pseudonymous keys only, never what was typed; an agency check ids, codes and digests
    only, never the question or the findings."""
    problems = []
    if not _canonical_uuid(record.get("access_id")):
        problems.append("access_id is not a UUID")
    notice_id = record.get("notice_id")
    if notice_id is not None and not _canonical_uuid(notice_id):
        problems.append("notice_id is not a UUID")
    if not _bounded(record.get("actor"), ACTOR_FORM):
        problems.append("actor is not an opaque id or a digest")
    if not all(_bounded(role, ROLE_FORM) for role in record.get("actor_roles") or ()):
        problems.append("a role is not a role code or a digest")
    feed = record.get("feed")
    if feed is not None and not all(
        isinstance(feed.get(name), str) and _FEED_FORM.fullmatch(feed[name])
        for name in ("subscriber_id", "organisation", "role", "team")
    ):
        problems.append("the feed is not a subscriber of the hub")
    problems += _linkage_problems(record.get("event"), record.get("linkage"))
    problems += _search_problems(record.get("event"), record.get("search"))
    problems += _research_problems(record.get("event"), record.get("research"))
    problems += _consultation_problems(record.get("event"), record.get("consultation"))
    problems += _amendment_problems(record.get("event"), record.get("amendment"))
    problems += _retraction_problems(record.get("event"), record.get("retraction_id"))
    problems += _break_glass_view_problems(
        record.get("event"), record.get("break_glass_request_id")
    )
    if problems:
        raise AuditRecordRejected(RejectionReason.TEXT_NOT_BOUNDED, "; ".join(problems))


def _linkage_problems(event: object, linkage: Mapping[str, Any] | None) -> list[str]:
    """A LINKAGE_DECIDED event carries its decision, in bounded forms; no other event does."""
    if linkage is None:
        return ["a linkage decision without its review"] if event == "LINKAGE_DECIDED" else []
    if event != "LINKAGE_DECIDED":
        return [f"a linkage decision on a {event} event"]
    problems = []
    if not _bounded(linkage.get("review_id"), REVIEW_ID_FORM):
        problems.append("review_id is not an opaque id or a digest")
    keys = [linkage.get("left_child_key"), linkage.get("right_child_key")]
    if linkage.get("surviving_child_key") is not None:
        keys.append(linkage["surviving_child_key"])
    if not all(_bounded(key, CHILD_KEY_FORM) for key in keys):
        problems.append("a child key is not a pseudonymous key or a digest")
    rationale = linkage.get("rationale_sha256")
    if not (isinstance(rationale, str) and _DIGEST_FORM.fullmatch(rationale)):
        problems.append("the rationale is not a digest")
    return problems


def _search_problems(event: object, search: Mapping[str, Any] | None) -> list[str]:
    """A CHILD_SEARCHED event carries its search (purpose and kinds of identifier are
    enumerations the schema checks; the children shown are pseudonymous keys); no other
    event does. What was typed has no field to go in."""
    if search is None:
        return ["a child search without its search"] if event == "CHILD_SEARCHED" else []
    if event != "CHILD_SEARCHED":
        return [f"a child search on a {event} event"]
    shown = search.get("children_shown") or ()
    if not all(_bounded(key, CHILD_KEY_FORM) for key in shown):
        return ["a child shown is not a pseudonymous key or a digest"]
    return []


_RESEARCH_EVENTS = frozenset({"RESEARCH_REQUESTED", "RESEARCH_ANSWERED"})


def _research_problems(event: object, research: Mapping[str, Any] | None) -> list[str]:
    """An agency check (RESEARCH_REQUESTED / RESEARCH_ANSWERED) carries its check: a request
    id, a partner desk, a pseudonymous key and digests of the question and findings (the
    text stays in the MASH); no other event does."""
    if research is None:
        return ["an agency check without its check"] if event in _RESEARCH_EVENTS else []
    if event not in _RESEARCH_EVENTS:
        return [f"an agency check on a {event} event"]
    problems = []
    if not _canonical_uuid(research.get("request_id")):
        problems.append("request_id is not a UUID")
    partner = research.get("partner")
    if not (isinstance(partner, str) and _FEED_FORM.fullmatch(partner)):
        problems.append("the partner is not a subscriber of the hub")
    if not _bounded(research.get("child_key"), CHILD_KEY_FORM):
        problems.append("a child key is not a pseudonymous key or a digest")
    for name in ("question_sha256", "findings_sha256"):
        value = research.get(name)
        if value is not None and not (isinstance(value, str) and _DIGEST_FORM.fullmatch(value)):
            problems.append(f"{name.removesuffix('_sha256')} is not a digest")
    return problems


_CONSULTATION_EVENTS = frozenset(
    # RETRACTION_ACKNOWLEDGED (issue 18) names its notice and child as a view does.
    {"NOTICE_VIEWED", "CHILD_VIEWED", "DANGER_ACKNOWLEDGED", "RETRACTION_ACKNOWLEDGED"}
)


def _consultation_problems(event: object, consultation: Mapping[str, Any] | None) -> list[str]:
    """A view (NOTICE_VIEWED, CHILD_VIEWED, DANGER_ACKNOWLEDGED) carries what was shown:
    pseudonymous keys, notice ids, agency codes and a digest (the purpose is an enumeration
    the schema checks); no other event does. Nothing shown on the page has a field to go in."""
    if consultation is None:
        return ["a view without what was shown"] if event in _CONSULTATION_EVENTS else []
    if event not in _CONSULTATION_EVENTS:
        return [f"a consultation on a {event} event"]
    problems = []
    keys = [consultation.get("subject_linkage_key"), *(consultation.get("child_keys") or ())]
    if not all(_bounded(key, CHILD_KEY_FORM) for key in keys):
        problems.append("a child key is not a pseudonymous key or a digest")
    if not all(_canonical_uuid(n) for n in consultation.get("notice_ids") or ()):
        problems.append("a notice id shown is not a UUID")
    digest = consultation.get("notice_ids_sha256")
    if not (isinstance(digest, str) and _DIGEST_FORM.fullmatch(digest)):
        problems.append("the notices shown are not a digest")
    if not all(_bounded(a, ROLE_FORM) for a in consultation.get("source_agencies") or ()):
        problems.append("a source agency is not an agency code or a digest")
    return problems


def _retraction_problems(event: object, retraction_id: object) -> list[str]:
    """A RETRACTION_ACKNOWLEDGED event names its retraction (a UUID); no other event does."""
    acknowledged = event == "RETRACTION_ACKNOWLEDGED"
    if retraction_id is None:
        return ["an acknowledgement without its retraction"] if acknowledged else []
    if not acknowledged:
        return [f"a retraction id on a {event} event"]
    return [] if _canonical_uuid(retraction_id) else ["retraction_id is not a UUID"]


def _break_glass_view_problems(event: object, request_id: object) -> list[str]:
    """A view under emergency access names its grant's request (a UUID); only a view does."""
    if request_id is None:
        return []
    if event != "NOTICE_VIEWED":
        return [f"a break-glass request id on a {event} event"]
    return [] if _canonical_uuid(request_id) else ["break_glass_request_id is not a UUID"]


def _amendment_problems(event: object, amendment: Mapping[str, Any] | None) -> list[str]:
    """A DECISION_AMENDED event carries which decision it amended: ids, a pseudonymous key
    and the reason's digest (never the reason); no other event does."""
    if amendment is None:
        return ["an amendment without its decisions"] if event == "DECISION_AMENDED" else []
    if event != "DECISION_AMENDED":
        return [f"an amendment on a {event} event"]
    problems = []
    if not all(
        _canonical_uuid(amendment.get(name))
        for name in ("amended_decision_id", "amendment_decision_id")
    ):
        problems.append("a decision id is not a UUID")
    if not _bounded(amendment.get("child_key"), CHILD_KEY_FORM):
        problems.append("a child key is not a pseudonymous key or a digest")
    reason = amendment.get("reason_sha256")
    if not (isinstance(reason, str) and _DIGEST_FORM.fullmatch(reason)):
        problems.append("the reason is not a digest")
    return problems


# Audit records are reviewed for retention after six years (a common LA safeguarding
# retention review point; the IG officer owns the actual schedule). Every producer of audit
# records (the gateway's decisions, the console's access events) dates them the same way.
AUDIT_REVIEW_YEARS = 6


def retention_review_date(at: dt.datetime) -> dt.date:
    """When a record made at `at` is reviewed for retention (29 February -> 28 February)."""
    day = at.date()
    try:
        return day.replace(year=day.year + AUDIT_REVIEW_YEARS)
    except ValueError:  # 29 February
        return day.replace(year=day.year + AUDIT_REVIEW_YEARS, day=28)
