"""The register: what CP-IS holds per child, and how a plan change moves it. Pure.

Input: the `cpis-register` subscriber's feed. The gateway delivers CSC_STATUS_CHANGE notices
about child protection plans and looked-after status (rule R13), redacted to the register's
view: notice id and type, created_at, subject linkage key, NHS number and responsible LA,
detail change / effective date / CP category / legal status, and the contact point.

What is kept, per NHS number and plan type (a child can be looked after and on a child
protection plan at the same time, and one must not end the other):

    plan type               CHILD_PROTECTION_PLAN or LOOKED_AFTER (CP-IS plan types)
    start, end              the change's effective dates; end is None while the plan is open
    responsible LA          organisation code, and the LA contact from the notice
    linkage key             the hub's pseudonymous key, to address the access notification
    recorded_at             when the LA recorded the latest change applied (ordering)

Nothing else: not the CP category (NEG, PHY, EMO, SAB, MUL) nor the legal status, which
CP-IS does not show and unscheduled care does not need (Caldicott principle 3, minimum
necessary); not names, dates of birth or addresses, which the view does not carry.

How a change applies (`apply_change`):
- a change recorded before the latest one applied to that plan is stale: ignored (a late
  backfill must not reopen a plan the LA has since ended);
- *_STARTED: no plan held, an open plan (a restatement or a new plan replaces it), or an
  ended plan that ended on or before the new start: the plan is (re)started, open. A start
  before the held plan's end corrects that ended plan's start and leaves it ended;
- *_ENDED: ends the held plan on the effective date; with no plan held, or an end before the
  held plan's start (an earlier episode), nothing changes.

A withdrawn change (the LA retracted the notice: wrong child, entered in error, corrected;
issue 18) is taken out of the plan's history and the plan is worked out again from the
changes left, in the order they arrived (`plan_after`): a wrongly started plan is no longer
held, a wrongly ended plan is open again.

How long a plan is held (`is_held`): while open, and for `held_days` after it ended. CP-IS
covers children on a plan or looked after now or within the previous 12 months, hence the
default of 365 days (London Safeguarding Children Procedures, "Child Protection Information
Sharing (CP-IS)", 1.1). After that the plan, and the accesses recorded against it, go.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from services.cpis.domain.requests import parse_nhs_number
from services.cpis.errors import FeedItemUnusable, NhsNumberInvalid

__all__ = [
    "DEFAULT_HELD_DAYS",
    "REGISTER_CHANGES",
    "Effect",
    "Plan",
    "PlanChange",
    "PlanType",
    "Transition",
    "apply_change",
    "held_plans",
    "is_held",
    "parse_plan_change",
    "plan_after",
    "render_contact",
]

DEFAULT_HELD_DAYS = 365


class PlanType(StrEnum):
    """CP-IS plan types the register is fed with (safehub.notice.detail.CpisPlanType).
    UNBORN_CHILD_PROTECTION_PLAN exists in the schema but no status change carries it."""

    CHILD_PROTECTION_PLAN = "CHILD_PROTECTION_PLAN"
    LOOKED_AFTER = "LOOKED_AFTER"


# CscChange -> (plan type, True when the change starts the plan)
REGISTER_CHANGES: Mapping[str, tuple[PlanType, bool]] = {
    "CP_PLAN_STARTED": (PlanType.CHILD_PROTECTION_PLAN, True),
    "CP_PLAN_ENDED": (PlanType.CHILD_PROTECTION_PLAN, False),
    "LOOKED_AFTER_STARTED": (PlanType.LOOKED_AFTER, True),
    "LOOKED_AFTER_ENDED": (PlanType.LOOKED_AFTER, False),
}


@dataclass(frozen=True, slots=True)
class PlanChange:
    """One plan change from the register's feed, reduced to what the register keeps."""

    notice_id: str
    recorded_at: dt.datetime
    nhs_number: str
    linkage_key: str
    responsible_la: str
    plan_type: PlanType
    starts: bool
    effective_date: dt.date
    la_contact: str | None
    """The LA contact, rendered; None only on an end (an end needs no contact)."""
    fields_withheld: tuple[str, ...] = ()
    """Paths of the notice the gateway withheld from the register (what emergency access may
    ask for, issue 18: domain/emergency.py)."""


@dataclass(frozen=True, slots=True)
class Plan:
    plan_type: PlanType
    start: dt.date
    end: dt.date | None
    responsible_la: str
    la_contact: str
    linkage_key: str
    recorded_at: dt.datetime

    @property
    def is_open(self) -> bool:
        return self.end is None


class Effect(StrEnum):
    STARTED = "started"
    """A plan is held open from the change's start date (new, restated or a new episode)."""
    START_CORRECTED = "start_corrected"
    """An ended plan's start date was corrected; it stays ended."""
    ENDED = "ended"
    NOTHING_TO_END = "nothing_to_end"
    """An end for a plan the register does not hold (or an earlier episode): no change."""
    STALE = "stale"
    """Recorded before the latest change already applied to this plan: no change."""
    WITHDRAWN = "withdrawn"
    """A change the LA withdrew was taken out; the plan is what the other changes make it."""


@dataclass(frozen=True, slots=True)
class Transition:
    effect: Effect
    plan: Plan | None
    """The plan after the change (None when none is held)."""

    @property
    def changed(self) -> bool:
        return self.effect in (Effect.STARTED, Effect.START_CORRECTED, Effect.ENDED)


def render_contact(contact: Mapping[str, Any]) -> str:
    """A ContactPoint as one line: 'role, organisation, telephone[, secure e-mail]'."""
    parts = [contact.get("role"), contact.get("organisation"), contact.get("telephone")]
    parts.append(contact.get("secure_email"))
    return ", ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())


