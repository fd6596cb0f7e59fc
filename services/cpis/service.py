"""What a lookup does, in order, between the HTTP edge and the pure core.

look_up (an authenticated unscheduled care clinician, a valid NHS number and setting):
    1. load the child's plans and keep those CP-IS holds (`held_plans`);
    2. none held: record a MISS (no NHS number kept), answer nothing (404);
    3. build one access notification per owning LA (`access_notices`), encode each, and
       record the HIT access and the notifications in ONE store transaction;
    4. publish the notifications now (`AccessNotifier.deliver`); what the broker does not
       acknowledge in time stays queued and is retried, the answer does not wait for it;
    5. answer the CP-IS minimum and the last 25 accesses, this one included.
refuse (authenticated, but not an unscheduled care clinician): record a REFUSED access.

Log lines name the access id, outcome, setting and organisation code; never the NHS
number, the linkage key or anything from the register.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from services.cpis.domain.access import (
    ACCESS_HISTORY,
    Access,
    AccessOutcome,
    CpisRecord,
    cpis_record,
)
from services.cpis.domain.notification import (
    NotificationOrigin,
    access_notices,
    presenting_contact,
)
from services.cpis.domain.register import held_plans
from services.cpis.domain.requests import UnscheduledSetting
from services.cpis.emergency_sender import EmergencySender
from services.cpis.notifier import AccessNotifier
from services.cpis.store import RegisterStore
from services.hubkit.auth import PersonClaims
from services.hubkit.break_glass import BreakGlassRules
from services.hubkit.codec import SchemaCatalog
from services.hubkit.notice import encode_notice
from services.hubkit.topology import SubscriberEntry

__all__ = ["UK_TIME", "CpisRuntime", "PersonValidator", "look_up", "refuse"]

log = logging.getLogger("safehub.cpis")
# Plan dates are English calendar dates: "today" is today in England.
UK_TIME = ZoneInfo("Europe/London")


class PersonValidator(Protocol):
    """Turns a bearer token into a person's claims, or raises a hubkit AuthError
    (`services.hubkit.auth.PersonTokenValidator` is the real one)."""

    async def validate(self, token: str) -> PersonClaims: ...


@dataclass(frozen=True)
class CpisRuntime:
    """Everything a request uses, built once at start-up (`bootstrap.running_cpis`)."""

    store: RegisterStore
    notifier: AccessNotifier
    validator: PersonValidator
    catalog: SchemaCatalog
    origin: NotificationOrigin
    subscribers: tuple[SubscriberEntry, ...]
    register: SubscriberEntry
    """The CP-IS register's own entry: its contact stands in for an unknown organisation's."""
    organisation_names: Mapping[str, str]
    clinician_role: str
    held_days: int
    clock: Callable[[], dt.datetime]
    new_id: Callable[[], str]
    ready: Callable[[], bool]
    # Emergency access (issue 18, emergency.py): None when not wired (then it answers 503).
    break_glass: BreakGlassRules | None = None
    emergency: EmergencySender | None = None
    emergency_signer: str = ""
    """The owner of the key requests are sealed with (the CPIS agency's principal)."""
    field_labels: Mapping[str, str] = field(default_factory=dict)
    """Field path -> words (policies/safehub/fields/data.json `labels`)."""


async def look_up(
    rt: CpisRuntime,
    *,
    clinician: PersonClaims,
    organisation: str,
    nhs_number: str,
    setting: UnscheduledSetting,
) -> CpisRecord | None:
    at = rt.clock()
    today = at.astimezone(UK_TIME).date()
    plans = await asyncio.to_thread(rt.store.plans, nhs_number)
    held = held_plans(plans, today=today, held_days=rt.held_days)
    access = Access(
        access_id=rt.new_id(),
        at=at,
        actor=clinician.subject,
        organisation=organisation,
        setting=setting,
        outcome=AccessOutcome.HIT if held else AccessOutcome.MISS,
    )
    if not held:
        await asyncio.to_thread(rt.store.record_access, access, nhs_number=None)
        _log(access)
        return None
    notices = access_notices(
        access=access,
        held=held,
        nhs_number=nhs_number,
        origin=rt.origin,
        contact_point=presenting_contact(organisation, rt.subscribers, fallback=rt.register),
    )
    outbox = [(str(n["notice_id"]), encode_notice(rt.catalog, n)) for n in notices]
    await asyncio.to_thread(rt.store.record_access, access, nhs_number=nhs_number, outbox=outbox)
    _log(access, notifications=len(outbox))
    await rt.notifier.deliver(outbox)
    history = await asyncio.to_thread(rt.store.access_history, nhs_number, limit=ACCESS_HISTORY)
    return cpis_record(
        nhs_number=nhs_number,
        held=held,
        accesses=history,
        organisation_names=rt.organisation_names,
    )


async def refuse(rt: CpisRuntime, *, person: PersonClaims) -> None:
    """Record that someone without the clinician role asked (nothing of the request kept)."""
    access = Access(
        access_id=rt.new_id(),
        at=rt.clock(),
        actor=person.subject,
        organisation=person.organisation,
        setting=None,
        outcome=AccessOutcome.REFUSED,
    )
    await asyncio.to_thread(rt.store.record_access, access, nhs_number=None)
    _log(access)


def _log(access: Access, *, notifications: int = 0) -> None:
    log.info(
        "cpis lookup %s: %s",
        access.access_id,
        access.outcome.value,
        extra={
            "access_id": access.access_id,
            "outcome": access.outcome.value,
            "setting": access.setting.value if access.setting else None,
            "organisation": access.organisation,
            "notifications": notifications,
        },
    )
