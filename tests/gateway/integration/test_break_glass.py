"""Emergency access (break-glass, issue 18) on the real broker with the real policy, on
isolated topics.

A police notice is decided by OPA. A MASH manager at a desk given it (and from which the
policy withheld some fields) asks, through a console-signed BreakGlassRequest, for two of the
withheld fields. The break-glass desk - its own group, its own read of the decided notices,
the signed notice re-read at its recorded position - puts on that desk's feed exactly those
fields, marked break_glass, with a SHARING_DECISION audit record marked break_glass, in one
transaction with the request's offset. A request from a desk the notice was not given to is
refused: ACCESS_REFUSED and a dead letter, nothing on any feed. A second desk started after
the first answers nothing again (the offsets were committed with the answers).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from services.gateway.bootstrap import build_break_glass, build_gateway
from services.gateway.break_glass import BreakGlassDesk
from services.gateway.domain.redaction import present_paths
from services.hubkit.break_glass import BreakGlassRules, grant_decision_id
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, load_signing_key, seal
from services.hubkit.feed_items import open_feed_message
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_TOPIC,
    BREAK_GLASS_TOPIC,
    CONSOLE_PRINCIPAL,
    DEADLETTER_TOPIC,
    Topology,
)
from tests.factories import hub_signed_audit_record, notices
from tests.gateway.integration.helpers import IsolatedBus, wait_until
from tests.gateway.loop_fakes import FakeChildContext

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(240)]

ASKED_AT = dt.datetime(2026, 11, 20, 23, 12, tzinfo=dt.UTC)


def _request(notice: dict[str, Any], subscriber_id: str, paths: list[str]) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "notice_id": notice["notice_id"],
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "subscriber_id": subscriber_id,
        "requester_subject": "synthetic-subject-0042",
        "requester_role": "MASH_MANAGER",
        "reason": "IMMEDIATE_RISK_TO_LIFE",
        "justification": "Child reported missing overnight with a known risk; need details now.",
        "requested_paths": paths,
        "requested_at": ASKED_AT,
    }


async def _answer_until(desk: BreakGlassDesk, done: Any) -> None:
    running = asyncio.create_task(desk.run())
    try:
        assert await wait_until(lambda: done(desk), timeout_s=120), (desk.granted, desk.refused)
    finally:
        desk.stop()
        await running


async def test_a_granted_request_reaches_only_the_desk_with_exactly_the_paths_asked_for(
    stack: HubSettings, topology: Topology
) -> None:
    rules = BreakGlassRules.load(stack.policies_dir)
    hub_keys = KeyDirectory.load(stack.keys_dir / "trusted")
    console_key = load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL)
    notice = notices(seed=1819).notice("MISSING_EPISODE")
    assert notice["source"]["agency"] == "POLICE"

    async with IsolatedBus(stack, topology, label="break-glass") as bus:
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

        # What each desk was given by the sharing decision.
        given: dict[str, dict[str, Any]] = {}
        for subscriber_id, reader in feeds.items():
            for record in await reader.drain(quiet_s=1.0):
                message = open_feed_message(
                    bus.catalog, hub_keys, record.value, subscriber_id=subscriber_id
                )
                given[subscriber_id] = message.record
        askable = {s: rules.grantable(item["fields_withheld"]) for s, item in given.items()}
        desk = next((s for s, paths in sorted(askable.items()) if len(paths) >= 2), None)
        assert desk is not None, "the policy withholds nothing grantable: the test proves little"
        wanted = sorted(askable[desk][:2])
        outsiders = [s.subscriber_id for s in topology.subscribers if s.subscriber_id not in given]
        assert outsiders, "every desk was given the notice: the test proves little"
        outsider = outsiders[0]

        granted = _request(notice, desk, wanted)
        refused = _request(notice, outsider, wanted)
        producer = bus._producer  # the bus's own admin producer, as bus.publish uses
        assert producer is not None
        for request in (granted, refused):
            payload = bus.catalog.encode(MessageType.BREAK_GLASS_REQUEST, request)
            await producer.send_and_wait(
                bus.topic(BREAK_GLASS_TOPIC),
                value=seal(bus.catalog, payload, console_key, ASKED_AT),
                key=notice["subject"]["linkage_key"].encode(),
            )

        settings = bus.gateway_settings()
        await _answer_until(
            build_break_glass(stack, settings), lambda d: d.granted == 1 and d.refused == 1
        )
        # A second desk finds nothing left to answer: each answer committed its offset.
        second = build_break_glass(stack, settings)
        running = asyncio.create_task(second.run())
        try:
            assert await wait_until(lambda: bool(second._producers), timeout_s=60)
            await asyncio.sleep(3.0)  # time to read anything left after its committed offset
        finally:
            second.stop()
            await running

        grants: dict[str, list[dict[str, Any]]] = {}
        for subscriber_id, reader in feeds.items():
            for record in await reader.drain(quiet_s=2.0):
                message = open_feed_message(
                    bus.catalog, hub_keys, record.value, subscriber_id=subscriber_id
                )
                assert record.key == notice["subject"]["linkage_key"].encode()
                grants.setdefault(subscriber_id, []).append(message.record)
        audited = [
            r
            for record in await audit.drain(quiet_s=1.0)
            if (r := hub_signed_audit_record(bus.catalog, record.value, hub_keys)) is not None
        ]
        letters = [
            bus.catalog.decode(record.value, MessageType.DEAD_LETTER)
            for record in await dead.drain(quiet_s=1.0)
        ]

    assert second.granted == second.refused == 0
    assert list(grants) == [desk], "only the asking desk's feed gets anything"
    (item,) = grants[desk]
    decision_id = grant_decision_id(request_id=granted["request_id"], subscriber_id=desk)
    assert str(item["decision_id"]) == decision_id
    assert item["break_glass"] is not None
    assert str(item["break_glass"]["request_id"]) == granted["request_id"]
    assert item["break_glass"]["requester_subject"] == "synthetic-subject-0042"
    assert item["break_glass"]["expires_at"] == ASKED_AT + dt.timedelta(hours=rules.grant_hours)
    view = json.loads(item["view_json"])
    assert present_paths(view) == frozenset(wanted)
    assert item["purpose"] == "EMERGENCY_ACCESS"
    assert not set(wanted) & set(item["fields_withheld"])

    grant_records = [r for r in audited if r["break_glass"]]
    assert len(grant_records) == 1
    (record,) = grant_records
    assert record["event"] == "SHARING_DECISION"
    assert str(record["decision_id"]) == decision_id
    assert record["recipient"]["subscriber_id"] == desk
    assert record["fields_disclosed"] == wanted
    assert record["break_glass_justification"].startswith("IMMEDIATE_RISK_TO_LIFE: Child")
    assert record["human_decision_maker"] == "MASH_MANAGER"
    assert record["reason_code"] == "BREAK_GLASS"
    assert record["originating_controller"] == notice["source"]["organisation_code"]

    refusals = [r for r in audited if r["event"] == "ACCESS_REFUSED"]
    assert len(refusals) == 1
    assert refusals[0]["recipient"]["subscriber_id"] == outsider
    assert refusals[0]["reason_code"] == "BREAK_GLASS_REFUSED"
    assert [(x["reason"], x["notice_id"]) for x in letters] == [
        ("BREAK_GLASS_REFUSED", notice["notice_id"])
    ]
