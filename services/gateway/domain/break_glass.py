"""Emergency access ('break-glass', issue 18): answering a BreakGlassRequest from the console
(a MASH manager) or from CP-IS (a clinician at presentation). Pure, given keys, schemas, the
rules and the clock; the edge (services/gateway/break_glass.py) finds the notice, reads it
back and writes what this returns in one transaction with the request's offset.

A request is granted only when all of these hold, else it is refused (audited as
ACCESS_REFUSED, BREAK_GLASS_REFUSED, and dead-lettered; when the request is trusted
(accepted) and names a real desk, that desk's feed gets a BreakGlassRefusal so the person is
not left waiting; a forged or unreadable request reaches no feed: nobody verified is there
to tell):

* it is signed by a requesting service's key for one of that service's desks
  (`accept_request`): the console for the mash-manager desk, CP-IS for the cpis-register
  desk. The service checked who the person is; any other key, even a trusted agency's, may
  not ask, and a service asking for another's desk is refused as if forged (no feed is told:
  nobody verified asked for that desk);
* the person's role is one that service may ask for (`BreakGlassRules.may_sign`: a MASH
  manager through the console, an unscheduled care clinician through CP-IS);
* it is keyed by the child's linkage key, and names the notice's child;
* the notice was decided and its signed copy still verifies as intake checks it;
* the desk (subscriber_id) was given a feed item of it (`disclosed_to`): emergency access
  widens what a recipient sees, it never makes someone a recipient;
* the IG rules allow it (`hubkit.break_glass.refusal`, with the notice's present paths as
  what may be withheld: the gateway does not keep what each desk was shown, and the desk's
  own feed item already holds the rest);
* the owning agency has an alert desk (`owner_alert_desks`): it is told of every grant, or
  there is none.

A grant is a FeedItem on the desk's feed holding exactly the paths asked for (the gateway's
own redaction), marked with its BreakGlassGrant, and a SHARING_DECISION audit record with
break_glass true and the person's justification, both under `grant_decision_id`; and, in
the same transaction, the owning agency's alert (`alert_messages`): a BreakGlassAlert on its
alert desk's feed naming who was given which paths (never their values) and a
BREAK_GLASS_ALERT_DELIVERED audit record, both under `alert_id`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from services.gateway.domain.intake import AcceptedNotice
from services.gateway.domain.pipeline import OutboundMessage
from services.gateway.domain.provenance import view_presentation
from services.gateway.domain.records import (
    audit_record,
    dead_letter,
    feed_item,
    no_decision_record,
    recipient_record,
)
from services.gateway.domain.redaction import present_paths, withheld_paths
from services.gateway.errors import NoticeRejected
from services.hubkit.break_glass import (
    BREAK_GLASS_ALERT_DELIVERED,
    BREAK_GLASS_ALERT_REASON_CODE,
    BREAK_GLASS_REASON_CODE,
    BREAK_GLASS_REFUSED,
    EMERGENCY_ACCESS_PURPOSE,
    NO_ALERT_DESK,
    BreakGlassRules,
    alert_id,
    grant_decision_id,
    refusal,
)
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import (
    BadSignature,
    CodecError,
    UnknownSigningKey,
)
from services.hubkit.notice import hub_uuid5
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from services.hubkit.topology import (
    AUDIT_TOPIC,
    DEADLETTER_TOPIC,
    SubscriberEntry,
)

__all__ = [
    "BREAK_GLASS_REASON_CODE",
    "BREAK_GLASS_REFUSED",
    "EMERGENCY_PURPOSE",
    "GRANT_POLICY_REVISION",
    "AcceptedRequest",
    "accept_request",
    "alert_messages",
    "grant_messages",
    "grant_refusal",
    "lawful_basis_of",
    "refusal_messages",
]

EMERGENCY_PURPOSE = EMERGENCY_ACCESS_PURPOSE
GRANT_POLICY_REVISION = "break-glass"
"""A grant is not a policy decision: the audit record says so instead of naming a bundle."""

_ROLE_WORDS = {
    "MASH_MANAGER": "a MASH manager",
    "UNSCHEDULED_CARE_CLINICIAN": "a clinician in unscheduled care",
}


@dataclass(frozen=True, slots=True)
class AcceptedRequest:
    """A BreakGlassRequest signed by a requesting service for one of its desks (ids as text,
    requested_at a datetime)."""

    request: dict[str, Any]
    signer: str
    """The owner of the key that sealed it (a requesting service of the rules)."""

    @property
    def request_id(self) -> str:
        return str(self.request["request_id"])

    @property
    def notice_id(self) -> str:
        return str(self.request["notice_id"])

    @property
    def subscriber_id(self) -> str:
        return str(self.request["subscriber_id"])

    @property
    def linkage_key(self) -> str:
        return str(self.request["subject_linkage_key"])

    @property
    def requested(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.request["requested_paths"])))


def accept_request(
    *,
    catalog: SchemaCatalog,
    keys: KeyDirectory,
    rules: BreakGlassRules,
    key: bytes | None,
    value: bytes,
) -> AcceptedRequest:
    """The request, if a requesting service of the rules signed it for one of its own desks,
    keyed by its child's linkage key; NoticeRejected (its reason a RejectionReason)
    otherwise. Whether the role is one the service may ask for is `grant_refusal`'s check."""
    try:
        verified = open_envelope(catalog, value, keys)
    except UnknownSigningKey as error:
        raise NoticeRejected("UNKNOWN_SIGNING_KEY", str(error)) from error
    except BadSignature as error:
        raise NoticeRejected("BAD_SIGNATURE", str(error)) from error
    except CodecError as error:
        raise NoticeRejected("UNDECODABLE_ENVELOPE", f"envelope: {error}") from error
    if verified.owner not in rules.requesting_services:
        raise NoticeRejected(
            "WRONG_SOURCE_TOPIC",
            f"signed by {verified.owner}, but only "
            f"{' or '.join(sorted(rules.requesting_services))} may ask for emergency access",
        )
    try:
        decoded = catalog.decode(verified.payload, MessageType.BREAK_GLASS_REQUEST)
    except CodecError as error:
        raise NoticeRejected("MALFORMED_PAYLOAD", f"payload: {error}") from error
    request = {
        **decoded,
        "request_id": str(decoded["request_id"]),
        "reason": str(decoded["reason"]),
    }
    desk = str(request["subscriber_id"])
    if desk not in rules.requesting_services[verified.owner].desks:
        # A trusted service speaking for a desk it does not serve (the console for the CP-IS
        # register, CP-IS for the MASH manager): as untrusted as a forged request, so that
        # desk is not told of it. A role it may not ask for, at its own desk, is refused by
        # `grant_refusal` (the desk is told).
        raise NoticeRejected(
            "WRONG_SOURCE_TOPIC",
            f"signed by {verified.owner}, which may ask only for its own desks "
            f"({', '.join(sorted(rules.requesting_services[verified.owner].desks))}), "
            f"not for {desk}",
        )
    if key != str(request["subject_linkage_key"]).encode():
        raise NoticeRejected(
            "RECORD_KEY_MISMATCH",
            "the record's key is not the linkage key inside the signed request; publish it "
            "keyed by the child's linkage key",
            str(request["notice_id"]),
        )
    return AcceptedRequest(request, signer=verified.owner)


