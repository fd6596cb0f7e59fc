"""Withdrawing a record (issue 18): an agency retracts a notice through its own adapter, and the
hub sends the withdrawal to exactly the subscribers the original was disclosed to, never
re-deciding it, with an audit record per recipient; the original's audit trail stays. The
agency's adapter, the gateway and OPA are real (tests/rules/harness.py)."""

from __future__ import annotations

import pytest

from services.hubkit.retraction import retraction_id_for
from tests.rules.harness import RulesHub
from tests.rules.natives import CSC_PATH, HEALTH_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]


async def test_a_wrong_child_health_record_is_withdrawn_from_exactly_its_recipients(
    rules_hub: RulesHub, natives: Natives
) -> None:
    original = await rules_hub.send(
        "HEALTH", HEALTH_PATH, natives.health_alert(natives.child(), setting="ED")
    )
    recipients = original.recipients
    assert "mash-health-navigator" in recipients, original.summary()
    refused = set(rules_hub.subscribers) - recipients
    assert refused, "some subscriber must have been refused the original, or the test proves less"

    withdrawal = await rules_hub.withdraw("HEALTH", original, "WRONG_CHILD")

    assert withdrawal.retraction_id == retraction_id_for(original.notice_id)
    # Exactly the original's recipients: nobody it was withheld from learns it existed.
    assert set(withdrawal.messages) == recipients, sorted(set(withdrawal.messages) ^ recipients)
    assert set(withdrawal.audit) == recipients
    for subscriber, message in withdrawal.messages.items():
        assert message["reason"] == "WRONG_CHILD"
        assert message["source_agency"] == "HEALTH"
        assert message["subject_linkage_key"] == original.item(subscriber)["subject_linkage_key"]
        record = withdrawal.audit[subscriber]
        assert str(record["decision_id"]) == message["decision_id"]
        assert record["outcome"] is None
        assert record["reason_code"] == "WRONG_CHILD"
        assert "Withdrawn by Health: wrong child" in record["explanation"]
        # Nothing of the original's content travels with the withdrawal.
        assert "view_json" not in message
    # The original disclosure's audit trail is kept, untouched.
    assert set(rules_hub.audited()[original.notice_id]) == set(rules_hub.subscribers)


async def test_a_second_retraction_of_the_same_record_delivers_nothing_new(
    rules_hub: RulesHub, natives: Natives
) -> None:
    original = await rules_hub.send(
        "CHILDRENS_SERVICES", CSC_PATH, natives.csc_s47(natives.child())
    )
    first = await rules_hub.withdraw("CHILDRENS_SERVICES", original, "ENTERED_IN_ERROR")
    assert set(first.messages) == original.recipients
    again = await rules_hub.post(
        "CHILDRENS_SERVICES",
        "/v1/retractions",
        json={
            "source_reference": original.notice["source"]["source_reference"],
            "reason": "ENTERED_IN_ERROR",
        },
    )
    assert again.status_code == 202, again.text
    assert again.json()["retraction_id"] == first.retraction_id


async def test_an_agency_cannot_withdraw_what_it_never_sent(rules_hub: RulesHub) -> None:
    response = await rules_hub.post(
        "HEALTH",
        "/v1/retractions",
        json={"source_reference": "never-sent-by-health", "reason": "WRONG_CHILD"},
    )
    assert response.status_code == 404, response.text
