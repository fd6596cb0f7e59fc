"""Emergency access ('break-glass', issue 18) for the clinician at presentation. Pure.

A child presents in unscheduled care and the clinician needs, now, plan detail the register
was never given (R13 gives it the CP-IS minimum). The IG officers' rules
(services/hubkit/break_glass.py, policies/safehub/breakglass/data.json) say who may ask, why,
for how long and what is never given; the disclosure ceilings bound what the clinician's role
may receive even then.

Asking (`emergency_offer`, `emergency_request`): the register holds, per plan change notice
applied for the child, the paths the gateway withheld from it (`HeldNotice`). The offer is
the newest held notice with withheld paths the rules may give this role; the request names
that notice, the `cpis-register` desk, the clinician's token subject and role, a reason from
the rules' list, their words, and some of the offered paths. The rules' own `refusal` words
say why a request may not be made (the gateway checks it again).

Answers (`grant_from_feed_item`, `refusal_from_feed`): the gateway answers on the register's
feed with a FeedItem whose `break_glass` is set (a grant: the notice redacted to exactly the
paths asked for, until `expires_at`) or a BreakGlassRefusal. A grant is never a plan change.

Showing (`request_status`, `granted_fields`, `emergency_view_event`): the person who asked,
and only they, sees the granted fields until expiry, each time after a ConsoleAccess
NOTICE_VIEWED event naming the grant is written (fail closed); after expiry they learn when
access ended, nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.hubkit.access_events import consultation_part, recorded_feed
from services.hubkit.audit_trail import (
    ACTOR_FORM,
    ROLE_FORM,
    recorded_token,
    retention_review_date,
)
from services.hubkit.break_glass import BreakGlassRules, refusal
from services.hubkit.field_paths import present_paths
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "CONSULTATION_PURPOSE",
    "EmergencyGrant",
    "EmergencyOffer",
    "EmergencyRefusal",
    "EmergencyRequestInvalid",
    "HeldNotice",
    "emergency_offer",
    "emergency_request",
    "emergency_view_event",
    "grant_from_feed_item",
    "granted_fields",
    "refusal_from_feed",
    "request_status",
]

CONSULTATION_PURPOSE = "CASE_WORK"
"""The ConsultationPurpose of a clinician's view: a practitioner outside the MASH working with
the child in front of them (the schema's symbols are the console's; none is closer)."""


class EmergencyRequestInvalid(ValueError):
    """The request may not be made: the rules' words, for the clinician (422)."""


@dataclass(frozen=True, slots=True)
class HeldNotice:
    """A plan change notice the register applied for the child, and what was withheld from it."""

    notice_id: str
    notice_type: str
    linkage_key: str
    fields_withheld: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EmergencyOffer:
    """What an ED system's form may offer for one child."""

    notice: HeldNotice
    paths: tuple[str, ...]
    """Withheld paths of the notice the rules may give this role (sorted)."""
    reasons: tuple[tuple[str, str], ...]
    """(BreakGlassReason symbol, the rules' words), in the rules' order."""
    grant_hours: int
    justification_max_chars: int


def emergency_offer(
    rules: BreakGlassRules, held: Sequence[HeldNotice], *, role: str, signer: str, desk: str
) -> EmergencyOffer | None:
    """The offer for the newest of `held` (newest first) with paths the rules may give `role`;
    None when this service (`signer`, the owner of the key its requests are sealed with) may
    not ask for the role at `desk`, or nothing withheld may be given."""
    if not rules.may_sign(signer, role, desk):
        return None
    for notice in held:
        paths = rules.grantable(notice.fields_withheld, role=role, notice_type=notice.notice_type)
        if paths:
            return EmergencyOffer(
                notice=notice,
                paths=paths,
                reasons=tuple(rules.reasons.items()),
                grant_hours=rules.grant_hours,
                justification_max_chars=rules.justification_max_chars,
            )
    return None


def emergency_request(
    rules: BreakGlassRules,
    offer: EmergencyOffer,
    *,
    request_id: str,
    subscriber_id: str,
    requester_subject: str,
    role: str,
    reason: str,
    justification: str,
    paths: Sequence[str],
    at: dt.datetime,
) -> dict[str, Any]:
    """The BreakGlassRequest record (schemas/avro/safehub.breakglass.BreakGlassRequest.avsc);
    EmergencyRequestInvalid with the rules' words when it may not be made."""
    requested = tuple(dict.fromkeys(paths))  # order kept, repeats dropped
    why = refusal(
        rules,
        role=role,
        reason=reason,
        justification=justification,
        requested=requested,
        withheld=offer.notice.fields_withheld,
        notice_type=offer.notice.notice_type,
    )
    if why is not None:
        raise EmergencyRequestInvalid(why)
    return {
        "request_id": str(uuid.UUID(request_id)),
        "notice_id": offer.notice.notice_id,
        "subject_linkage_key": offer.notice.linkage_key,
        "subscriber_id": subscriber_id,
        "requester_subject": requester_subject,
        "requester_role": role,
        "reason": reason,
        "justification": justification.strip(),
        "requested_paths": sorted(requested),
        "requested_at": at,
    }