def grant_refusal(
    *,
    rules: BreakGlassRules,
    accepted: AcceptedRequest,
    notice: Mapping[str, Any] | None,
    disclosed_to: Collection[str],
) -> str | None:
    """Why this request may not be granted, in words for the person; None when it may.
    `notice` is the decided notice as read back (None when it was never decided or can no
    longer be read); `disclosed_to` the desks given a feed item of it."""
    if notice is None:
        return "this notice is not one the hub has shared, or it is no longer held"
    if str(notice["subject"]["linkage_key"]) != accepted.linkage_key:
        return "the request names another child than the notice's"
    if accepted.subscriber_id not in disclosed_to:
        return "your desk was not given this notice, so emergency access cannot widen it"
    request = accepted.request
    if not rules.may_sign(accepted.signer, str(request["requester_role"]), accepted.subscriber_id):
        return "your role may not use emergency access"
    words = refusal(
        rules,
        role=str(request["requester_role"]),
        reason=str(request["reason"]),
        justification=str(request["justification"]),
        requested=accepted.requested,
        withheld=present_paths(dict(notice)),
        notice_type=str(notice["notice_type"]),
    )
    if words is None and rules.alert_desk(str(notice["source"]["agency"])) is None:
        return NO_ALERT_DESK
    return words


def lawful_basis_of(data: Mapping[str, Any]) -> LawfulBasis:
    """The lawful basis every grant cites (the rules' data file, `lawful_basis`)."""
    basis = data.get("lawful_basis")
    if not isinstance(basis, Mapping) or not basis.get("article6"):
        raise ValueError("break-glass rules: 'lawful_basis' with an 'article6' is required")
    return LawfulBasis(
        article6=str(basis["article6"]),
        special_category_condition=basis.get("special_category_condition"),
        dpa_part3=basis.get("dpa_part3"),
        statutory_gateway=str(basis.get("statutory_gateway") or ""),
        criminal_offence_condition=basis.get("criminal_offence_condition"),
        recipient_basis=basis.get("recipient_basis"),
    )


def role_words(role: str) -> str:
    return _ROLE_WORDS.get(role, role.replace("_", " ").lower())


