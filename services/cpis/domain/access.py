"""A lookup: who asked, what they are shown, and what is recorded. Pure.

Every lookup by an authenticated person is recorded (`Access`), with an outcome:

    HIT       a plan is held: the clinician sees the CP-IS minimum, the access joins the
              child's access history and the LA that owns each plan is notified
    MISS      no plan is held: a 404 that says nothing; recorded without the NHS number
              (CP-IS records accesses to children with a plan; keeping the numbers of
              children without one would build a register of everyone looked up), and
              nobody is notified
    REFUSED   the person is not an unscheduled care clinician: 403; recorded without the
              NHS number (the request was not processed)

What a clinician sees (`CpisRecord`) is the CP-IS minimum only: for each plan held, the plan
type, its start and end dates and the responsible LA's contact; and the last
`ACCESS_HISTORY` accesses to the child (when, in which setting, by which organisation; never
who: the clinician's identity stays in the access record, for accountability, and is never
shown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.cpis.domain.register import Plan, PlanType
from services.cpis.domain.requests import UnscheduledSetting

__all__ = [
    "ACCESS_HISTORY",
    "Access",
    "AccessEntry",
    "AccessOutcome",
    "CpisRecord",
    "PlanView",
    "cpis_record",
]

ACCESS_HISTORY = 25


class AccessOutcome(StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    REFUSED = "REFUSED"


@dataclass(frozen=True, slots=True)
class Access:
    """One lookup, as recorded. `setting` is None for a refusal (the request was not read)."""

    access_id: str
    at: dt.datetime
    actor: str
    """The person's opaque token subject: accountability, never shown to clinicians."""
    organisation: str | None
    setting: UnscheduledSetting | None
    outcome: AccessOutcome


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One line of a child's access history, as a clinician sees it."""

    at: dt.datetime
    setting: str
    organisation: str
    organisation_name: str | None


@dataclass(frozen=True, slots=True)
class PlanView:
    plan_type: PlanType
    start: dt.date
    end: dt.date | None
    responsible_la_contact: str


@dataclass(frozen=True, slots=True)
class CpisRecord:
    nhs_number: str
    plans: tuple[PlanView, ...]
    accesses: tuple[AccessEntry, ...]


def cpis_record(
    *,
    nhs_number: str,
    held: Sequence[Plan],
    accesses: Iterable[tuple[dt.datetime, str, str]],
    organisation_names: Mapping[str, str],
) -> CpisRecord:
    """What the clinician is shown. `held` is `held_plans(...)`; `accesses` are (when,
    setting, organisation code) rows, any order: the newest ACCESS_HISTORY are kept."""
    newest = sorted(accesses, key=lambda row: row[0], reverse=True)[:ACCESS_HISTORY]
    return CpisRecord(
        nhs_number=nhs_number,
        plans=tuple(
            PlanView(
                plan_type=p.plan_type,
                start=p.start,
                end=p.end,
                responsible_la_contact=p.la_contact,
            )
            for p in held
        ),
        accesses=tuple(
            AccessEntry(
                at=at,
                setting=setting,
                organisation=organisation,
                organisation_name=organisation_names.get(organisation),
            )
            for at, setting, organisation in newest
        ),
    )
