"""Emergency access ('break-glass', issue 18) as the console sees it. Pure.

Asking: a person whose role the IG officers' rules allow (services/hubkit/break_glass.py,
`may_request_roles`), on a notice page whose item has withheld fields the rules may give
(`grantable`), chooses some of them, a reason from the rules' list and says why in their own
words. `request_offer` says what the form offers (None: no form); `break_glass_request` checks
the answer with the rules' own `refusal` (the gateway checks it again) and builds the
BreakGlassRequest record (schemas/avro/safehub.breakglass.BreakGlassRequest.avsc) the console
signs and publishes. Nothing is shown because of a request: only a grant from the hub.

A grant: a FeedItem whose `break_glass` is set (safehub.feed.BreakGlassGrant). It is NOT the
desk's item for that notice and never replaces it: it is kept apart (`Grant`), shown in its
own panel on the notice page only to `requester_subject` and only before `expires_at`
(`grant_for_viewer`, given the clock's now). After that the content is deleted and the page
says when access ended (`Grant.ended`, with no entry). The panel carries the same marking and
handling caveat as the desk's item (and the grant's own, should it hold more): it never shows
fewer warnings than the item page.

A refusal (domain/break_glass_answers.py) ends the wait for its request: the person who asked
is told in the panel why, and may ask again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.console.domain.break_glass_answers import Refusal
from services.console.domain.deadlines import local_time_text
from services.console.domain.feed import FeedEntry, entry_from_feed_item, parse_time
from services.console.domain.labels import field_label
from services.console.domain.views.fields import FieldRow, field_rows
from services.console.domain.views.sharing import Marking, handling_conditions, marking_of
from services.console.errors import FeedItemInvalid
from services.hubkit.break_glass import BreakGlassRules, refusal
from services.hubkit.topology import CONSOLE_PRINCIPAL

__all__ = [
    "BreakGlassRefused",
    "EmergencyPanel",
    "Grant",
    "RequestOffer",
    "break_glass_request",
    "emergency_panel",
    "grant_for_viewer",
    "grant_from_feed_item",
    "is_grant",
    "request_offer",
]


class BreakGlassRefused(ValueError):
    """The request may not be made, in words for the person (the rules' refusal)."""


@dataclass(frozen=True, slots=True)
class RequestOffer:
    """What the request form offers on one notice page."""

    paths: tuple[str, ...]
    """Withheld paths of the item that emergency access may give (sorted)."""
    reasons: tuple[tuple[str, str], ...]
    """(BreakGlassReason symbol, the rules' words), in the rules' order."""
    grant_hours: int
    justification_max_chars: int


NOT_FROM_THIS_DESK = "your role may not use emergency access at this desk"


def console_role(rules: BreakGlassRules, *, roles: Collection[str], desk: str) -> str | None:
    """The first of the person's roles (they may hold several) the IG rules let the console
    ask as at this desk (`requesting_services`, the same check the gateway makes of the
    console's signature); None when none may."""
    return next((r for r in sorted(roles) if rules.may_sign(CONSOLE_PRINCIPAL, r, desk)), None)


def request_offer(
    rules: BreakGlassRules | None, *, roles: Collection[str], entry: FeedEntry
) -> RequestOffer | None:
    """The form to offer this person on this item's page; None when there is nothing they
    may ask for (their role may not, or nothing withheld may be given)."""
    role = None if rules is None else console_role(rules, roles=roles, desk=entry.subscriber_id)
    if rules is None or role is None:
        return None
    paths = rules.grantable(entry.fields_withheld, role=role, notice_type=entry.notice_type)
    if not paths:
        return None
    return RequestOffer(
        paths=paths,
        reasons=tuple(rules.reasons.items()),
        grant_hours=rules.grant_hours,
        justification_max_chars=rules.justification_max_chars,
    )


def break_glass_request(
    rules: BreakGlassRules,
    *,
    request_id: str,
    entry: FeedEntry,
    requester_subject: str,
    roles: Collection[str],
    reason: str,
    justification: str,
    requested: Sequence[str],
    at: dt.datetime,
) -> dict[str, Any]:
    """The BreakGlassRequest record for this answer; BreakGlassRefused (the rules' words)
    when the rules do not allow it. The role recorded is the first of the person's roles the
    rules allow (they may hold several)."""
    role = console_role(rules, roles=roles, desk=entry.subscriber_id)
    if role is None:
        raise BreakGlassRefused(NOT_FROM_THIS_DESK)
    paths = tuple(dict.fromkeys(requested))  # order kept, repeats dropped
    why = refusal(
        rules,
        role=role,
        reason=reason,
        justification=justification,
        requested=paths,
        withheld=entry.fields_withheld,
        notice_type=entry.notice_type,
    )
    if why is not None:
        raise BreakGlassRefused(why)
    return {
        "request_id": str(uuid.UUID(request_id)),
        "notice_id": entry.notice_id,
        "subject_linkage_key": entry.linkage_key,
        "subscriber_id": entry.subscriber_id,
        "requester_subject": requester_subject,
        "requester_role": role,
        "reason": reason,
        "justification": justification.strip(),
        "requested_paths": sorted(paths),
        "requested_at": at,
    }


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant of emergency access in one desk's feed, kept apart from the desk's items."""

    request_id: str
    notice_id: str
    subscriber_id: str
    linkage_key: str
    requester_subject: str
    requester_role: str
    reason: str
    expires_at: dt.datetime
    entry: FeedEntry | None
    """The content granted (its view holds only the paths granted); None once deleted."""

    def ended(self, now: dt.datetime) -> bool:
        return now >= self.expires_at

    def without_content(self) -> Grant:
        return Grant(
            request_id=self.request_id,
            notice_id=self.notice_id,
            subscriber_id=self.subscriber_id,
            linkage_key=self.linkage_key,
            requester_subject=self.requester_subject,
            requester_role=self.requester_role,
            reason=self.reason,
            expires_at=self.expires_at,
            entry=None,
        )


def is_grant(item: Mapping[str, Any]) -> bool:
    """A decoded FeedItem that is emergency access, not a sharing decision."""
    return item.get("break_glass") is not None


def grant_from_feed_item(item: Mapping[str, Any]) -> Grant:
    """A decoded FeedItem with `break_glass` set, as a Grant; raises FeedItemInvalid."""
    entry = entry_from_feed_item(item)
    marker = item.get("break_glass")
    if not isinstance(marker, Mapping):
        raise FeedItemInvalid("a feed item that is not emergency access")
    try:
        expires = parse_time(marker["expires_at"])
        if expires is None:
            raise FeedItemInvalid("an emergency access grant without its expiry")
        return Grant(
            request_id=str(uuid.UUID(str(marker["request_id"]))),
            notice_id=entry.notice_id,
            subscriber_id=entry.subscriber_id,
            linkage_key=entry.linkage_key,
            requester_subject=str(marker["requester_subject"]),
            requester_role=str(marker["requester_role"]),
            reason=str(marker["reason"]),
            expires_at=expires,
            entry=entry,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FeedItemInvalid(
            f"emergency access grant is not well formed: {type(error).__name__}"
        ) from None


def grant_for_viewer(grants: Sequence[Grant], *, subject: str, now: dt.datetime) -> Grant | None:
    """Of one notice's grants in one desk's feed, the one this person sees: their own (never
    a colleague's), the one still running (latest expiry first), else the latest that ended
    (its content left out, whatever the store still held)."""
    own = sorted(
        (g for g in grants if g.requester_subject == subject),
        key=lambda g: (g.expires_at, g.request_id),
        reverse=True,
    )
    if not own:
        return None
    running = [g for g in own if not g.ended(now) and g.entry is not None]
    if running:
        return running[0]
    return own[0].without_content()


@dataclass(frozen=True, slots=True)
class EmergencyPanel:
    """The notice page's emergency access panel, in one of five states: `running` (the
    granted content, until `until_text`), `ended` (when access ended, nothing else),
    `waiting` (asked, no answer from the hub yet), `refused` (the hub refused the request,
    `refused_text` says why), or only a form (`offer`)."""

    state: str
    """'running', 'ended', 'waiting', 'refused' or 'offer'."""
    request_id: str | None = None
    until_text: str | None = None
    ended_text: str | None = None
    asked_text: str | None = None
    reason_text: str | None = None
    fields: tuple[FieldRow, ...] = ()
    offer: RequestOffer | None = None
    offer_labels: tuple[tuple[str, str], ...] = ()
    """(path, its label) for each path the form offers."""
    refused_text: str | None = None
    """'Your emergency access request of 02:41 was refused: <the hub's explanation>'."""
    marking: Marking | None = None
    """The classification the granted content is handled under (the desk item's, else the
    grant's own); shown with the content."""
    handling: str | None = None
    """The police handling code's conditions, when the desk's item or the grant holds
    intelligence grading."""


def emergency_panel(
    *,
    grant: Grant | None,
    asked_at: dt.datetime | None,
    offer: RequestOffer | None,
    rules: BreakGlassRules | None,
    now: dt.datetime,
    refusal: Refusal | None = None,
    desk_entry: FeedEntry | None = None,
) -> EmergencyPanel | None:
    """What the panel shows this person (None: no panel). A running grant wins, with the
    marking and handling caveat of `desk_entry` (the desk's own item); a request sent and not
    yet answered says it is waiting; a refused one says why (`refusal`: this person's latest);
    an ended grant says when it ended (and the form is offered again)."""
    labels = tuple((p, field_label(p)) for p in offer.paths) if offer else ()
    reason_words = rules.reasons if rules is not None else {}
    ended_text = None if grant is None else local_time_text(grant.expires_at, now=now)
    if grant is not None and grant.entry is not None and not grant.ended(now):
        marking, handling = _warnings(desk_entry, grant.entry)
        return EmergencyPanel(
            state="running",
            request_id=grant.request_id,
            until_text=local_time_text(grant.expires_at, now=now),
            reason_text=reason_words.get(grant.reason, grant.reason),
            fields=field_rows(grant.entry.view),
            marking=marking,
            handling=handling,
        )
    if asked_at is not None:
        return EmergencyPanel(
            state="waiting",
            asked_text=local_time_text(asked_at, now=now),
            ended_text=ended_text,
            offer=offer,
            offer_labels=labels,
        )
    if refusal is not None:
        return EmergencyPanel(
            state="refused",
            request_id=refusal.request_id,
            refused_text=(
                f"Your emergency access request of {local_time_text(refusal.refused_at, now=now)}"
                f" was refused: {refusal.explanation}"
            ),
            ended_text=ended_text,
            offer=offer,
            offer_labels=labels,
        )
    if grant is not None:
        return EmergencyPanel(
            state="ended",
            request_id=grant.request_id,
            ended_text=local_time_text(grant.expires_at, now=now),
            offer=offer,
            offer_labels=labels,
        )
    if offer is not None:
        return EmergencyPanel(state="offer", offer=offer, offer_labels=labels)
    return None


def _warnings(
    desk_entry: FeedEntry | None, granted: FeedEntry
) -> tuple[Marking | None, str | None]:
    """The marking and handling conditions the granted content is shown with: the desk
    item's (so the panel never warns less than the item page), else the grant's own."""
    entries = [e for e in (desk_entry, granted) if e is not None]
    marking = next((m for m in (marking_of(e) for e in entries) if m is not None), None)
    handling = next(
        (h for h in (handling_conditions(e.view) for e in entries) if h is not None), None
    )
    return marking, handling
