"""A triage decision: checking the form, and the MASH_DECISION notice it becomes.

Validation rules (each error names the form field, for the page's error summary):
- RAG is Red, Amber or Green; the outcome is one of the MASH outcomes;
- a rationale of at least MIN_RATIONALE characters (golden rule 7: record the reasons);
- early help needs the family's recorded agreement (R11); s47 and immediate protection do
  not, and for other outcomes the box means nothing, so it is stored as unticked;
- agreed early help names the organisation of the early help lead professional: the hub
  routes early help ONLY to that organisation (route by relationship, never by role), so
  without it the child would be routed nowhere. The choices are the policy's early help
  subscribers; with none configured it is a typed organisation code;
- whether the family has been told, and why not when they have not (golden rule 2);
- the decision covers at least one of the child's notices the decider can see.

The notice is built here, purely, and published through the hub by the edge, so the
gateway checks and audits it like every other notice. It names the organisations whose
contacts it answers (`referring_organisations`), so each referrer hears the outcome
(DOMAIN.md: "the referrer is told the MASH decision (outcome only)"); the policy decides
what they see.

It reuses the shared ingest helpers (`to_utc`, `concern`) and the hub's deterministic
`notice_id_for`, but not `build_notice`: its MappingContext carries the hub's linkage keyer,
and the console must not hold the linkage secret (with it, anyone could re-identify a child
from guessed names). The subject arrives already keyed in the feed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.console.domain.feed import FeedEntry, merged_subject
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS
from services.console.errors import ChildNotIdentifiable
from services.hubkit.notice import concern, notice_id_for, to_utc
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "AMENDMENT_MARK",
    "MAX_ACTIONS",
    "MAX_RATIONALE",
    "MIN_RATIONALE",
    "AmendmentOf",
    "DecisionInput",
    "DecisionOrigin",
    "EarlyHelpChoice",
    "FieldProblem",
    "decision_record",
    "early_help_choices",
    "mash_decision_notice",
    "referring_organisations",
    "validate_decision",
]

MIN_RATIONALE = 20
MAX_RATIONALE = 4000
MAX_ACTIONS = 20
MAX_ACTION_LENGTH = 200
_RAG_TO_RISK = {"RED": "HIGH", "AMBER": "MEDIUM", "GREEN": "LOW"}
# A typed organisation code must match the policy data exactly to route anywhere, so a name
# or a sentence typed in its place is refused rather than sent to no one.
_ORGANISATION_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{1,63}")
EARLY_HELP_FIELD = "early_help_organisation"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    """The form control's id, so the error summary can link to it."""
    message: str


@dataclass(frozen=True, slots=True)
class DecisionInput:
    rag: str
    outcome: str
    rationale: str
    family_agreement: bool
    family_informed: bool
    family_not_informed_reason: str | None
    related_notice_ids: tuple[str, ...]
    agreed_actions: tuple[str, ...]
    early_help_organisation: str | None = None
    """The early help lead professional's organisation code; only for agreed early help."""


@dataclass(frozen=True, slots=True)
class EarlyHelpChoice:
    organisation: str
    """The organisation code the policy routes early help to (subscribers data)."""
    text: str


def early_help_choices(
    subscribers: Iterable[SubscriberEntry], roles: Iterable[str]
) -> tuple[EarlyHelpChoice, ...]:
    """One choice per organisation with an early help subscriber (`roles`, rule R10's
    early_help_roles): the organisations the hub can route early help to."""
    wanted = frozenset(roles)
    choices: dict[str, EarlyHelpChoice] = {}
    for sub in sorted(subscribers, key=lambda s: (s.organisation, s.subscriber_id)):
        if sub.role in wanted and sub.organisation not in choices:
            text = f"{sub.contact} ({sub.organisation})" if sub.contact else sub.organisation
            choices[sub.organisation] = EarlyHelpChoice(sub.organisation, text)
    return tuple(choices.values())


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or ()
    return values[0].strip() if values else ""


