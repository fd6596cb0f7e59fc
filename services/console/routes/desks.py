"""Which desk a signed-in person works at, and so where they land and what their navigation
counts: a MASH decision maker lands on the decision queue; a partner in the MASH (health
navigator, police researcher) on "Research requested of me", the checks asked of their desk;
someone outside the MASH (the local authority's social worker) on "Sent to me", the
decisions and return interviews they must act on. Everyone keeps "All notices".

From the person's feed (its subscriber in the hub's topology) and rule R2's decision roles,
never from the role name alone: a new partner desk in the topology is a partner here too."""

from __future__ import annotations

from typing import Any

from services.console.domain.people import Person
from services.console.domain.research import ResearchPartner, research_partners
from services.console.runtime import ConsoleRuntime

__all__ = ["desk_nav", "landing_path", "partner_desk", "partners_of"]

QUEUE, RESEARCH, SENT_TO_ME = "/queue", "/research", "/sent-to-me"
GOVERNANCE = "/governance"  # routes/governance.py


def partners_of(runtime: ConsoleRuntime) -> tuple[ResearchPartner, ...]:
    """The partner desks a decision maker may ask for agency checks."""
    return research_partners(
        runtime.topology.subscribers,
        decision_roles=runtime.decision_roles,
        console_roles=runtime.settings.console_roles,
    )


def partner_desk(runtime: ConsoleRuntime, person: Person | None) -> ResearchPartner | None:
    """The partner desk whose feed this person reads, if any."""
    if person is None or person.subscriber_id is None:
        return None
    if set(person.roles) & runtime.decision_roles:
        return None
    return next((p for p in partners_of(runtime) if p.subscriber_id == person.subscriber_id), None)


def _outside_mash(runtime: ConsoleRuntime, person: Person | None) -> bool:
    if person is None or person.subscriber_id not in runtime.projections:
        return False
    return not runtime.topology.subscriber(str(person.subscriber_id)).inside_mash


def landing_path(runtime: ConsoleRuntime, person: Person | None) -> str:
    """Where signing in (or the start page, signed in) leads when no page was asked for."""
    if person is not None and person.subscriber_id is None:
        return GOVERNANCE  # the IG officer (settings.oversight_roles) reads no feed
    if partner_desk(runtime, person) is not None:
        return RESEARCH
    if _outside_mash(runtime, person):
        return SENT_TO_ME
    return QUEUE


def desk_nav(runtime: ConsoleRuntime, person: Person | None) -> dict[str, Any]:
    """For base.html's navigation: the open checks on a partner's desk (a count), and
    whether the person has a 'Sent to me' list."""
    desk = partner_desk(runtime, person)
    return {
        "research_open": None if desk is None else runtime.research.open_count(desk.subscriber_id),
        "sent_to_me_nav": _outside_mash(runtime, person),
    }
