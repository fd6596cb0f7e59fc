"""Console access events: refusals (what the console does when a signed-in person asks for
something outside their feed) and linkage decisions (a decision maker's answer to a child
index review), each the event that says so.

Golden rule 7 (record the decision and the reasons whether or not you share) and DPA 2018
s62 (log consultations, with who and when) apply to refusals too, so every 403 the console
answers becomes a ConsoleAccess event (schemas/avro/safehub.audit.ConsoleAccess.avsc) on
`audit.access.v1`, signed with the console's key, which the audit service logs in its
verifiable Merkle log beside the gateway's decisions but never as one.

The event holds ids, codes and enumerations only: the person's identity provider subject (an
opaque id, not a name) and role codes, each in a bounded form or else as a digest
(`services.hubkit.audit_trail.recorded_token`); the subscriber whose feed they read, from the
topology; the requested notice id only when it is a well-formed UUID. Nothing from the URL,
the form or the page, and nothing the person was refused, is ever copied in.

A linkage decision (LINKAGE_DECIDED) adds the review id, the two children's pseudonymous
keys, the outcome, the key the index kept, and the SHA-256 of the rationale: the rationale is
free text that may name people, so the log holds only its digest (the child index keeps the
text with the decision, and the digest proves which text it was). Its access id is derived
from the review and the person, so writing it again (a resubmitted form) is the same entry.

A child search (CHILD_SEARCHED) adds why (a purpose from a fixed list), which kinds of
identifier were typed, how many children the index matched and the pseudonymous keys of those
the person was shown; never what was typed (`child_searched_event`).

An agency check (RESEARCH_REQUESTED, RESEARCH_ANSWERED) adds the request id, the partner desk
asked, the child's pseudonymous key, when it is due and, for an answer, whether anything was
held and the partner's RAG; the question and findings only as SHA-256 digests (they stay in
the console, inside the MASH: `research_requested_event`, `research_answered_event`).

Every successful view is a consultation (DPA 2018 s62: who, when, what, why), built in
`domain/consultations.py`: NOTICE_VIEWED (GET /items/{id}), CHILD_VIEWED (GET /children/{h},
and a live refresh of it that shows notices the person had not been shown there),
DANGER_ACKNOWLEDGED and DECISION_AMENDED, each written before the page is returned (no event,
no page: 503). Queue pages and the live queue fragment are not logged as consultations: they
list the person's own feed as summaries, each entry of which is logged when it is opened;
the choice is the IG officer's to revisit (services/console/README.md, "Every view audited").
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.console.domain.research import ResearchFindings, ResearchRequest
from services.console.domain.search import SearchQuery
from services.hubkit.access_events import recorded_feed, text_digest, well_formed_notice_id
from services.hubkit.audit_trail import (
    ACTOR_FORM,
    CHILD_KEY_FORM,
    REVIEW_ID_FORM,
    ROLE_FORM,
    recorded_token,
    retention_review_date,
)
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "RefusalReason",
    "Requester",
    "access_refused_event",
    "child_searched_event",
    "console_access_event",
    "linkage_decided_event",
    "linkage_decision_access_id",
    "recorded_requester",
    "research_answered_event",
    "research_requested_event",
    "text_digest",
    "well_formed_notice_id",
]

# Linkage decision access ids: uuid5(this, "<review id> <subject>").
_LINKAGE_DECISIONS = uuid.UUID("6d1f4f0e-3c1a-5b7e-9a59-5afe11a6e000")


# The parts of a ConsoleAccess event that say what happened; each event fills at most one.
_PARTS = ("linkage", "search", "research", "consultation", "amendment")


class RefusalReason(StrEnum):
    NOT_IN_FEED = "NOT_IN_FEED"
    """An item that is not in the person's feed (whether or not it exists: the answer is the
    same, so ids cannot be probed)."""
    CHILD_LINK_NOT_VALID = "CHILD_LINK_NOT_VALID"
    """A child handle that does not resolve in this session to a child in the feed."""
    ROLE_MAY_NOT_DECIDE = "ROLE_MAY_NOT_DECIDE"
    """A triage decision from a role that is not a MASH decision maker (R2)."""
    NO_FEED_FOR_ROLE = "NO_FEED_FOR_ROLE"
    """A signed-in person whose role reads no feed in this console."""
    ROLE_MAY_NOT_REVIEW_LINKAGE = "ROLE_MAY_NOT_REVIEW_LINKAGE"
    """The review queue ('same child?') from a role that may not decide linkage."""


@dataclass(frozen=True, slots=True)
class Requester:
    subject: str
    roles: tuple[str, ...]
    subscriber: SubscriberEntry | None


def console_access_event(
    *,
    access_id: str,
    event: str,
    requester: Requester,
    at: dt.datetime,
    notice_id: str | None = None,
    refusal_reason: RefusalReason | None = None,
    retraction_id: str | None = None,
    break_glass_request_id: str | None = None,
    **part: dict[str, Any],
) -> dict[str, Any]:
    """One ConsoleAccess event (schemas/avro/safehub.audit.ConsoleAccess.avsc): who, when,
    the notice (only in its canonical UUID form; any other text becomes None) and the one
    part (`linkage=`, `search=`, `research=`, `consultation=` or `amendment=`) that says
    what happened; every other part is None, as the schema's strict encoder needs."""
    unknown = set(part) - set(_PARTS)
    if unknown:
        raise ValueError(f"not a part of a console access event: {sorted(unknown)}")
    return {
        "access_id": str(uuid.UUID(access_id)),
        "event": event,
        "refusal_reason": None if refusal_reason is None else refusal_reason.value,
        "at": at,
        **recorded_requester(requester),
        "notice_id": None if notice_id is None else well_formed_notice_id(notice_id),
        "retention_review_date": retention_review_date(at),
        **{name: part.get(name) for name in _PARTS},
        # RETRACTION_ACKNOWLEDGED only: the retraction acknowledged (issue 18).
        "retraction_id": None if retraction_id is None else str(uuid.UUID(retraction_id)),
        # NOTICE_VIEWED under emergency access only: the grant the page showed (issue 18).
        "break_glass_request_id": (
            None if break_glass_request_id is None else str(uuid.UUID(break_glass_request_id))
        ),
    }


