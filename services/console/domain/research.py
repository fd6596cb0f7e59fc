"""Agency checks ("research"): the MASH manager asks a partner in the MASH (the health
navigator, the police researcher) to check their own agency's records on a contact; the
partner records what they found and their own RAG; the manager reads it before deciding.

DOMAIN.md, "How MASH triage works": contact arrives -> screened -> RAG -> partner agencies
research their own records -> manager decides. And "the MASH is a firewall: partner research
stays inside; only a sanitised outcome leaves". So a check and its findings:
- are asked only by a MASH decision maker (rule R2's roles), about a contact still awaiting a
  decision, and only of a partner whose own feed holds that contact with its content: the
  partner researches from what the sharing rules gave them, never from the manager's view.
  A partner whose feed holds nothing (or only a flag) is not offered, and the form says so
  without saying anything more about the contact;
- are seen only by the MASH decision makers and by the partner asked (a partner never sees a
  check addressed to another partner); they are never published to the bus, and the audit
  log holds ids, codes, the partner's RAG and digests of the text, never the text;
- are answered once, by a person whose feed is the asked partner's subscriber: two people at
  one partner desk cannot both answer (optimistic concurrency, as domain/screening.py); the
  one who lost is told who answered and when. "Nothing known" is an explicit answer, not a
  blank one: a manager must be able to tell "checked, nothing held" from "not checked".
- are due by the time the manager must decide (the contact's decision deadline,
  domain/deadlines.py): the MASH's timescale is for the whole screening, research included.
  Immediate danger is due now. A check asked after the deadline passed is due at once.

Pure: the store (services/console/research.py) reads and writes what these functions admit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.console.domain.deadlines import DueView, describe_due
from services.console.domain.decisions import FieldProblem
from services.console.domain.labels import RAG_LABELS, ROLE_LABELS, label
from services.console.domain.views.fields import when_text
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "MAX_FINDINGS",
    "MAX_QUESTION",
    "MIN_FINDINGS",
    "PARTNER_RAGS",
    "AlreadyAnswered",
    "Answered",
    "CheckState",
    "FindingsInput",
    "NotYours",
    "PartnerOffer",
    "ResearchCheck",
    "ResearchFindings",
    "ResearchPartner",
    "ResearchRequest",
    "Researcher",
    "admit_answer",
    "checks_for_partner",
    "partner_offers",
    "research_due",
    "research_partners",
    "validate_findings",
    "validate_request",
    "visible_to",
]

MAX_QUESTION = 500
MIN_FINDINGS = 10
MAX_FINDINGS = 4000
PARTNER_RAGS: tuple[str, ...] = ("RED", "AMBER", "GREEN")


@dataclass(frozen=True, slots=True)
class Researcher:
    """A named person at the console: identity provider subject and display name."""

    subject: str
    name: str


@dataclass(frozen=True, slots=True)
class ResearchPartner:
    """A partner desk inside the MASH that can be asked for checks: a served subscriber."""

    subscriber_id: str
    agency: str
    role: str

    @property
    def name(self) -> str:
        """'Health navigator', 'Police researcher': the desk, as the manager chooses it."""
        return label(ROLE_LABELS, self.role)


def research_partners(
    subscribers: Iterable[SubscriberEntry],
    *,
    decision_roles: frozenset[str],
    console_roles: Iterable[str],
) -> tuple[ResearchPartner, ...]:
    """The desks a manager may ask: subscribers inside the MASH whose people use this console
    and who do not decide (the decision makers read everything already). From the topology,
    so adding a partner desk is policy data, not code."""
    served = set(console_roles)
    return tuple(
        ResearchPartner(s.subscriber_id, s.agency, s.role)
        for s in subscribers
        if s.inside_mash and s.role in served and s.role not in decision_roles
    )


@dataclass(frozen=True, slots=True)
class ResearchRequest:
    request_id: str
    notice_id: str
    """The contact the check is about."""
    child_key: str
    """The contact's linkage key (as the manager's feed holds it): never shown, never in URLs."""
    partner: str
    """The subscriber id of the partner desk asked."""
    requested_by: Researcher
    requested_at: dt.datetime
    due_by: dt.datetime
    question: str | None = None
    """What the manager wants checked, if anything beyond "your agency's records"."""


@dataclass(frozen=True, slots=True)
class ResearchFindings:
    nothing_known: bool
    """An explicit "nothing known to my agency": checked, nothing held."""
    findings: str
    """What the partner's records hold (may be a short note when nothing is known)."""
    partner_rag: str | None
    """The partner's own RAG from their records: RED, AMBER, GREEN; None only with
    nothing known."""
    answered_by: Researcher
    answered_at: dt.datetime

    @property
    def rag_text(self) -> str:
        return "No RAG given" if self.partner_rag is None else label(RAG_LABELS, self.partner_rag)

    def text(self) -> str:
        what = "Nothing known" if self.nothing_known else "Information held"
        return (
            f"{what}, partner RAG {self.rag_text}: answered by {self.answered_by.name} "
            f"at {when_text(self.answered_at)}"
        )


