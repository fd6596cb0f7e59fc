"""Emergency access for the clinician (issue 18), step by step, between the HTTP edge and the
pure core (domain/emergency.py).

offer (GET /cpis/children/{nhs}/break-glass): the child's held plans (none: 404, as the
    lookup); the newest plan change notice with withheld paths the rules may give the
    clinician's role (none: 409); the offer with the paths' labels.
ask (POST): the same offer; the request checked with the rules' own words (422); recorded
    as sent (so the answer can be tied to the child), then published, signed with the CP-IS
    key as the CP-IS principal; 503 when the broker does not acknowledge it.
status (GET /cpis/break-glass/{id}): expired content deleted first; a request of another
    clinician (or none) is a 404; a running grant is shown only after its NOTICE_VIEWED event
    is acknowledged by the broker (fail closed: 503, nothing shown).

The lookup notification to the LA is not sent here: asking is not a lookup (the clinician
looked the child up first, and the LA was told), and the gateway tells the owning agency's
alert desk of every grant.
Log lines carry request ids and outcomes only; never the NHS number, reason or paths.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.cpis.domain.emergency import (
    EmergencyOffer,
    EmergencyRequestInvalid,
    emergency_offer,
    emergency_request,
    emergency_view_event,
    granted_fields,
    request_status,
)
from services.cpis.domain.register import held_plans
from services.cpis.errors import (
    EmergencyRequestRefused,
    EmergencyUnavailable,
    NothingGrantable,
)
from services.cpis.service import UK_TIME, CpisRuntime
from services.hubkit.auth import PersonClaims
from services.hubkit.break_glass import BreakGlassRules

__all__ = ["EmergencyAsked", "ask", "offer", "status"]

log = logging.getLogger("safehub.cpis.emergency")


@dataclass(frozen=True, slots=True)
class EmergencyAsked:
    request_id: str
    offer: EmergencyOffer
    paths: tuple[str, ...]


def _rules(rt: CpisRuntime) -> BreakGlassRules:
    if rt.break_glass is None or rt.emergency is None:
        raise EmergencyUnavailable("emergency access is not available from this CP-IS service")
    return rt.break_glass


def _role(rt: CpisRuntime, clinician: PersonClaims) -> str:
    # The edge let only clinicians through; the role recorded is the clinician role.
    return rt.clinician_role


async def offer(
    rt: CpisRuntime, *, clinician: PersonClaims, nhs_number: str
) -> EmergencyOffer | None:
    """The offer; None when no plan is held (404); NothingGrantable when nothing may be given."""
    rules = _rules(rt)
    today = rt.clock().astimezone(UK_TIME).date()
    plans = await asyncio.to_thread(rt.store.plans, nhs_number)
    if not held_plans(plans, today=today, held_days=rt.held_days):
        return None
    held = await asyncio.to_thread(rt.store.held_notices, nhs_number)
    found = emergency_offer(
        rules,
        held,
        role=_role(rt, clinician),
        signer=rt.emergency_signer,
        desk=rt.register.subscriber_id,
    )
    if found is None:
        raise NothingGrantable()
    return found


async def ask(
    rt: CpisRuntime,
    *,
    clinician: PersonClaims,
    nhs_number: str,
    reason: str,
    justification: str,
    paths: Sequence[str],
) -> EmergencyAsked | None:
    """Send the request; None when no plan is held (404)."""
    found = await offer(rt, clinician=clinician, nhs_number=nhs_number)
    if found is None:
        return None
    rules = _rules(rt)
    assert rt.emergency is not None
    at = rt.clock()
    try:
        request = emergency_request(
            rules,
            found,
            request_id=rt.new_id(),
            subscriber_id=rt.register.subscriber_id,
            requester_subject=clinician.subject,
            role=_role(rt, clinician),
            reason=reason,
            justification=justification,
            paths=paths,
            at=at,
        )
    except EmergencyRequestInvalid as error:
        raise EmergencyRequestRefused(str(error)) from None
    request_id = str(request["request_id"])
    await asyncio.to_thread(
        rt.store.emergency_asked,
        nhs_number,
        request_id=request_id,
        requester_subject=clinician.subject,
        notice_id=found.notice.notice_id,
        at=at,
    )
    try:
        await rt.emergency.request_break_glass(request)
    except Exception as error:  # timeouts, the broker client's errors: the request did not go
        log.error("emergency access request %s not sent: %s", request_id, type(error).__name__)
        raise EmergencyUnavailable(
            "the request could not be sent to the hub; try again, or contact the responsible "
            "local authority directly"
        ) from None
    log.info("emergency access request %s sent", request_id, extra={"request_id": request_id})
    return EmergencyAsked(request_id, found, tuple(request["requested_paths"]))


async def status(
    rt: CpisRuntime, *, clinician: PersonClaims, request_id: str
) -> dict[str, Any] | None:
    """Where the clinician's request is; None when it is not theirs (or not known): 404."""
    _rules(rt)
    assert rt.emergency is not None
    now = rt.clock()
    await asyncio.to_thread(rt.store.expire_grants, now)
    answer = await asyncio.to_thread(rt.store.emergency_answer, request_id)
    if answer is None or answer.requester_subject != clinician.subject:
        return None
    body = request_status(
        grant=answer.grant, refused=answer.refused, ended_at=answer.ended_at, now=now
    )
    grant = answer.grant
    if body["status"] != "granted" or grant is None or grant.view is None:
        return body
    event = emergency_view_event(
        access_id=rt.new_id(),
        requester_subject=clinician.subject,
        roles=[rt.clinician_role],
        register=rt.register,
        grant=grant,
        at=now,
    )
    try:
        await rt.emergency.record_view(event)
    except Exception as error:  # fail closed, whatever the broker client raised
        log.error("emergency access view of %s not recorded: %s", request_id, type(error).__name__)
        raise EmergencyUnavailable(
            "the view could not be recorded, so nothing is shown; try again shortly"
        ) from None
    log.info("emergency access view of %s recorded", request_id, extra={"request_id": request_id})
    return {**body, "fields": granted_fields(grant.view)}
