"""The hub's other two answers about emergency access ('break-glass', issue 18), as the console
sees them. Pure.

A refusal (safehub.feed.BreakGlassRefusal) arrives on the desk that asked, when the gateway
refused a request: `Refusal`. It ends the wait for that request and is told only to the
person who asked (`refusal_for_viewer`), in the emergency panel of the notice's page
(domain/break_glass.py `emergency_panel`). A colleague at the same desk sees nothing of it.

An owner's alert (safehub.feed.BreakGlassAlert) arrives on the owning agency's alert desk the
moment the hub grants emergency access to content of a notice that agency sent: `OwnerAlert`.
Everyone signed in at that desk sees the list "Emergency access to your agency's
information" (`alert_views`): which notice (the agency's own reference, and a link when the
desk holds the notice), who was given it (role and desk, never a name), which fields, why,
until when, and that their IG officer reviews it. An alert carries none of the notice's
content: only field paths.

Neither is a FeedItem: each is kept apart from the desk's items (break_glass.py), sealed
under the child's key, and erased with the child.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.console.domain.deadlines import local_time_text
from services.console.domain.feed import parse_time
from services.console.domain.labels import ROLE_LABELS, field_label, humanise
from services.console.errors import FeedItemInvalid

__all__ = [
    "AlertView",
    "OwnerAlert",
    "Refusal",
    "alert_from_feed",
    "alert_views",
    "refusal_for_viewer",
    "refusal_from_feed",
]


@dataclass(frozen=True, slots=True)
class Refusal:
    """The hub's refusal of one emergency access request, on the desk that asked."""

    request_id: str
    decision_id: str
    notice_id: str
    subscriber_id: str
    linkage_key: str
    requester_subject: str
    requested_paths: tuple[str, ...]
    reason_code: str
    explanation: str
    """One sentence for the person who asked (never content the desk does not hold)."""
    refused_at: dt.datetime


@dataclass(frozen=True, slots=True)
class OwnerAlert:
    """The owning agency's alert desk told that emergency access was granted over a notice
    it sent. Names a role and a desk, never a person."""

    alert_id: str
    request_id: str
    grant_decision_id: str
    notice_id: str
    source_reference: str | None
    subscriber_id: str
    """The alert desk (this feed's subscriber)."""
    linkage_key: str
    source_agency: str
    granted_to_subscriber_id: str
    granted_to_role: str
    reason: str
    justification: str
    granted_paths: tuple[str, ...]
    granted_at: dt.datetime
    expires_at: dt.datetime


def _time(record: Mapping[str, Any], name: str) -> dt.datetime:
    value = parse_time(record[name])
    if value is None:
        raise ValueError(name)
    return value


def _paths(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError("paths")
    return tuple(str(p) for p in value)


def refusal_from_feed(record: Mapping[str, Any]) -> Refusal:
    """A decoded BreakGlassRefusal as a Refusal; raises FeedItemInvalid."""
    try:
        return Refusal(
            request_id=str(uuid.UUID(str(record["request_id"]))),
            decision_id=str(record["decision_id"]),
            notice_id=str(record["notice_id"]),
            subscriber_id=str(record["subscriber_id"]),
            linkage_key=str(record["subject_linkage_key"]),
            requester_subject=str(record["requester_subject"]),
            requested_paths=_paths(record["requested_paths"]),
            reason_code=str(record["reason_code"]),
            explanation=str(record["explanation"]),
            refused_at=_time(record, "refused_at"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FeedItemInvalid(
            f"emergency access refusal is not well formed: {type(error).__name__}"
        ) from None


def alert_from_feed(record: Mapping[str, Any]) -> OwnerAlert:
    """A decoded BreakGlassAlert as an OwnerAlert; raises FeedItemInvalid."""
    try:
        reference = record.get("source_reference")
        return OwnerAlert(
            alert_id=str(uuid.UUID(str(record["alert_id"]))),
            request_id=str(uuid.UUID(str(record["request_id"]))),
            grant_decision_id=str(record["grant_decision_id"]),
            notice_id=str(record["notice_id"]),
            source_reference=None if reference in (None, "") else str(reference),
            subscriber_id=str(record["subscriber_id"]),
            linkage_key=str(record["subject_linkage_key"]),
            source_agency=str(record["source_agency"]),
            granted_to_subscriber_id=str(record["granted_to_subscriber_id"]),
            granted_to_role=str(record["granted_to_role"]),
            reason=str(record["reason"]),
            justification=str(record["justification"]),
            granted_paths=_paths(record["granted_paths"]),
            granted_at=_time(record, "granted_at"),
            expires_at=_time(record, "expires_at"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FeedItemInvalid(
            f"emergency access alert is not well formed: {type(error).__name__}"
        ) from None


def refusal_for_viewer(refusals: Sequence[Refusal], *, subject: str) -> Refusal | None:
    """Of one notice's refusals on one desk, the latest of this person's own (never a
    colleague's)."""
    own = [r for r in refusals if r.requester_subject == subject]
    return max(own, key=lambda r: (r.refused_at, r.request_id), default=None)


@dataclass(frozen=True, slots=True)
class AlertView:
    """One line of "Emergency access to your agency's information"."""

    alert_id: str
    notice_text: str
    """The agency's own reference when the notice carries one, else the notice id."""
    notice_href: str | None
    """The notice's page when this desk holds the notice; None otherwise."""
    given_to: str
    """Role and desk ('MASH manager at the MASH manager desk'), never a name."""
    fields: tuple[str, ...]
    reason_text: str
    justification: str
    granted_text: str
    until_text: str
    running: bool


def alert_views(
    alerts: Sequence[OwnerAlert],
    *,
    holds_notice: Callable[[str], bool],
    desks: Mapping[str, str],
    reasons: Mapping[str, str],
    now: dt.datetime,
) -> list[AlertView]:
    """The alert desk's list, latest grant first. `desks`: subscriber id -> the words for
    that desk; `reasons`: the IG rules' words for each reason code."""
    ordered = sorted(alerts, key=lambda a: (a.granted_at, a.alert_id), reverse=True)
    return [
        AlertView(
            alert_id=a.alert_id,
            notice_text=(
                f"Your reference {a.source_reference}"
                if a.source_reference
                else f"Notice {a.notice_id}"
            ),
            notice_href=f"/items/{a.notice_id}" if holds_notice(a.notice_id) else None,
            given_to=(
                f"{ROLE_LABELS.get(a.granted_to_role, humanise(a.granted_to_role))} at "
                f"{desks.get(a.granted_to_subscriber_id, humanise(a.granted_to_subscriber_id))}"
            ),
            fields=tuple(dict.fromkeys(field_label(p) for p in a.granted_paths)),
            reason_text=reasons.get(a.reason, humanise(a.reason)),
            justification=a.justification,
            granted_text=local_time_text(a.granted_at, now=now),
            until_text=local_time_text(a.expires_at, now=now),
            running=now < a.expires_at,
        )
        for a in ordered
    ]