def _early_help_problem(
    organisation: str, choices: Sequence[EarlyHelpChoice]
) -> FieldProblem | None:
    if choices:
        if organisation in {c.organisation for c in choices}:
            return None
        return FieldProblem(
            EARLY_HELP_FIELD,
            "Select the early help organisation: early help goes only to the organisation "
            "you choose",
        )
    if not organisation:
        return FieldProblem(
            EARLY_HELP_FIELD,
            "Enter the organisation code of the early help lead professional: early help "
            "goes only to that organisation",
        )
    if not _ORGANISATION_CODE.fullmatch(organisation):
        return FieldProblem(
            EARLY_HELP_FIELD,
            "Enter the early help organisation as its code, for example VCS-SYN002 "
            "(letters, numbers and hyphens), not its name",
        )
    return None


def validate_decision(
    form: Mapping[str, Sequence[str]],
    *,
    decidable: Sequence[str],
    early_help: Sequence[EarlyHelpChoice] = (),
) -> DecisionInput | list[FieldProblem]:
    """The decision, or every problem with the form (not just the first). `early_help` are
    the organisations early help can be routed to; with none, the form asks for a code."""
    problems: list[FieldProblem] = []
    rag = _one(form, "rag")
    if rag not in RAG_LABELS:
        problems.append(FieldProblem("rag-red", "Select a RAG rating"))
    outcome = _one(form, "outcome")
    if outcome not in MASH_OUTCOME_LABELS:
        problems.append(FieldProblem("outcome-nfa", "Select an outcome"))
    rationale = _one(form, "rationale")
    if len(rationale) < MIN_RATIONALE:
        problems.append(
            FieldProblem(
                "rationale",
                f"Enter the rationale for the decision (at least {MIN_RATIONALE} characters)",
            )
        )
    elif len(rationale) > MAX_RATIONALE:
        problems.append(
            FieldProblem("rationale", f"Rationale must be {MAX_RATIONALE} characters or fewer")
        )
    agreed = _one(form, "family_agreement") == "yes"
    if outcome == "EARLY_HELP" and not agreed:
        problems.append(
            FieldProblem(
                "family_agreement",
                "Early help needs the family's agreement: tick the box to confirm they agreed, "
                "or choose another outcome",
            )
        )
    early_help_organisation = _one(form, EARLY_HELP_FIELD)
    routed = outcome == "EARLY_HELP" and agreed
    if routed:
        problem = _early_help_problem(early_help_organisation, early_help)
        if problem is not None:
            problems.append(problem)
    informed_answer = _one(form, "family_informed")
    reason = _one(form, "family_not_informed_reason")
    if informed_answer not in ("yes", "no"):
        problems.append(
            FieldProblem("family_informed-yes", "Select whether the family has been told")
        )
    elif informed_answer == "no" and not reason:
        problems.append(
            FieldProblem("family_not_informed_reason", "Enter why the family has not been told")
        )
    related = tuple(dict.fromkeys(v.strip() for v in form.get("related", ()) if v.strip()))
    allowed = set(decidable)
    if not related:
        problems.append(
            FieldProblem("related-0", "Select at least one notice this decision covers")
        )
    elif not set(related) <= allowed:
        problems.append(
            FieldProblem("related-0", "A selected notice is no longer awaiting a decision")
        )
    actions = tuple(
        line.strip() for line in _one(form, "agreed_actions").splitlines() if line.strip()
    )
    if len(actions) > MAX_ACTIONS or any(len(a) > MAX_ACTION_LENGTH for a in actions):
        problems.append(
            FieldProblem(
                "agreed_actions",
                f"Enter at most {MAX_ACTIONS} actions, one per line, each under "
                f"{MAX_ACTION_LENGTH} characters",
            )
        )
    if problems:
        return problems
    return DecisionInput(
        rag=rag,
        outcome=outcome,
        rationale=rationale,
        family_agreement=agreed and outcome == "EARLY_HELP",
        family_informed=informed_answer == "yes",
        family_not_informed_reason=None if informed_answer == "yes" else reason,
        related_notice_ids=related,
        agreed_actions=actions,
        # Like the agreement box, the choice means nothing for another outcome.
        early_help_organisation=early_help_organisation if routed else None,
    )


