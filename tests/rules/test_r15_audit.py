"""R15: every deny, partial or flag decision is audited with its reason (the explanation and
the rule ids that fired, R15 among them)."""

from __future__ import annotations

import pytest

from tests.rules.harness import RulesHub
from tests.rules.natives import HEALTH_PATH, POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]


async def test_every_deny_partial_and_flag_is_audited_with_its_reason(
    rules_hub: RulesHub, natives: Natives
) -> None:
    child = natives.child()
    sent = [
        await rules_hub.send(
            "POLICE",
            POLICE_PATH,
            natives.police_intelligence(child, scheme="3x5x2", handling="C", assessment="B"),
        ),
        await rules_hub.send(
            "POLICE", POLICE_PATH, natives.police_missing(child, status="RETURNED")
        ),
        await rules_hub.send("HEALTH", HEALTH_PATH, natives.health_alert(child, setting="SARC")),
    ]
    mine = [record for delivery in sent for record in delivery.audit.values()]
    assert {r["outcome"] for r in mine} >= {"DENY", "PARTIAL", "FLAG_ONLY"}, (
        "the notices chosen should produce every kind of decision R15 covers"
    )
    # Every decision audited so far this session, ours included.
    audited = [r for records in rules_hub.audited().values() for r in records.values()]
    missing = [
        (r["notice_type"], r["recipient"]["subscriber_id"], r["outcome"], r["rule_ids"])
        for r in audited
        if r["outcome"] != "PERMIT" and (not r["explanation"].strip() or "R15" not in r["rule_ids"])
    ]
    assert not missing, f"{len(missing)} decisions audited without their reason: {missing[:5]}"
