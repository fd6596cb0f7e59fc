"""The demo's traffic: native agency records about the children of the synthetic population
(services/synthetic/population.py), in the order a MASH might receive them.

`PopulationTraffic(seed=, now=, run=)` draws a population and hands out its records one at a
time (`next()` -> `Sent`: the agency and its native document, with the ground truth that
tests read and the demo ignores), each written in the agency's native format
(services/synthetic/native.py) with the child's identifiers as that agency holds them
(`as_held`: police and charities usually without an NHS number, nicknames, typos, a
postcode from before a move, a sibling's NHS number now and then). So the same child comes
back through different agencies, and the child index has real linkage work to do: a demo
child's chronology is more than one card.

How it plays:
- A few children (OPEN_CHILDREN) are open at a time; each record is the next one of a
  randomly chosen open child, and a child whose records are all sent makes way for the next
  child of the population. Children come in family order, so siblings (and twins, the
  hardest false-match case) arrive close together.
- A child's records are dated across the past 90 days, oldest first (180 days for a
  frequently-missing child, so a quarter holds several of their episodes, rule R8).
- Missing episodes cluster in the population's frequently-missing minority (about 5% of
  children carry 8 to 30 police missing-person records each); every other child goes missing
  at most now and then (a police record that happens to be a one-off missing report).
- A record of a format that requires an identifier the agency's view lacks keeps the child's
  true value (see `as_held`); everything else is sent as held.

Shares, and why. SYNTHETIC-DATA NOTE: these are invented figures, chosen to be of the right
order when set against public national statistics for England (rounded, from memory of the
DfE "Characteristics of children in need" and "Children looked after" releases and the Home
Office NRM statistics); they are not measured from any real MASH and describe no real child.
- Police record kinds: vulnerability notices (PPN) 50%, domestic abuse incidents (DASH) 30%,
  missing person (one-off) 10%, graded intelligence 10%. PPNs are the bulk of police
  referrals to a MASH; domestic abuse is among the commonest factors at assessment.
- Children's services kinds: CIN referral 65%, section 47 event 25%, CP plan 6%, looked
  after 4%: roughly the national ratio of referrals (about 600,000 a year) to section 47
  enquiries (about 200,000), children starting a CP plan (about 45,000) and children starting
  to be looked after (about 30,000).
- Charity kinds: engagement 45%, concern 30%, return interview outcome 25% (60% of a
  frequently-missing child's charity records are return interviews: the LA commissions them
  after each episode, rule R7).
- NRM referrals: about 0.5% of records. Some 7,000 children a year are referred to the
  National Referral Mechanism in England and Wales, i.e. a few dozen per local authority,
  against thousands of MASH contacts. They go to children flagged for exploitation (15% of
  such a child's contacts at a first responder: police, children's services or a charity;
  NHS bodies are not NRM first responders), who make up a few per cent of records.
- Immediate danger: police 5%, children's services 4%, health 2%, charities 1% of records
  (about 4% overall). A MASH rates only a small minority of contacts as needing action
  within hours; police, who attend incidents, send the largest share. A record in immediate
  danger is HIGH risk; otherwise risk is LOW 40%, MEDIUM 45%, HIGH 15%.
- Exploitation flag: 50% of frequently-missing children, 4% of the others; looked after:
  40% of frequently-missing children, 3% of the others (children who go missing again and
  again are disproportionately looked after and exploited; about 0.7% of all children in
  England are looked after, more among those known to a MASH).
- School: a fifth of school-age children attend the academy registered as a subscriber in
  the policy bundle, so domestic abuse incidents reach a school (Operation Encompass, R9).

Deterministic for a seed and a `now`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from services.synthetic.native import (
    REGISTERED_SCHOOL_URN,
    NativeChild,
    NativeRecords,
    as_held,
    with_risk,
)
from services.synthetic.population import AgencyRecord, Child, population

__all__ = ["OPEN_CHILDREN", "PopulationTraffic", "Sent"]

OPEN_CHILDREN = 5
_AGENCY = {
    "police": "POLICE",
    "health": "HEALTH",
    "childrens_services": "CHILDRENS_SERVICES",
    "voluntary_sector": "VOLUNTARY_SECTOR",
}
_POLICE_KINDS = (("PPN", 50), ("DASH", 30), ("MISSING", 10), ("INTELLIGENCE", 10))
_CSC_KINDS = (("REFERRAL", 65), ("S47", 25), ("CP_PLAN", 6), ("LOOKED_AFTER", 4))
_VCS_KINDS = (("ENGAGEMENT", 45), ("CONCERN", 30), ("RETURN_INTERVIEW_OUTCOME", 25))
_RETURN_INTERVIEW_WHEN_MISSING = 0.60
_NRM_WHEN_FLAGGED = 0.15
_IMMEDIATE_DANGER = {
    "POLICE": 0.05,
    "CHILDRENS_SERVICES": 0.04,
    "HEALTH": 0.02,
    "VOLUNTARY_SECTOR": 0.01,
}
_RISK_LEVELS = (("LOW", 40), ("MEDIUM", 45), ("HIGH", 15))
_FLAGGED = {True: 0.50, False: 0.04}  # by frequently missing
_LOOKED_AFTER = {True: 0.40, False: 0.03}
_REGISTERED_SCHOOL = 0.20
_SPAN_DAYS = {True: 180, False: 90}


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


@dataclass(frozen=True, slots=True)
class Sent:
    """One native record and whom it is truly about (ground truth: never sent)."""

    agency: str
    document: dict[str, Any]
    child_id: int
    population: int  # which population the child is from (a fresh one when one runs out)
    held: AgencyRecord


@dataclass(slots=True)
class _OpenChild:
    population: int
    child: NativeChild
    frequently_missing: bool
    due: list[tuple[dt.datetime, AgencyRecord]]  # still to send, oldest first
    missing_starts: list[dt.datetime] = field(default_factory=list)


class PopulationTraffic:
    """Native records about the population's children, one `next()` at a time."""

    def __init__(self, *, seed: int, now: dt.datetime, run: str = "", children: int = 2000) -> None:
        self._seed = seed
        self._now = now
        self._size = children
        self._rng = random.Random(seed)
        self._native = NativeRecords(seed=seed, now=now, run=run)
        self._generation = 0
        self._waiting: list[tuple[Child, list[AgencyRecord]]] = []
        self._open: list[_OpenChild] = []

    def next(self) -> Sent:
        while len(self._open) < OPEN_CHILDREN:
            self._open.append(self._admit())
        at = self._rng.randrange(len(self._open))
        child = self._open[at]
        when, held = child.due.pop(0)
        if not child.due:
            del self._open[at]
        agency, document = self._render(child, when, held)
        return Sent(agency, document, held.child_id, child.population, held)

    # ---- children -----------------------------------------------------------------------
    def _admit(self) -> _OpenChild:
        if not self._waiting:
            # A fresh population when one runs out (a demo left running for a day or more).
            people = population(children=self._size, seed=self._seed + self._generation)
            self._generation += 1
            by_child: dict[int, list[AgencyRecord]] = {}
            for record in people.records:
                by_child.setdefault(record.child_id, []).append(record)
            self._waiting = [(c, by_child[c.child_id]) for c in people.children]
            self._waiting.reverse()  # popped from the end: population order
        truth, records = self._waiting.pop()
        rng = self._rng
        frequent = truth.frequently_missing
        age = (self._now.date() - truth.date_of_birth).days // 365
        child = NativeChild(
            given_name=truth.given_name,
            family_name=truth.family_name,
            date_of_birth=truth.date_of_birth,
            postcode=truth.postcode,
            nhs_number=truth.nhs_number,
            # Children's services give every child they hold an LAchildID; one the population
            # did not give the child is made here, unique to it.
            la_child_id=truth.la_child_id or f"LAD{self._generation:02d}{truth.child_id:05d}",
            upn=truth.upn or "",  # written only as held (`as_held`)
            school_urn=REGISTERED_SCHOOL_URN
            if age >= 4 and rng.random() < _REGISTERED_SCHOOL
            else f"999{rng.randrange(999):03d}",
            looked_after=rng.random() < _LOOKED_AFTER[frequent],
            exploitation_flagged=rng.random() < _FLAGGED[frequent],
            sex=truth.sex,
        )
        span = dt.timedelta(days=_SPAN_DAYS[frequent])
        times = sorted(
            self._now - dt.timedelta(seconds=rng.randrange(600, int(span.total_seconds())))
            for _ in records
        )
        return _OpenChild(self._generation, child, frequent, list(zip(times, records, strict=True)))

    # ---- records ------------------------------------------------------------------------
    def _render(
        self, open_child: _OpenChild, at: dt.datetime, held: AgencyRecord
    ) -> tuple[str, dict[str, Any]]:
        agency = _AGENCY[held.agency]
        child, rng, native = open_child.child, self._rng, self._native
        nrm = (
            agency != "HEALTH"
            and held.event == "contact"
            and child.exploitation_flagged
            and rng.random() < _NRM_WHEN_FLAGGED
        )
        document: dict[str, Any]
        if agency == "POLICE":
            kind = "MISSING" if held.event == "missing_episode" else _pick(rng, _POLICE_KINDS)
            if nrm:
                document = native.police_nrm_referral(child, at=at)
            elif kind == "MISSING":
                document = self._missing(open_child, at)
            elif kind == "PPN":
                document = native.police_ppn(child, at=at)
            elif kind == "DASH":
                document = native.police_dash(child, at=at)
            else:
                document = native.police_intelligence(child, legacy=rng.random() < 0.3, at=at)
        elif agency == "HEALTH":
            document = native.health_bundle(child, seen_at=at)
        elif agency == "CHILDRENS_SERVICES":
            kind = _pick(rng, _CSC_KINDS)
            if nrm:
                document = native.csc_nrm_referral(child, at=at)
            elif kind == "REFERRAL":
                document = native.csc_referral(child, at=at)
            elif kind == "S47":
                document = native.csc_s47(child, at=at)
            elif kind == "CP_PLAN":
                document = native.csc_cp_plan(child, at=at)
            else:
                document = native.csc_looked_after(child, at=at)
        else:
            if nrm:
                kind = "NRM_REFERRAL"
            elif open_child.frequently_missing and rng.random() < _RETURN_INTERVIEW_WHEN_MISSING:
                kind = "RETURN_INTERVIEW_OUTCOME"
            else:
                kind = _pick(rng, _VCS_KINDS)
            document = native.vcs_update(child, kind=kind, at=at)
        danger = rng.random() < _IMMEDIATE_DANGER[agency]
        level = "HIGH" if danger else _pick(rng, _RISK_LEVELS)
        document = with_risk(
            agency, as_held(agency, document, held), level=level, immediate_danger=danger
        )
        return agency, document

    def _missing(self, open_child: _OpenChild, back: dt.datetime) -> dict[str, Any]:
        since = back - dt.timedelta(hours=self._rng.randrange(2, 40))
        open_child.missing_starts.append(since)
        window = since - dt.timedelta(days=90)
        episodes = sum(1 for s in open_child.missing_starts if window <= s <= since)
        return self._native.police_missing(
            open_child.child,
            status="RETURNED",
            missing_since=since,
            found_or_returned_at=back,
            episodes_last_90_days=episodes,
        )