def grant_explanation(
    *, rules: BreakGlassRules, accepted: AcceptedRequest, agency_name: str
) -> str:
    request = accepted.request
    until = rules.expires_at(request["requested_at"]).astimezone(dt.UTC)
    return (
        f"Emergency access for {role_words(str(request['requester_role']))} until "
        f"{until:%H:%M} UTC: {rules.reasons[str(request['reason'])]}. Every view is recorded "
        f"and {agency_name} has been told."
    )


def grant_messages(
    *,
    rules: BreakGlassRules,
    lawful_basis: LawfulBasis,
    accepted: AcceptedRequest,
    notice: AcceptedNotice,
    subscriber: SubscriberEntry,
    agency_name: str,
    relay_contact: Mapping[str, str | None],
    safeguarding_contacts: Mapping[str, Mapping[str, str | None]],
    silent: frozenset[str],
    granted_at: dt.datetime,
) -> list[OutboundMessage]:
    """The grant's audit record, then its feed item on the desk's feed (call only when
    `grant_refusal` is None)."""
    request = accepted.request
    record = notice.notice
    requested = accepted.requested
    withheld = withheld_paths(record, requested)
    decision = SharingDecision(
        subscriber_id=subscriber.subscriber_id,
        outcome=SharingOutcome.PARTIAL if withheld else SharingOutcome.PERMIT,
        permitted_fields=requested,
        purpose=EMERGENCY_PURPOSE,
        lawful_basis=lawful_basis,
        isa_clause=None,
        rule_ids=(),
        explanation=grant_explanation(rules=rules, accepted=accepted, agency_name=agency_name),
        reason_code=BREAK_GLASS_REASON_CODE,
    )
    decision_id = grant_decision_id(
        request_id=accepted.request_id, subscriber_id=subscriber.subscriber_id
    )
    reason = str(request["reason"])
    audit = {
        **audit_record(
            notice=record,
            decision=decision,
            subscriber=subscriber,
            policy_revision=GRANT_POLICY_REVISION,
            decided_at=granted_at,
            withheld=withheld,
        ),
        "decision_id": decision_id,
        "human_decision_maker": str(request["requester_role"]),
        "human_rationale": rules.reasons[reason],
        "break_glass": True,
        "break_glass_justification": f"{reason}: {str(request['justification']).strip()}",
    }
    item = {
        **feed_item(
            notice=record,
            decision=decision,
            policy_revision=GRANT_POLICY_REVISION,
            envelope_sha256=notice.envelope_sha256,
            decided_at=granted_at,
            relay_contact=relay_contact,
            safeguarding_contacts=safeguarding_contacts,
            silent=silent,
            withheld=withheld,
            # Read back through intake: its field signatures were checked again.
            field_provenance=view_presentation(notice.provenance, requested),
        ),
        "decision_id": decision_id,
        "break_glass": {
            "request_id": accepted.request_id,
            "requester_subject": str(request["requester_subject"]),
            "requester_role": str(request["requester_role"]),
            "reason": reason,
            "expires_at": rules.expires_at(request["requested_at"]),
        },
    }
    key = accepted.linkage_key.encode()
    return [
        OutboundMessage(AUDIT_TOPIC, key, MessageType.AUDIT_RECORD, audit, signed=True),
        OutboundMessage(subscriber.feed_topic, key, MessageType.FEED_ITEM, item, signed=True),
    ]