@dataclass(frozen=True, slots=True)
class DecisionOrigin:
    """Who publishes decisions: the MASH as an agency (policies/safehub/agencies/data.json)."""

    agency: str
    organisation_code: str
    contact_role: str
    contact_organisation: str
    contact_telephone: str
    contact_email: str | None = None


def _subject(entries: Sequence[FeedEntry], linkage_key: str) -> dict[str, Any] | None:
    """The Subject record for the decision, from what the decider saw of the child."""
    known = merged_subject(list(entries))
    if not known.get("given_name") or not known.get("family_name"):
        return None
    dob = known.get("date_of_birth")
    return {
        "linkage_key": linkage_key,
        "nhs_number": known.get("nhs_number"),
        "la_child_id": known.get("la_child_id"),
        "upn": known.get("upn"),
        "given_name": str(known["given_name"]),
        "family_name": str(known["family_name"]),
        "date_of_birth": dt.date.fromisoformat(dob) if isinstance(dob, str) else None,
        "age_years": known.get("age_years") if isinstance(known.get("age_years"), int) else None,
        "postcode_district": known.get("postcode_district"),
        "looked_after": known.get("looked_after") is True,
        "responsible_la": known.get("responsible_la"),
        "placing_la": known.get("placing_la"),
        "exploitation_flagged": known.get("exploitation_flagged") is True,
    }


def _source_organisation(entry: FeedEntry) -> str | None:
    source = entry.view.get("source")
    code = source.get("organisation_code") if isinstance(source, Mapping) else None
    return code if isinstance(code, str) and code else None


def referring_organisations(
    related: Iterable[FeedEntry], *, origin: DecisionOrigin
) -> list[str] | None:
    """Who referred the contacts a decision answers, as the decider saw them: each related
    notice's source organisation code, without the MASH itself (it does not need feedback on
    its own decision). Only codes the decider could see: a withheld source is not guessed
    from the agency type, which would route feedback by role instead of by relationship.
    None when no referrer is known, as the schema says."""
    codes = {
        code
        for entry in related
        if entry.source_agency != origin.agency
        and (code := _source_organisation(entry)) is not None
        and code != origin.organisation_code
    }
    return sorted(codes) or None


@dataclass(frozen=True, slots=True)
class AmendmentOf:
    """The decision an amendment replaces, and why it is amended."""

    decision_id: str
    decided_by_name: str
    decided_at: dt.datetime
    reason: str


AMENDMENT_MARK = "AMENDMENT"
"""Opens the record of an amending decision. The notice schema has no field naming the
decision an amendment replaces, so the record (narrative.full_account) says it, in words a
reader and a search can both find."""


def _utc_text(at: dt.datetime) -> str:
    return f"{to_utc(at):%Y-%m-%d %H:%M} UTC"


def decision_record(
    *,
    decided_by_name: str,
    decided_by_role: str,
    decided_at: dt.datetime,
    amends: AmendmentOf | None = None,
) -> str:
    """Who decided, by name, and for an amendment which decision it amends and why: the
    notice's narrative.full_account, which stays inside the MASH (rule R2's firewall)."""
    record = f"Decided by {decided_by_name} ({decided_by_role}) at {_utc_text(decided_at)}."
    if amends is None:
        return record
    return (
        f"{AMENDMENT_MARK}: this decision amends MASH decision {amends.decision_id}, decided "
        f"by {amends.decided_by_name} at {_utc_text(amends.decided_at)}, and replaces it. "
        f"Reason for the amendment: {amends.reason}\n{record}"
    )


