"""R2: MASH decision makers see full content during triage; only the decision summary needed
for action leaves the MASH."""

from __future__ import annotations

import pytest

from tests.rules.harness import RulesHub
from tests.rules.mash import RATIONALE, decision_notice, triaged_contact
from tests.rules.natives import POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]


async def test_the_mash_manager_sees_a_police_contact_in_full(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_contact(natives.child())
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.outcome("mash-manager") == "PERMIT", delivery.summary()
    assert delivery.item("mash-manager")["fields_withheld"] == []
    assert delivery.value("mash-manager", "narrative.full_account") == record["full_account"]
    assert delivery.value("mash-manager", "referrer.name") == record["referrer"]["name"]
    assert delivery.value("mash-manager", "third_parties")[0]["name"] == "Synthetic Partner"
    assert delivery.value("mash-manager", "detail.reason") == record["reason"]


async def test_only_the_decision_summary_leaves_the_mash(
    rules_hub: RulesHub, natives: Natives
) -> None:
    entries, contact = await triaged_contact(rules_hub, natives)
    notice = decision_notice(rules_hub, entries, outcome="S47_STRATEGY_DISCUSSION")
    delivery = await rules_hub.publish_mash_decision(notice)

    # Inside: the rationale and the notices the decision rests on.
    assert delivery.value("mash-manager", "detail.rationale") == RATIONALE
    assert delivery.value("mash-manager", "detail.related_notice_ids") == [contact.notice_id]
    # Outside: what the local authority needs to act, and nothing of the MASH's reasoning.
    la = "responsible-la"
    assert delivery.value(la, "detail.outcome") == "S47_STRATEGY_DISCUSSION", delivery.summary()
    leaked = delivery.paths(la) & {
        "detail.rationale",
        "detail.related_notice_ids",
        "narrative.full_account",
    }
    assert not leaked, f"the MASH's reasoning left the MASH: {sorted(leaked)}"
    assert RATIONALE.lower() not in delivery.text(la)
    assert contact.notice_id not in delivery.item(la)["view_json"]