class CheckState(StrEnum):
    REQUESTED = "requested"
    OVERDUE = "overdue"
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class ResearchCheck:
    """A request and its answer, if any."""

    request: ResearchRequest
    findings: ResearchFindings | None = None

    def state(self, now: dt.datetime) -> CheckState:
        if self.findings is not None:
            return CheckState.ANSWERED
        return CheckState.OVERDUE if now >= self.request.due_by else CheckState.REQUESTED

    def due(self, now: dt.datetime) -> DueView:
        return describe_due(self.request.due_by, now=now)

    def state_text(self, now: dt.datetime) -> str:
        """In words (never colour alone): 'Answered', 'Not answered: Overdue by 2h (was due
        08:00 today)', 'Requested: Due in 3h (by 13:00 today)'."""
        state = self.state(now)
        if state is CheckState.ANSWERED:
            return "Answered"
        due = self.due(now)
        if state is CheckState.OVERDUE:
            return f"Not answered: {due.text} (was due {due.when})"
        return f"Requested: {due.text} (by {due.when})"


def visible_to(check: ResearchCheck, *, subscriber_id: str | None, may_decide: bool) -> bool:
    """A check is the decision makers' and the asked partner's business only."""
    return may_decide or (subscriber_id is not None and subscriber_id == check.request.partner)


def checks_for_partner(
    checks: Iterable[ResearchCheck], subscriber_id: str, *, now: dt.datetime
) -> list[ResearchCheck]:
    """A partner's list: only checks addressed to their desk; open first (overdue, then by
    due time), then answered (latest first)."""
    mine = [c for c in checks if c.request.partner == subscriber_id]
    open_ = sorted(
        (c for c in mine if c.findings is None),
        key=lambda c: (c.request.due_by, c.request.requested_at, c.request.request_id),
    )
    answered = sorted(
        (c for c in mine if c.findings is not None),
        key=lambda c: (c.findings.answered_at if c.findings else now, c.request.request_id),
        reverse=True,
    )
    return open_ + answered


def research_due(
    *, decision_due: dt.datetime | None, requested_at: dt.datetime, fallback: dt.timedelta
) -> dt.datetime:
    """When a check is due: by the contact's decision deadline (immediate danger: its
    arrival, so now); never before it was asked (a late check is due at once). A contact
    with no deadline (not one this console times) gets `fallback` from the request."""
    if decision_due is None:
        return requested_at + fallback
    return max(decision_due, requested_at)


# Asking -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartnerOffer:
    """A partner desk on the request form: offered, or why not (without saying more)."""

    partner: ResearchPartner
    offered: bool
    already_asked: bool = False

    @property
    def reason(self) -> str | None:
        if self.already_asked:
            return "Already asked about this contact"
        if not self.offered:
            return (
                "Their feed does not hold this contact under the sharing rules, so they "
                "cannot be asked about it"
            )
        return None


def partner_offers(
    partners: Sequence[ResearchPartner],
    *,
    holds_contact: Mapping[str, bool],
    asked: Iterable[str],
) -> list[PartnerOffer]:
    """Each desk, offered only if its own feed holds the contact with content
    (`holds_contact`, worked out from that partner's projection by the edge)."""
    already = set(asked)
    return [
        PartnerOffer(
            p,
            offered=holds_contact.get(p.subscriber_id, False) and p.subscriber_id not in already,
            already_asked=p.subscriber_id in already,
        )
        for p in partners
    ]