@dataclass(frozen=True, slots=True)
class EmergencyGrant:
    """A grant from the register's feed, as the register keeps it apart from plan changes."""

    request_id: str
    notice_id: str
    linkage_key: str
    requester_subject: str
    requester_role: str
    reason: str
    expires_at: dt.datetime
    source_agency: str
    view: Mapping[str, Any] | None
    """The notice redacted to the paths granted; None once the content is deleted."""
    caveat: str
    """The hub's explanation (who was told, that every view is recorded)."""

    def ended(self, now: dt.datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class EmergencyRefusal:
    request_id: str
    explanation: str
    refused_at: dt.datetime


def _time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    else:
        moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("naive time")
    return moment.astimezone(dt.UTC)


def grant_from_feed_item(item: Mapping[str, Any], *, subscriber_id: str) -> EmergencyGrant:
    """A decoded, hub-verified FeedItem with `break_glass` set, as a grant; ValueError when it
    is not one for this subscriber or is not well formed."""
    marker = item.get("break_glass")
    if not isinstance(marker, Mapping):
        raise ValueError("a feed item that is not emergency access")
    if item.get("subscriber_id") != subscriber_id:
        raise ValueError("a grant made for another subscriber")
    try:
        view = json.loads(str(item["view_json"]))
        if not isinstance(view, dict):
            raise ValueError("the grant's view is not a JSON object")
        return EmergencyGrant(
            request_id=str(uuid.UUID(str(marker["request_id"]))),
            notice_id=str(item["notice_id"]),
            linkage_key=str(item["subject_linkage_key"]),
            requester_subject=str(marker["requester_subject"]),
            requester_role=str(marker["requester_role"]),
            reason=str(marker["reason"]),
            expires_at=_time(marker["expires_at"]),
            source_agency=str(item["source_agency"]),
            view=view,
            caveat=str(item.get("explanation") or ""),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"a grant not well formed: {type(error).__name__}") from None


def refusal_from_feed(record: Mapping[str, Any], *, subscriber_id: str) -> EmergencyRefusal:
    """A decoded, hub-verified BreakGlassRefusal for this subscriber; ValueError otherwise."""
    if record.get("subscriber_id") != subscriber_id:
        raise ValueError("a refusal made for another subscriber")
    try:
        return EmergencyRefusal(
            request_id=str(uuid.UUID(str(record["request_id"]))),
            explanation=str(record["explanation"]),
            refused_at=_time(record["refused_at"]),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"a refusal not well formed: {type(error).__name__}") from None


def _value_at(view: Mapping[str, Any], path: str) -> Any:
    value: Any = view
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def granted_fields(view: Mapping[str, Any]) -> dict[str, Any]:
    """The granted content as {path: value}, at the granularity paths are given (the view
    holds exactly the paths granted: the gateway redacted it)."""
    return {path: _value_at(view, path) for path in sorted(present_paths(view))}


def request_status(
    *,
    grant: EmergencyGrant | None,
    refused: EmergencyRefusal | None,
    ended_at: dt.datetime | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The answer to 'where is my request?', without the content (the caller adds the fields
    of a running grant after its view event is written). `ended_at`: when the content was
    deleted, if it was."""
    if grant is not None:
        if grant.ended(now) or grant.view is None:
            return {"status": "ended", "ended_at": ended_at or grant.expires_at}
        return {"status": "granted", "until": grant.expires_at, "caveat": grant.caveat}
    if refused is not None:
        return {"status": "refused", "explanation": refused.explanation}
    return {"status": "waiting"}


def emergency_view_event(
    *,
    access_id: str,
    requester_subject: str,
    roles: Collection[str],
    register: SubscriberEntry,
    grant: EmergencyGrant,
    at: dt.datetime,
) -> dict[str, Any]:
    """The ConsoleAccess NOTICE_VIEWED event (schemas/avro/safehub.audit.ConsoleAccess.avsc)
    for one view of a grant's content: who (token subject and roles, in their bounded forms),
    the register's feed, the notice, the child's pseudonymous key, the owning agency and the
    grant's request id. Nothing shown is copied in. The feed and what was shown are recorded
    as the console records them (services/hubkit/access_events.py)."""
    notice_id = str(uuid.UUID(grant.notice_id))
    return {
        "access_id": str(uuid.UUID(access_id)),
        "event": "NOTICE_VIEWED",
        "refusal_reason": None,
        "at": at,
        "actor": recorded_token(requester_subject, ACTOR_FORM),
        "actor_roles": sorted({recorded_token(r, ROLE_FORM) for r in roles}),
        "feed": recorded_feed(register),
        "notice_id": notice_id,
        "retention_review_date": retention_review_date(at),
        "linkage": None,
        "search": None,
        "research": None,
        "consultation": consultation_part(
            purpose=CONSULTATION_PURPOSE,
            subject_linkage_key=grant.linkage_key,
            child_keys=[grant.linkage_key],
            notice_ids=[notice_id],
            source_agencies=[grant.source_agency],
            live_update=False,
        ),
        "amendment": None,
        "retraction_id": None,
        "break_glass_request_id": grant.request_id,
    }