def alert_messages(
    *,
    rules: BreakGlassRules,
    accepted: AcceptedRequest,
    notice: AcceptedNotice,
    alert_desk: SubscriberEntry,
    agency_name: str,
    granted_at: dt.datetime,
) -> list[OutboundMessage]:
    """The owning agency's alert of a grant (written with `grant_messages`, in its
    transaction): a BREAK_GLASS_ALERT_DELIVERED audit record for the alert desk, then the
    BreakGlassAlert on its feed. Ids, the role, the reason, the person's words and the paths
    given: never a value of the notice (the owner holds it already)."""
    request = accepted.request
    record = notice.notice
    reason = str(request["reason"])
    role = str(request["requester_role"])
    justification = str(request["justification"]).strip()
    granted = list(accepted.requested)
    expires_at = rules.expires_at(request["requested_at"])
    decision_id = alert_id(request_id=accepted.request_id, alert_desk_id=alert_desk.subscriber_id)
    fields = "field" if len(granted) == 1 else "fields"
    audit = no_decision_record(
        decision_id=decision_id,
        event=BREAK_GLASS_ALERT_DELIVERED,
        at=granted_at,
        explanation=(
            f"Told {agency_name} that {role_words(role)} at the {accepted.subscriber_id} desk "
            f"was given emergency access to {len(granted)} withheld {fields} of its notice "
            f"until {expires_at.astimezone(dt.UTC):%H:%M} UTC (reason: {rules.reasons[reason]})"
        ),
        reason_code=BREAK_GLASS_ALERT_REASON_CODE,
        notice_id=str(record["notice_id"]),
        notice_type=record["notice_type"],
        subject_linkage_key=accepted.linkage_key,
        disclosed_at=granted_at,
        recipient=recipient_record(alert_desk),
        originating_controller=record["source"]["organisation_code"],
        purpose=EMERGENCY_PURPOSE,
        policy_revision=GRANT_POLICY_REVISION,
        # break_glass marks grants only (the IG review queue lists those); this record is
        # the owner being told of one, found by its event.
    )
    alert = {
        "alert_id": decision_id,
        "request_id": accepted.request_id,
        "grant_decision_id": grant_decision_id(
            request_id=accepted.request_id, subscriber_id=accepted.subscriber_id
        ),
        "notice_id": str(record["notice_id"]),
        "source_reference": record["source"].get("source_reference"),
        "subscriber_id": alert_desk.subscriber_id,
        "subject_linkage_key": accepted.linkage_key,
        "source_agency": record["source"]["agency"],
        "granted_to_subscriber_id": accepted.subscriber_id,
        "granted_to_role": role,
        "reason": reason,
        "justification": justification,
        "granted_paths": granted,
        "granted_at": granted_at,
        "expires_at": expires_at,
    }
    key = accepted.linkage_key.encode()
    return [
        OutboundMessage(AUDIT_TOPIC, key, MessageType.AUDIT_RECORD, audit, signed=True),
        OutboundMessage(
            alert_desk.feed_topic, key, MessageType.BREAK_GLASS_ALERT, alert, signed=True
        ),
    ]


def refusal_messages(
    *,
    words: str,
    accepted: AcceptedRequest | None,
    subscriber: SubscriberEntry | None,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    key: bytes | None,
    value: bytes,
    refused_at: dt.datetime,
    dead_letter_reason: str = BREAK_GLASS_REFUSED,
) -> list[OutboundMessage]:
    """ACCESS_REFUSED (reason_code BREAK_GLASS_REFUSED, the refusal words as its explanation)
    and a dead letter keeping the request; then, when the request was trusted (accepted) and
    `subscriber` is the real desk it names, a BreakGlassRefusal on that desk's feed (same
    decision id, the same words) so the person who asked is told. `accepted` is None when
    the request could not be trusted (not a requesting service's own, unreadable): then it
    names no notice, child or desk, and no feed is told."""
    if accepted is not None:
        decision_id = grant_decision_id(
            request_id=accepted.request_id, subscriber_id=accepted.subscriber_id
        )
    else:
        decision_id = hub_uuid5(f"break-glass:{source_topic}/{source_partition}/{source_offset}")
    audit = no_decision_record(
        decision_id=decision_id,
        event="ACCESS_REFUSED",
        at=refused_at,
        explanation=words,
        reason_code=BREAK_GLASS_REFUSED,
        notice_id=None if accepted is None else accepted.notice_id,
        subject_linkage_key=None if accepted is None else accepted.linkage_key,
        recipient=None if subscriber is None else recipient_record(subscriber),
        purpose=EMERGENCY_PURPOSE,
        policy_revision=GRANT_POLICY_REVISION,
        # Nothing was disclosed: break_glass stays false, as it marks grants only (the IG
        # review queue lists those); a refusal is told apart by its reason_code.
    )
    letter = dead_letter(
        reason=dead_letter_reason,
        detail=f"emergency access request refused: {words}",
        notice_id=None if accepted is None else accepted.notice_id,
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        key=key,
        value=value,
        rejected_at=refused_at,
    )
    messages = [
        OutboundMessage(AUDIT_TOPIC, key, MessageType.AUDIT_RECORD, audit, signed=True),
        OutboundMessage(DEADLETTER_TOPIC, key, MessageType.DEAD_LETTER, letter, signed=False),
    ]
    if accepted is not None and subscriber is not None:
        answer = {
            "request_id": accepted.request_id,
            "decision_id": decision_id,
            "notice_id": accepted.notice_id,
            "subscriber_id": subscriber.subscriber_id,
            "subject_linkage_key": accepted.linkage_key,
            "requester_subject": str(accepted.request["requester_subject"]),
            "requested_paths": list(accepted.requested),
            "reason_code": BREAK_GLASS_REFUSED,
            "explanation": words,
            "refused_at": refused_at,
        }
        messages.append(
            OutboundMessage(
                subscriber.feed_topic,
                accepted.linkage_key.encode(),
                MessageType.BREAK_GLASS_REFUSAL,
                answer,
                signed=True,
            )
        )
    return messages