def validate_request(
    fields: Mapping[str, Sequence[str]], *, offers: Sequence[PartnerOffer]
) -> tuple[list[str], str | None] | list[FieldProblem]:
    """The desks chosen (each one offered) and the optional question, or what is wrong.
    A desk not offered counts as not chosen: a tampered form cannot reach a partner whose
    feed does not hold the contact."""
    offered = [o.partner.subscriber_id for o in offers if o.offered]
    chosen = list(dict.fromkeys(v.strip() for v in fields.get("partner", ()) if v.strip()))
    problems: list[FieldProblem] = []
    if not chosen or not set(chosen) <= set(offered):
        problems.append(
            FieldProblem(
                "partner-0",
                "Choose at least one partner to ask"
                if not chosen
                else "Choose only partners the form offers",
            )
        )
    question = (fields.get("question") or [""])[0].strip()
    if len(question) > MAX_QUESTION:
        problems.append(
            FieldProblem("question", f"The question must be {MAX_QUESTION} characters or fewer")
        )
    if problems:
        return problems
    return chosen, question or None


# Answering ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindingsInput:
    nothing_known: bool
    findings: str
    partner_rag: str | None


def validate_findings(fields: Mapping[str, Sequence[str]]) -> FindingsInput | list[FieldProblem]:
    """An answer: "information held" needs findings and a RAG; "nothing known" is a choice
    of its own (a short note and a RAG are optional)."""
    held = (fields.get("held") or [""])[0]
    findings = (fields.get("findings") or [""])[0].strip()
    rag = (fields.get("partner_rag") or [""])[0].strip() or None
    problems: list[FieldProblem] = []
    if held not in ("information", "nothing"):
        problems.append(
            FieldProblem("held-information", "Choose whether your records hold anything")
        )
    nothing_known = held == "nothing"
    if held == "information" and len(findings) < MIN_FINDINGS:
        problems.append(
            FieldProblem(
                "findings",
                f"Enter what your agency's records hold (at least {MIN_FINDINGS} characters)",
            )
        )
    if len(findings) > MAX_FINDINGS:
        problems.append(
            FieldProblem("findings", f"Findings must be {MAX_FINDINGS} characters or fewer")
        )
    if rag is not None and rag not in PARTNER_RAGS:
        problems.append(FieldProblem("partner_rag-RED", "Choose Red, Amber or Green"))
    elif rag is None and held == "information":
        problems.append(
            FieldProblem("partner_rag-RED", "Choose your RAG rating from your agency's records")
        )
    if problems:
        return problems
    return FindingsInput(nothing_known, findings, rag)


@dataclass(frozen=True, slots=True)
class Answered:
    check: ResearchCheck


@dataclass(frozen=True, slots=True)
class AlreadyAnswered:
    """Someone at the desk answered first: nothing of this answer was recorded."""

    findings: ResearchFindings

    def message(self) -> str:
        return (
            f"Already answered by {self.findings.answered_by.name} at "
            f"{when_text(self.findings.answered_at)}. Your answer was not recorded; read "
            "theirs below and tell the MASH manager if you have something to add."
        )


class NotYours(StrEnum):
    """The check is not this person's to answer (or does not exist: the same answer)."""

    NOT_ADDRESSED = "not_addressed"


def admit_answer(
    check: ResearchCheck | None,
    answer: FindingsInput,
    *,
    subscriber_id: str | None,
    answerer: Researcher,
    at: dt.datetime,
) -> Answered | AlreadyAnswered | NotYours:
    """Whether this person's answer is recorded: only someone whose feed is the asked
    partner's subscriber, only once per check."""
    if check is None or subscriber_id is None or check.request.partner != subscriber_id:
        return NotYours.NOT_ADDRESSED
    if check.findings is not None:
        return AlreadyAnswered(check.findings)
    findings = ResearchFindings(
        nothing_known=answer.nothing_known,
        findings=answer.findings,
        partner_rag=answer.partner_rag,
        answered_by=answerer,
        answered_at=at,
    )
    return Answered(ResearchCheck(check.request, findings))
