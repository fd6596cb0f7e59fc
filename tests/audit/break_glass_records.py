"""Synthetic emergency access ('break-glass') grants, as the gateway's audit record states them
(`services.gateway.domain.break_glass.grant_messages`): the gateway's own `audit_record` for an
EMERGENCY_ACCESS decision with exactly the paths asked for, under `grant_decision_id`, with
break_glass true, the requester's role, the reason's words and "<REASON>: <justification>"
(issue 18 part 3's contract). Sealed with the hub key by `tests.audit.records.encode`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from services.audit.break_glass_review import EMERGENCY_ACCESS_PURPOSE
from services.gateway.domain.records import audit_record
from services.gateway.domain.redaction import present_paths, withheld_paths
from services.hubkit.break_glass import BreakGlassRules, grant_decision_id
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from tests.audit.records import TOPOLOGY
from tests.factories import FIXED_NOW, POLICIES

RULES = BreakGlassRules.load(POLICIES)
_BASIS = json.loads((POLICIES / "safehub/breakglass/data.json").read_text())["lawful_basis"]


def grant_record(
    notice: dict[str, Any],
    *,
    request_id: str,
    desk: str = "mash-manager",
    requested: tuple[str, ...] | None = None,
    reason: str = "IMMEDIATE_RISK_TO_LIFE",
    justification: str = "Child at A&E now with an unexplained injury; need the detail.",
    granted_at: dt.datetime = FIXED_NOW,
) -> dict[str, Any]:
    """The SHARING_DECISION audit record of one grant to `desk` over `notice`."""
    subscriber = next(s for s in TOPOLOGY.subscribers if s.subscriber_id == desk)
    if requested is None:
        requested = RULES.grantable(sorted(present_paths(notice)))[:2]
    withheld = withheld_paths(notice, requested)
    decision = SharingDecision(
        subscriber_id=desk,
        outcome=SharingOutcome.PARTIAL if withheld else SharingOutcome.PERMIT,
        permitted_fields=requested,
        purpose=EMERGENCY_ACCESS_PURPOSE,
        lawful_basis=LawfulBasis(
            article6=_BASIS["article6"],
            special_category_condition=_BASIS["special_category_condition"],
            dpa_part3=_BASIS["dpa_part3"],
            statutory_gateway=_BASIS["statutory_gateway"],
        ),
        isa_clause=None,
        rule_ids=(),
        explanation="Emergency access for a MASH manager (synthetic).",
        reason_code="BREAK_GLASS",
    )
    return {
        **audit_record(
            notice=notice,
            decision=decision,
            subscriber=subscriber,
            policy_revision="break-glass",
            decided_at=granted_at,
            withheld=withheld,
        ),
        "decision_id": grant_decision_id(request_id=request_id, subscriber_id=desk),
        "human_decision_maker": "MASH_MANAGER",
        "human_rationale": RULES.reasons[reason],
        "break_glass": True,
        "break_glass_justification": f"{reason}: {justification}",
    }
