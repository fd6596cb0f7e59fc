"""The second enforcement of the IG disclosure ceilings, outside the policy.

Every decision is checked against its recipient's ceiling (services/hubkit/ceilings.py) before
any record is built. One that permits a path beyond it is not clamped to the ceiling but
withheld whole (fail closed): a policy that over-discloses is broken, and what it would
have delivered short of the offending paths was decided by the same broken rules. The
recipient gets nothing for that notice; its audit record says DENY, CEILING_EXCEEDED, the
offending paths and the policy revision; the edge counts and logs the breach.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.hubkit.ceilings import Ceilings
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from services.hubkit.topology import SubscriberEntry

__all__ = ["CEILING_EXCEEDED", "NO_DISCLOSURE", "CeilingBreach", "enforce_ceiling"]

CEILING_EXCEEDED = "CEILING_EXCEEDED"
"""reason_code of the audit record of a decision withheld for exceeding the ceiling."""

NO_DISCLOSURE = LawfulBasis(
    article6="none: nothing disclosed",
    special_category_condition=None,
    dpa_part3=None,
    statutory_gateway="none: nothing disclosed",
)
"""The basis recorded when nothing is disclosed: the same words as the policy's own DENY
(policies/safehub/isa/data.json "no_disclosure"), so every DENY reads alike in the audit."""


@dataclass(frozen=True, slots=True)
class CeilingBreach:
    """A decision the gateway withheld for exceeding the ceiling. Ids, codes and field paths
    only: safe for logs and metric labels."""

    notice_id: str
    notice_type: str
    subscriber_id: str
    role: str
    policy_outcome: SharingOutcome
    offending_paths: tuple[str, ...]
    policy_revision: str


def _explanation(decision: SharingDecision, breach: CeilingBreach) -> str:
    rules = ", ".join(decision.rule_ids) or "none"
    return (
        f"Withheld because the sharing decision ({breach.policy_outcome.value}, rules {rules}) "
        f"would have disclosed {', '.join(breach.offending_paths)}, beyond the most the "
        f"information-sharing agreement lets role {breach.role} receive from a "
        f"{breach.notice_type} notice (disclosure ceiling, policies/safehub/ceilings/data.json); "
        f"nothing was delivered. Policy revision {breach.policy_revision}: the information "
        "governance officer should correct the sharing rules or the ceiling."
    )


def enforce_ceiling(
    decision: SharingDecision,
    *,
    subscriber: SubscriberEntry,
    notice_id: str,
    notice_type: str,
    ceilings: Ceilings,
    policy_revision: str,
) -> tuple[SharingDecision, CeilingBreach | None]:
    """The decision as the gateway applies it: unchanged when within the recipient's ceiling,
    else a DENY that discloses nothing (and the breach)."""
    if not decision.permitted_fields:  # DENY, or nothing to disclose: nothing can exceed
        return decision, None
    offending = ceilings.excess(subscriber.role, notice_type, decision.permitted_fields)
    if not offending:
        return decision, None
    breach = CeilingBreach(
        notice_id=notice_id,
        notice_type=notice_type,
        subscriber_id=subscriber.subscriber_id,
        role=subscriber.role,
        policy_outcome=decision.outcome,
        offending_paths=tuple(sorted(offending)),
        policy_revision=policy_revision,
    )
    withheld = SharingDecision(
        subscriber_id=decision.subscriber_id,
        outcome=SharingOutcome.DENY,
        permitted_fields=(),
        purpose=decision.purpose,
        lawful_basis=NO_DISCLOSURE,
        isa_clause=None,
        # Kept: they say which rules over-disclosed, for whoever corrects them.
        rule_ids=decision.rule_ids,
        explanation=_explanation(decision, breach),
        reason_code=CEILING_EXCEEDED,
    )
    return withheld, breach