def access_refused_event(
    *,
    access_id: str,
    requester: Requester,
    reason: RefusalReason,
    notice_id: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    """A ConsoleAccess event, ACCESS_REFUSED."""
    return console_access_event(
        access_id=access_id,
        event="ACCESS_REFUSED",
        requester=requester,
        at=at,
        notice_id=notice_id,
        refusal_reason=reason,
    )


def child_searched_event(
    *,
    access_id: str,
    requester: Requester,
    query: SearchQuery,
    index_matches: int,
    children_shown: list[str],
    at: dt.datetime,
) -> dict[str, Any]:
    """A ConsoleAccess event, CHILD_SEARCHED: `requester` searched for a child, for the
    query's purpose, and was shown `children_shown` (pseudonymous keys, best first) of the
    index's `index_matches`. Nothing typed is recorded, not even as a digest: a name and a
    date of birth are few enough guesses to recover from an unkeyed digest, and this log is
    kept for years. The kinds of identifier used are (a search by NHS number and one by
    name alone are judged differently)."""
    return console_access_event(
        access_id=access_id,
        event="CHILD_SEARCHED",
        requester=requester,
        at=at,
        search={
            "purpose": query.purpose.value,
            "identifiers_used": [kind.value for kind in query.identifiers_used],
            "index_matches": index_matches,
            "children_shown": [recorded_token(key, CHILD_KEY_FORM) for key in children_shown],
        },
    )


def recorded_requester(requester: Requester) -> dict[str, Any]:
    """The "who" of every console access event: actor, roles and feed, in bounded forms."""
    return {
        "actor": recorded_token(requester.subject, ACTOR_FORM),
        "actor_roles": sorted({recorded_token(r, ROLE_FORM) for r in requester.roles}),
        # Shared with CP-IS's views under emergency access (services/hubkit/access_events.py).
        "feed": recorded_feed(requester.subscriber),
    }


def linkage_decision_access_id(review_id: str, subject: str) -> str:
    """The same id whenever this person's decision on this review is recorded."""
    return str(uuid.uuid5(_LINKAGE_DECISIONS, f"{review_id} {subject}"))


def linkage_decided_event(
    *,
    requester: Requester,
    review_id: str,
    left_child_key: str,
    right_child_key: str,
    same_child: bool,
    surviving_child_key: str | None,
    match_probability: float | None,
    rationale: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """A ConsoleAccess event, LINKAGE_DECIDED: `requester` answered review `review_id`."""
    return console_access_event(
        access_id=linkage_decision_access_id(review_id, requester.subject),
        event="LINKAGE_DECIDED",
        requester=requester,
        at=at,
        linkage={
            "review_id": recorded_token(review_id, REVIEW_ID_FORM),
            "left_child_key": recorded_token(left_child_key, CHILD_KEY_FORM),
            "right_child_key": recorded_token(right_child_key, CHILD_KEY_FORM),
            "outcome": "SAME_CHILD" if same_child else "NOT_SAME_CHILD",
            "surviving_child_key": None
            if surviving_child_key is None
            else recorded_token(surviving_child_key, CHILD_KEY_FORM),
            "match_probability": match_probability,
            "rationale_sha256": text_digest(rationale),
        },
    )


def _research_event(
    event: str,
    *,
    access_id: str,
    requester: Requester,
    request: ResearchRequest,
    at: dt.datetime,
    findings: ResearchFindings | None,
) -> dict[str, Any]:
    answer = None
    if findings is not None:
        answer = "NOTHING_KNOWN" if findings.nothing_known else "INFORMATION_HELD"
    return console_access_event(
        access_id=access_id,
        event=event,
        requester=requester,
        at=at,
        notice_id=request.notice_id,
        research={
            "request_id": str(uuid.UUID(request.request_id)),
            "partner": request.partner,
            "child_key": recorded_token(request.child_key, CHILD_KEY_FORM),
            "due_by": request.due_by,
            "question_sha256": None if request.question is None else text_digest(request.question),
            "answer": answer,
            "partner_rag": None if findings is None else findings.partner_rag,
            "findings_sha256": None if findings is None else text_digest(findings.findings),
        },
    )


def research_requested_event(
    *, access_id: str, requester: Requester, request: ResearchRequest, at: dt.datetime
) -> dict[str, Any]:
    """A ConsoleAccess event, RESEARCH_REQUESTED: `requester` (a MASH decision maker) asked a
    partner desk to check their records on a contact. The question only as its digest."""
    return _research_event(
        "RESEARCH_REQUESTED",
        access_id=access_id,
        requester=requester,
        request=request,
        at=at,
        findings=None,
    )


def research_answered_event(
    *,
    access_id: str,
    requester: Requester,
    request: ResearchRequest,
    findings: ResearchFindings,
    at: dt.datetime,
) -> dict[str, Any]:
    """A ConsoleAccess event, RESEARCH_ANSWERED: `requester` (at the partner desk asked)
    answered. The partner's RAG and whether anything was held; the findings only as a digest."""
    return _research_event(
        "RESEARCH_ANSWERED",
        access_id=access_id,
        requester=requester,
        request=request,
        at=at,
        findings=findings,
    )