def mash_decision_notice(
    decision: DecisionInput,
    *,
    child_entries: Sequence[FeedEntry],
    origin: DecisionOrigin,
    decided_by_role: str,
    source_reference: str,
    now: dt.datetime,
    linkage_key: str | None = None,
    decided_by_name: str | None = None,
    amends: AmendmentOf | None = None,
) -> dict[str, Any]:
    """The MASH_DECISION notice in the Avro record shape (SafeguardingNotice). It is keyed
    by `linkage_key`, the key the child index keeps for a child merged from several (default:
    the key of the first notice). With `decided_by_name` the record names the decider; with
    `amends` it says which decision it amends and why (`decision_record`)."""
    if not child_entries:
        raise ChildNotIdentifiable("a decision needs at least one notice about the child")
    subject = _subject(child_entries, linkage_key or child_entries[0].linkage_key)
    if subject is None:
        raise ChildNotIdentifiable("the child's name is not visible to the decider")
    related = [e for e in child_entries if e.notice_id in decision.related_notice_ids]
    concerns: dict[str, dict[str, Any]] = {}
    for entry in related:
        for c in entry.concerns:
            concerns.setdefault(c.code, concern(c.code, c.census_factor))
    outcome_text = MASH_OUTCOME_LABELS[decision.outcome]
    early_help = decision.outcome == "EARLY_HELP"
    return {
        "notice_id": notice_id_for(
            agency=origin.agency,
            organisation_code=origin.organisation_code,
            source_reference=source_reference,
        ),
        "notice_type": "MASH_DECISION",
        "source": {
            "agency": origin.agency,
            "organisation_code": origin.organisation_code,
            "source_reference": source_reference,
            "source_system": "safehub MASH console",
        },
        "created_at": to_utc(now),
        "subject": subject,
        "concerns": list(concerns.values()),
        "risk": {
            "level": _RAG_TO_RISK[decision.rag],
            "immediate_danger": decision.outcome == "IMMEDIATE_PROTECTION",
        },
        "narrative": {
            "summary": f"MASH decision{' (amends an earlier decision)' if amends else ''}: "
            f"{outcome_text}, RAG {RAG_LABELS[decision.rag]}.",
            "full_account": None
            if decided_by_name is None
            else decision_record(
                decided_by_name=decided_by_name,
                decided_by_role=decided_by_role,
                decided_at=now,
                amends=amends,
            ),
            "sensitivity": "SENSITIVE",
        },
        "classification": "OFFICIAL_SENSITIVE",
        "intelligence_grading": None,
        # Early help rests on the family's agreement; every other outcome is made under the
        # MASH's safeguarding duties, where consent is not the basis (DfE golden rule 3).
        "consent": {"status": "GIVEN", "reason_not_sought": None}
        if early_help
        else {
            "status": "NOT_REQUIRED",
            "reason_not_sought": "A MASH safeguarding decision (Children Act 2004 s10 and "
            "s11); consent is not the basis for sharing it.",
        },
        "family_informed": {
            "informed": decision.family_informed,
            "reason_not_informed": decision.family_not_informed_reason,
        },
        "referrer": None,
        "third_parties": [],
        "contact_point": {
            "role": origin.contact_role,
            "organisation": origin.contact_organisation,
            "telephone": origin.contact_telephone,
            "secure_email": origin.contact_email,
        },
        "detail": {
            "rag": decision.rag,
            "outcome": decision.outcome,
            "rationale": decision.rationale,
            "family_agreement": decision.family_agreement,
            "decided_by_role": decided_by_role,
            "related_notice_ids": list(decision.related_notice_ids),
            "agreed_actions": list(decision.agreed_actions),
            "referring_organisations": referring_organisations(related, origin=origin),
            "early_help_organisation": decision.early_help_organisation if early_help else None,
        },
    }
