"""Who is screening a contact, and who decided it: the rules that make a contact decided once.

A contact is a notice awaiting a MASH decision. Two managers on one queue must not decide
the same contact twice, and a person going back to a form must not either (issue 16).

- Allocation: a decision maker takes a contact ("being screened by <name>"). Taking one that
  someone else holds is refused unless the taker may reassign (the MASH manager); so is
  releasing someone else's. A decided contact is no longer taken: its decision says who.
  Allocation is a courtesy that tells colleagues who is on it; it does not stop a decision
  (a manager covering an absent colleague decides without asking them first). What stops a
  second decision is the next rule.
- One decision per contact, by optimistic concurrency: every contact has a version, the
  number of decisions recorded on it (0: never decided). A decision form carries the version
  of each contact it was rendered at; a decision is admitted only if every contact it covers
  is still undecided at that version. A form that lost the race records nothing and
  publishes nothing; the person is told who decided each contact and when.
- Amendment: a new decision that names the decision it amends and why (a reason is
  required). It is admitted only if the decision it amends is still the current one on every
  contact (nobody amended it since the form was rendered).
- A resubmitted form (the same single-use form token: double click, back button) is the
  decision already recorded, never a second one.

Pure: the store (services/console/screening.py) reads the current states and writes what
these functions admit, inside one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS, label
from services.console.domain.views.fields import when_text

__all__ = [
    "MAX_AMEND_REASON",
    "MIN_AMEND_REASON",
    "Admitted",
    "Allocation",
    "AllocationRefused",
    "AlreadyRecorded",
    "ContactState",
    "DecidedSince",
    "LostRace",
    "RecordedDecision",
    "Screener",
    "admit_decision",
    "amendment_reason_problem",
    "assign",
    "decided_since",
    "parse_versions",
    "release",
    "take",
    "version_field",
]

MIN_AMEND_REASON = 10
MAX_AMEND_REASON = 1000


@dataclass(frozen=True, slots=True)
class Screener:
    """A named person at the console: their identity provider subject and display name."""

    subject: str
    name: str


@dataclass(frozen=True, slots=True)
class Allocation:
    screener: Screener
    taken_at: dt.datetime
    assigned_by: Screener | None = None
    """The manager who gave the contact to `screener`; None when they took it themselves."""

    def text(self) -> str:
        by = (
            f", given to them by {self.assigned_by.name}"
            if self.assigned_by is not None and self.assigned_by.subject != self.screener.subject
            else ""
        )
        return f"Being screened by {self.screener.name}{by} (since {when_text(self.taken_at)})"


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """A decision as the console recorded it: who (by name), when, what, on which contacts."""

    decision_id: str
    """The MASH_DECISION notice's id: the decision as the hub knows it."""
    form_token: str
    decided_by: Screener
    decided_by_role: str
    decided_at: dt.datetime
    outcome: str
    rag: str
    covers: tuple[str, ...]
    """The contacts (notice ids) it decides."""
    amends: str | None = None
    """The decision id of the decision this one amends; None for a first decision."""
    amend_reason: str | None = None
    sent_at: dt.datetime | None = None
    """When the hub acknowledged the notice; None until then (the person sends it again)."""
    child_key: str | None = None
    """The linkage key of the child it was decided from (the console's ledger seals the
    amendment reason under that child's key); None once the child is erased."""

    @property
    def outcome_text(self) -> str:
        return f"{label(MASH_OUTCOME_LABELS, self.outcome)}, RAG {label(RAG_LABELS, self.rag)}"

    def text(self) -> str:
        """'Decided by <name> at <time>: <outcome>', or 'Amended by ...' for an amendment."""
        verb = "Amended" if self.amends else "Decided"
        return (
            f"{verb} by {self.decided_by.name} at {when_text(self.decided_at)}: {self.outcome_text}"
        )


@dataclass(frozen=True, slots=True)
class ContactState:
    notice_id: str
    version: int = 0
    """How many decisions are recorded on the contact (0: never decided)."""
    allocation: Allocation | None = None
    decision: RecordedDecision | None = None
    """The current decision: the latest amendment, or the first decision."""


# Allocation ---------------------------------------------------------------------------


class AllocationRefused(StrEnum):
    DECIDED = "decided"
    HELD_BY_ANOTHER = "held_by_another"
    NOT_HELD = "not_held"
    MAY_NOT_ASSIGN = "may_not_assign"
    NOT_A_DECISION_MAKER = "not_a_decision_maker"

    def message(self, state: ContactState) -> str:
        if self is AllocationRefused.DECIDED and state.decision is not None:
            return f"This contact has been decided. {state.decision.text()}."
        if self is AllocationRefused.HELD_BY_ANOTHER and state.allocation is not None:
            return (
                f"{state.allocation.text()}. Only a MASH manager can take it from them; "
                "ask them, or ask a manager to reassign it."
            )
        if self is AllocationRefused.MAY_NOT_ASSIGN:
            return "Only a MASH manager can give a contact to a colleague."
        if self is AllocationRefused.NOT_A_DECISION_MAKER:
            return (
                "That colleague cannot screen contacts here (not a MASH decision maker, or not "
                "signed in to this console yet). Nothing was changed."
            )
        return "Nobody is screening this contact."


