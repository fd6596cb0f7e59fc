"""MASH decisions the way the console makes them.

There is no adapter for MASH decisions: the console builds the MASH_DECISION notice from what
the MASH manager's feed showed about the child (`mash_decision_notice`, which also names the
referring organisations: the sources of the notices the decision answers) and publishes it as
`adapter-mash` (`HubDecisionSender`, see RulesHub.publish_mash_decision). These helpers do the
same: a contact is triaged first, so the decision is about a child the MASH manager saw.

The console's form refuses early help without the family's agreement; the tests build the
`DecisionInput` directly, as a faulty form or another MASH system could, because the hub must
hold the line on its own (R11).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.console.domain.decisions import DecisionInput, DecisionOrigin, mash_decision_notice
from services.console.domain.feed import FeedEntry, entry_from_feed_item
from tests.rules.harness import Delivery, RulesHub
from tests.rules.natives import HEALTH_PATH, NOW, POLICE_PATH, RUN, Natives

__all__ = ["RATIONALE", "decision_notice", "triaged_contact"]

RATIONALE = f"Synthetic rationale {RUN}-RATIONALE: pattern of concerns across agencies."


async def triaged_contact(
    hub: RulesHub, natives: Natives, *, referrer: str = "POLICE"
) -> tuple[list[FeedEntry], Delivery]:
    """A contact from `referrer` (POLICE: a public protection notice; HEALTH: an ED
    safeguarding alert), as the MASH manager's feed shows it (the console's FeedEntry)."""
    child = natives.child()
    if referrer == "POLICE":
        contact = await hub.send("POLICE", POLICE_PATH, natives.police_contact(child))
    else:
        contact = await hub.send("HEALTH", HEALTH_PATH, natives.health_alert(child, setting="ED"))
    return [entry_from_feed_item(contact.item("mash-manager"))], contact


def decision_notice(
    hub: RulesHub,
    entries: Sequence[FeedEntry],
    *,
    outcome: str,
    family_agreement: bool = False,
    early_help_organisation: str | None = None,
) -> dict[str, Any]:
    mash = hub.topology.agency("MASH")
    origin = DecisionOrigin(
        agency=mash.code,
        organisation_code=mash.organisation,
        contact_role="MASH manager",
        contact_organisation=mash.name,
        contact_telephone="0300 000 0001",
    )
    decision = DecisionInput(
        rag="AMBER",
        outcome=outcome,
        rationale=RATIONALE,
        family_agreement=family_agreement,
        family_informed=True,
        family_not_informed_reason=None,
        related_notice_ids=tuple(e.notice_id for e in entries),
        agreed_actions=("Allocate to the duty team",),
        early_help_organisation=early_help_organisation,
    )
    return mash_decision_notice(
        decision,
        child_entries=entries,
        origin=origin,
        decided_by_role="MASH manager",
        source_reference=f"MASH-DEC-{RUN}-{uuid.uuid4().hex[:12]}",
        now=NOW,
    )
