"""A triage decision: checking the form, and the MASH_DECISION notice it becomes.

Validation rules (each error names the form field, for the page's error summary):
- RAG is Red, Amber or Green; the outcome is one of the MASH outcomes;
- a rationale of at least MIN_RATIONALE characters (golden rule 7: record the reasons);
- early help needs the family's recorded agreement (R11); s47 and immediate protection do
  not, and for other outcomes the box means nothing, so it is stored as unticked;
- whether the family has been told, and why not when they have not (golden rule 2);
- the decision covers at least one of the child's notices the decider can see.

The notice is built here, purely, and published through the hub by the edge, so the
gateway checks and audits it like every other notice. It reuses the shared ingest helpers
(`to_utc`, `concern`) and the hub's deterministic `notice_id_for`, but not `build_notice`:
its MappingContext carries the hub's linkage keyer, and the console must not hold the
linkage secret (with it, anyone could re-identify a child from guessed names). The subject
arrives already keyed in the feed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.adapters.ingest.mapping import concern, to_utc
from services.console.domain.feed import FeedEntry, merged_subject
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS
from services.console.errors import ChildNotIdentifiable
from services.hubkit.notice import notice_id_for

__all__ = [
    "MAX_ACTIONS",
    "MAX_RATIONALE",
    "MIN_RATIONALE",
    "DecisionInput",
    "DecisionOrigin",
    "FieldProblem",
    "mash_decision_notice",
    "validate_decision",
]

MIN_RATIONALE = 20
MAX_RATIONALE = 4000
MAX_ACTIONS = 20
MAX_ACTION_LENGTH = 200
_RAG_TO_RISK = {"RED": "HIGH", "AMBER": "MEDIUM", "GREEN": "LOW"}


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


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or ()
    return values[0].strip() if values else ""


def validate_decision(
    form: Mapping[str, Sequence[str]], *, decidable: Sequence[str]
) -> DecisionInput | list[FieldProblem]:
    """The decision, or every problem with the form (not just the first)."""
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


def _subject(entries: Sequence[FeedEntry]) -> dict[str, Any] | None:
    """The Subject record for the decision, from what the decider saw of the child."""
    known = merged_subject(list(entries))
    if not known.get("given_name") or not known.get("family_name"):
        return None
    dob = known.get("date_of_birth")
    return {
        "linkage_key": entries[0].linkage_key,
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


def mash_decision_notice(
    decision: DecisionInput,
    *,
    child_entries: Sequence[FeedEntry],
    origin: DecisionOrigin,
    decided_by_role: str,
    source_reference: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The MASH_DECISION notice in the Avro record shape (SafeguardingNotice)."""
    if not child_entries:
        raise ChildNotIdentifiable("a decision needs at least one notice about the child")
    subject = _subject(child_entries)
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
            "summary": f"MASH decision: {outcome_text}, RAG {RAG_LABELS[decision.rag]}.",
            "full_account": None,
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
        },
    }