def assign(
    state: ContactState, *, to: Screener, by: Screener, at: dt.datetime, may_reassign: bool
) -> Allocation | AllocationRefused:
    """The contact given to colleague `to` by `by`: a manager (`may_reassign`) only, and
    whoever holds it now (a manager may take over anyone's). Giving it to oneself is taking
    it. Whether `to` may screen contacts at all is the caller's to check (the directory of
    colleagues, services/console/colleagues.py)."""
    if to.subject == by.subject:
        return take(state, screener=by, at=at, may_reassign=may_reassign)
    if not may_reassign:
        return AllocationRefused.MAY_NOT_ASSIGN
    if state.decision is not None:
        return AllocationRefused.DECIDED
    held = state.allocation
    if held is not None and held.screener.subject == to.subject:
        return held
    return Allocation(to, at, assigned_by=by)


def take(
    state: ContactState, *, screener: Screener, at: dt.datetime, may_reassign: bool
) -> Allocation | AllocationRefused:
    """The contact taken by `screener`; a manager (`may_reassign`) may take it from someone
    else. Taking a contact one already holds keeps the original time."""
    if state.decision is not None:
        return AllocationRefused.DECIDED
    held = state.allocation
    if held is not None and held.screener.subject == screener.subject:
        return held
    if held is not None and not may_reassign:
        return AllocationRefused.HELD_BY_ANOTHER
    return Allocation(screener, at)


def release(
    state: ContactState, *, screener: Screener, may_reassign: bool
) -> AllocationRefused | None:
    """None when `screener` may release the contact (their own, or anyone's for a manager)."""
    held = state.allocation
    if held is None:
        return AllocationRefused.NOT_HELD
    if held.screener.subject != screener.subject and not may_reassign:
        return AllocationRefused.HELD_BY_ANOTHER
    return None


# Decisions ----------------------------------------------------------------------------


def version_field(notice_id: str, version: int) -> str:
    """One contact's version as the form carries it (`name="version"`, repeated)."""
    return f"{notice_id}:{version}"


def parse_versions(values: Iterable[str]) -> dict[str, int]:
    """The versions a form carries; anything malformed is left out (a contact without a
    version can then only be decided while nobody has decided it)."""
    versions: dict[str, int] = {}
    for value in values:
        notice_id, _, number = value.strip().rpartition(":")
        if notice_id and number.isdigit():
            versions[notice_id] = int(number)
    return versions


@dataclass(frozen=True, slots=True)
class Admitted:
    decision: RecordedDecision
    versions: Mapping[str, int]
    """Each covered contact's version after this decision."""


@dataclass(frozen=True, slots=True)
class AlreadyRecorded:
    """The form was submitted before: its decision, as recorded then."""

    decision: RecordedDecision


@dataclass(frozen=True, slots=True)
class DecidedSince:
    notice_id: str
    decision: RecordedDecision | None
    """Who decided it since the form was rendered; None if that is not known here."""


@dataclass(frozen=True, slots=True)
class LostRace:
    """Someone decided (or amended) first: nothing of this form is recorded or published."""

    contacts: tuple[DecidedSince, ...]

    def message(self) -> str:
        deciders = dict.fromkeys(c.decision.text() for c in self.contacts if c.decision)
        said = " ".join(f"{text}." for text in deciders) or "It was decided by someone else."
        return (
            f"Already decided: someone recorded a decision on this contact after you opened "
            f"the form. {said} Your decision was not recorded or sent."
        )


def decided_since(
    covers: Iterable[str], *, current: Mapping[str, ContactState], rendered: Mapping[str, int]
) -> LostRace | None:
    """For a first decision: the contacts someone decided since the form was rendered (or
    before, if the form did not see it), or None when every one is still undecided."""
    lost = []
    for notice_id in covers:
        state = current.get(notice_id) or ContactState(notice_id)
        if state.version != 0 or state.decision is not None or rendered.get(notice_id, 0):
            lost.append(DecidedSince(notice_id, state.decision))
    return LostRace(tuple(lost)) if lost else None


def admit_decision(
    proposed: RecordedDecision,
    *,
    current: Mapping[str, ContactState],
    rendered: Mapping[str, int],
    same_form: RecordedDecision | None,
) -> Admitted | AlreadyRecorded | LostRace:
    """Whether `proposed` may be recorded. `current` holds the covered contacts' states now
    (a contact missing from it was never decided), `rendered` the versions the form was
    rendered at, `same_form` the decision already recorded from this form token, if any."""
    if same_form is not None:
        return AlreadyRecorded(same_form)
    if proposed.amends is None:
        lost = decided_since(proposed.covers, current=current, rendered=rendered)
        if lost is not None:
            return lost
    else:
        amended_since = [
            DecidedSince(notice_id, state.decision)
            for notice_id in proposed.covers
            if (state := current.get(notice_id) or ContactState(notice_id)).decision is None
            or state.decision.decision_id != proposed.amends
            or rendered.get(notice_id) != state.version
        ]
        if amended_since:
            return LostRace(tuple(amended_since))
    versions = {
        notice_id: (current.get(notice_id) or ContactState(notice_id)).version + 1
        for notice_id in proposed.covers
    }
    return Admitted(proposed, versions)


def amendment_reason_problem(reason: str) -> str | None:
    """Why an amendment's reason is not acceptable, or None."""
    if len(reason.strip()) < MIN_AMEND_REASON:
        return (
            f"Enter the reason for amending the decision (at least {MIN_AMEND_REASON} "
            "characters): it is published with the amendment"
        )
    if len(reason) > MAX_AMEND_REASON:
        return f"The reason must be {MAX_AMEND_REASON} characters or fewer"
    return None