def _utc(text: Any) -> dt.datetime:
    value = dt.datetime.fromisoformat(str(text))
    if value.tzinfo is None:
        raise ValueError("naive time")
    return value.astimezone(dt.UTC)


def _record(view: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = view.get(name)
    return value if isinstance(value, dict) else {}


def parse_plan_change(item: Mapping[str, Any], *, subscriber_id: str) -> PlanChange:
    """The plan change a (hub-verified, decoded) FeedItem carries, or FeedItemUnusable.

    Reads only the fields the register keeps: anything else in the view is never looked at,
    so a wider view cannot make the register hold more.
    """
    if item.get("subscriber_id") != subscriber_id:
        raise FeedItemUnusable("wrong_subscriber", "the item was made for another subscriber")
    if item.get("notice_type") != "CSC_STATUS_CHANGE":
        raise FeedItemUnusable("not_a_status_change", "only CSC_STATUS_CHANGE notices feed CP-IS")
    try:
        view = json.loads(str(item["view_json"]))
    except (KeyError, ValueError):
        raise FeedItemUnusable("view_unreadable", "the item's view is not JSON") from None
    if not isinstance(view, dict):
        raise FeedItemUnusable("view_unreadable", "the item's view is not a JSON object")
    subject = _record(view, "subject")
    detail = _record(view, "detail")
    change = detail.get("change")
    if change not in REGISTER_CHANGES:
        raise FeedItemUnusable(
            "not_a_plan_change",
            "CP-IS holds child protection plans and looked-after status only",
        )
    plan_type, starts = REGISTER_CHANGES[str(change)]
    raw_nhs = subject.get("nhs_number")
    if not isinstance(raw_nhs, str) or not raw_nhs:
        raise FeedItemUnusable(
            "no_nhs_number", "CP-IS is looked up by NHS number; the notice gives none"
        )
    try:
        nhs_number = parse_nhs_number(raw_nhs)
    except NhsNumberInvalid:
        raise FeedItemUnusable("nhs_number_invalid", "the notice's NHS number is invalid") from None
    responsible_la = subject.get("responsible_la")
    if not isinstance(responsible_la, str) or not responsible_la:
        raise FeedItemUnusable(
            "no_responsible_la", "the notice names no responsible LA to notify of accesses"
        )
    linkage_key = subject.get("linkage_key")
    if not isinstance(linkage_key, str) or not linkage_key:
        raise FeedItemUnusable("no_linkage_key", "the notice has no linkage key")
    try:
        effective = dt.date.fromisoformat(str(detail["effective_date"]))
        recorded_at = _utc(view["created_at"])
    except (KeyError, ValueError):
        raise FeedItemUnusable(
            "dates_unreadable", "the notice's effective date or creation time is unreadable"
        ) from None
    contact = view.get("contact_point")
    la_contact = render_contact(contact) if isinstance(contact, dict) else ""
    if starts and not la_contact:
        raise FeedItemUnusable(
            "no_la_contact", "a plan start needs the responsible LA's contact point"
        )
    return PlanChange(
        notice_id=str(item.get("notice_id") or view.get("notice_id")),
        recorded_at=recorded_at,
        nhs_number=nhs_number,
        linkage_key=linkage_key,
        responsible_la=responsible_la,
        plan_type=plan_type,
        starts=starts,
        effective_date=effective,
        la_contact=la_contact or None,
        fields_withheld=tuple(str(p) for p in item.get("fields_withheld") or ()),
    )


def apply_change(current: Plan | None, change: PlanChange) -> Transition:
    """The plan of `change.plan_type` after `change`, given the plan held now (module doc)."""
    if current is not None and change.recorded_at < current.recorded_at:
        return Transition(Effect.STALE, current)
    day = change.effective_date
    if change.starts:
        assert change.la_contact is not None  # parse_plan_change requires it on a start
        if current is not None and current.end is not None and day < current.end:
            corrected = replace(current, start=day, recorded_at=change.recorded_at)
            return Transition(Effect.START_CORRECTED, corrected)
        started = Plan(
            plan_type=change.plan_type,
            start=day,
            end=None,
            responsible_la=change.responsible_la,
            la_contact=change.la_contact,
            linkage_key=change.linkage_key,
            recorded_at=change.recorded_at,
        )
        return Transition(Effect.STARTED, started)
    if current is None or day < current.start:
        return Transition(Effect.NOTHING_TO_END, current)
    return Transition(Effect.ENDED, replace(current, end=day, recorded_at=change.recorded_at))


def plan_after(changes: Iterable[PlanChange]) -> Plan | None:
    """The plan the register holds after these changes of one plan type, applied in order
    from nothing held."""
    plan: Plan | None = None
    for change in changes:
        plan = apply_change(plan, change).plan
    return plan


def is_held(plan: Plan, *, today: dt.date, held_days: int = DEFAULT_HELD_DAYS) -> bool:
    """Open, or ended no more than `held_days` before `today`."""
    return plan.end is None or plan.end >= today - dt.timedelta(days=held_days)


def held_plans(
    plans: Iterable[Plan], *, today: dt.date, held_days: int = DEFAULT_HELD_DAYS
) -> tuple[Plan, ...]:
    """The plans CP-IS shows, open plans first, then the most recently started."""
    held = [p for p in plans if is_held(p, today=today, held_days=held_days)]
    held.sort(key=lambda p: (not p.is_open, -p.start.toordinal(), p.plan_type.value))
    return tuple(held)
