"""Emergency access for a clinician at presentation, through CP-IS (issue 18), on the real
broker with the real policy, on isolated topics.

Children's services publish a child protection plan change; OPA gives the CP-IS register its
minimum (R13), the plan's detail withheld. CP-IS asks, with its own signing key, for an
unscheduled care clinician at the register's desk: the break-glass desk puts on
feed.cpis-register.v1 exactly the paths asked for (within the clinician's IG ceiling),
marked for that clinician until expiry, with a SHARING_DECISION audit record marked
break_glass, and tells the local authority's alert desk. A console-signed request for the
register, and a CP-IS-signed one for the MASH manager's desk, are refused as if forged:
ACCESS_REFUSED naming no desk and a dead letter, nothing on any feed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from services.gateway.bootstrap import build_break_glass, build_gateway
from services.gateway.domain.redaction import present_paths
from services.hubkit.break_glass import BreakGlassRules, alert_id, grant_decision_id
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, load_signing_key, seal
from services.hubkit.feed_items import open_feed_message
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_TOPIC,
    BREAK_GLASS_TOPIC,
    CONSOLE_PRINCIPAL,
    CPIS_PRINCIPAL,
    CPIS_REGISTER_SUBSCRIBER,
    DEADLETTER_TOPIC,
    Topology,
)
from tests.factories import hub_signed_audit_record, notices
from tests.gateway.integration.helpers import IsolatedBus, wait_until
from tests.gateway.loop_fakes import FakeChildContext

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(240)]

ASKED_AT = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)
CLINICIAN = "UNSCHEDULED_CARE_CLINICIAN"
REGISTER = CPIS_REGISTER_SUBSCRIBER


def _request(
    notice: dict[str, Any], subscriber_id: str, role: str, paths: list[str]
) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "notice_id": notice["notice_id"],
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "subscriber_id": subscriber_id,
        "requester_subject": "synthetic-clinician-0007",
        "requester_role": role,
        "reason": "CHILD_PRESENTING_NOW",
        "justification": "Child in ED at 03:00 with injuries; need the plan detail now.",
        "requested_paths": paths,
        "requested_at": ASKED_AT,
    }


async def test_a_cpis_request_is_granted_on_the_registers_feed_and_the_la_is_told(
    stack: HubSettings, topology: Topology
) -> None:
    rules = BreakGlassRules.load(stack.policies_dir)
    hub_keys = KeyDirectory.load(stack.keys_dir / "trusted")
    assert topology.agency("CPIS").principal == CPIS_PRINCIPAL
    cpis_key = load_signing_key(stack.keys_dir, CPIS_PRINCIPAL)
    console_key = load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL)
    notice = notices(seed=1818).notice("CSC_STATUS_CHANGE")
    assert notice["source"]["agency"] == "CHILDRENS_SERVICES"
    assert notice["detail"]["change"] == "CP_PLAN_STARTED"  # R13 keeps the register current

    async with IsolatedBus(stack, topology, label="break-glass-cpis") as bus:
        feeds = {s.subscriber_id: await bus.reader(s.feed_topic) for s in topology.subscribers}
        audit = await bus.reader(AUDIT_TOPIC)
        dead = await bus.reader(DEADLETTER_TOPIC)

        await bus.publish([notice])
        gateway = build_gateway(
            stack, bus.gateway_settings(engine="opa"), child_context=FakeChildContext()
        )
        running = asyncio.create_task(gateway.run())
        try:
            assert await wait_until(lambda: gateway.stats.notices_decided == 1, timeout_s=120)
        finally:
            gateway.stop()
            await running
        given: dict[str, dict[str, Any]] = {}
        for subscriber_id, reader in feeds.items():
            for record in await reader.drain(quiet_s=1.0):
                message = open_feed_message(
                    bus.catalog, hub_keys, record.value, subscriber_id=subscriber_id
                )
                given[subscriber_id] = message.record
        assert REGISTER in given, "the register was not given the plan change (R13)"
        askable = rules.grantable(
            given[REGISTER]["fields_withheld"], role=CLINICIAN, notice_type="CSC_STATUS_CHANGE"
        )
        assert "narrative.summary" in askable
        assert "narrative.full_account" not in askable  # beyond the clinician's ceiling
        wanted = sorted(["narrative.summary", *[p for p in askable if p.startswith("detail.")]])
        assert len(wanted) >= 2, askable

        granted = _request(notice, REGISTER, CLINICIAN, wanted)
        # Each service asks for its own desk only: these are refused as if forged.
        console_for_register = _request(notice, REGISTER, CLINICIAN, wanted)
        cpis_for_manager = _request(notice, "mash-manager", "MASH_MANAGER", wanted)
        producer = bus._producer  # the bus's own admin producer, as bus.publish uses
        assert producer is not None
        signed: list[tuple[dict[str, Any], SigningKey]] = [
            (console_for_register, console_key),
            (cpis_for_manager, cpis_key),
            (granted, cpis_key),
        ]
        for request, key in signed:
            payload = bus.catalog.encode(MessageType.BREAK_GLASS_REQUEST, request)
            await producer.send_and_wait(
                bus.topic(BREAK_GLASS_TOPIC),
                value=seal(bus.catalog, payload, key, ASKED_AT),
                key=notice["subject"]["linkage_key"].encode(),
            )

        desk = build_break_glass(stack, bus.gateway_settings())
        running = asyncio.create_task(desk.run())
        try:
            assert await wait_until(
                lambda: desk.granted == 1 and desk.refused == 2, timeout_s=120
            ), (desk.granted, desk.refused)
        finally:
            desk.stop()
            await running

        answers: dict[str, list[tuple[MessageType, dict[str, Any]]]] = {}
        for subscriber_id, reader in feeds.items():
            for record in await reader.drain(quiet_s=2.0):
                message = open_feed_message(
                    bus.catalog, hub_keys, record.value, subscriber_id=subscriber_id
                )
                answers.setdefault(subscriber_id, []).append((message.message_type, message.record))
        audited = [
            r
            for record in await audit.drain(quiet_s=1.0)
            if (r := hub_signed_audit_record(bus.catalog, record.value, hub_keys)) is not None
        ]
        letters = [
            bus.catalog.decode(record.value, MessageType.DEAD_LETTER)
            for record in await dead.drain(quiet_s=1.0)
        ]

    owner_desk = rules.owner_alert_desks["CHILDRENS_SERVICES"]
    # The register (the grant) and the local authority's alert desk; nobody else.
    assert sorted(answers) == sorted([REGISTER, owner_desk])
    ((kind, item),) = answers[REGISTER]
    assert kind is MessageType.FEED_ITEM
    decision_id = grant_decision_id(request_id=granted["request_id"], subscriber_id=REGISTER)
    assert str(item["decision_id"]) == decision_id
    assert item["break_glass"] is not None
    assert str(item["break_glass"]["request_id"]) == granted["request_id"]
    assert item["break_glass"]["requester_subject"] == "synthetic-clinician-0007"
    assert item["break_glass"]["requester_role"] == CLINICIAN
    assert item["break_glass"]["expires_at"] == ASKED_AT + dt.timedelta(hours=rules.grant_hours)
    assert present_paths(json.loads(item["view_json"])) == frozenset(wanted)
    assert "clinician in unscheduled care" in item["explanation"]

    (grant,) = [r for r in audited if r["break_glass"]]
    assert grant["event"] == "SHARING_DECISION"
    assert str(grant["decision_id"]) == decision_id
    assert grant["recipient"]["subscriber_id"] == REGISTER
    assert grant["human_decision_maker"] == CLINICIAN
    assert grant["fields_disclosed"] == wanted
    assert grant["originating_controller"] == notice["source"]["organisation_code"]

    ((kind, alert),) = answers[owner_desk]
    assert kind is MessageType.BREAK_GLASS_ALERT
    assert str(alert["alert_id"]) == alert_id(
        request_id=granted["request_id"], alert_desk_id=owner_desk
    )
    assert alert["granted_to_subscriber_id"] == REGISTER
    assert alert["granted_to_role"] == CLINICIAN
    assert alert["granted_paths"] == wanted
    (told,) = [r for r in audited if r["event"] == "BREAK_GLASS_ALERT_DELIVERED"]
    assert told["recipient"]["subscriber_id"] == owner_desk

    refusals = [r for r in audited if r["event"] == "ACCESS_REFUSED"]
    assert len(refusals) == 2
    assert [r["recipient"] for r in refusals] == [None, None]  # no desk is named or told
    assert sorted((x["reason"], x["notice_id"]) for x in letters) == [
        ("WRONG_SOURCE_TOPIC", None),
        ("WRONG_SOURCE_TOPIC", None),
    ]
    details = sorted(x["detail"] for x in letters)
    assert "signed by adapter-cpis, which may ask only for its own desks" in details[0]
    assert "signed by console, which may ask only for its own desks" in details[1]
