"""Emergency access (break-glass, issue 18) on the real broker with the real policy, on
isolated topics.

A police intelligence report is decided by OPA: the MASH manager's desk is given a flag, the
text withheld. The MASH manager asks, through a console-signed BreakGlassRequest, for two of
the withheld fields. The break-glass desk - its own group, its own read of the decided notices,
the signed notice re-read at its recorded position - puts on that desk's feed exactly those
fields, marked break_glass, with a SHARING_DECISION audit record marked break_glass, and
tells the owning agency's alert desk (one BreakGlassAlert holding no value of the notice, and
a BREAK_GLASS_ALERT_DELIVERED audit record), all in one transaction with the request's offset:
the grant's first transaction is made to fail after its records were written, and
read_committed readers see nothing of it. A request that also asks for the source's details
is refused: ACCESS_REFUSED and a dead letter, and one BreakGlassRefusal on the desk's feed.
A request signed by an agency's key instead of the console's, and a console-signed request
for a desk the console does not serve, are refused with nothing on any feed. A second desk
started after the first answers nothing again (the offsets were committed with the answers).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from services.gateway.bootstrap import build_break_glass, build_gateway
from services.gateway.break_glass import BreakGlassDesk
from services.gateway.clients import (
    EncodedRecord,
    KafkaTransactionalProducer,
    ProducerFactory,
    TransactionalProducer,
)
from services.gateway.domain.redaction import present_paths
from services.hubkit.break_glass import BreakGlassRules, alert_id, grant_decision_id
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, load_signing_key, seal
from services.hubkit.feed_items import open_feed_message
from services.hubkit.notice import to_json_value
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


class _AbortTheFirstGrant:
    """A producer whose first transaction holding an owner's alert writes all its records,
    then fails before it commits (so the broker aborts it): what a crash mid-grant leaves."""

    def __init__(self, inner: TransactionalProducer, aborted: list[bool]) -> None:
        self._inner = inner
        self._aborted = aborted

    async def start(self) -> None:
        await self._inner.start()

    async def stop(self) -> None:
        await self._inner.stop()

    async def write_transaction(
        self,
        records: Sequence[EncodedRecord],
        offsets: Mapping[TopicPartition, int],
        group_id: str,
    ) -> None:
        kinds = {r.kind for r in records}
        if self._aborted or MessageType.BREAK_GLASS_ALERT not in kinds:
            await self._inner.write_transaction(records, offsets, group_id)
            return
        assert isinstance(self._inner, KafkaTransactionalProducer)
        producer = self._inner.kafka_producer
        async with producer.transaction():
            for r in records:  # each one on the broker, inside the open transaction
                await (await producer.send(r.topic, r.value, key=r.key))
            self._aborted.append(True)
            raise KafkaError("synthetic failure after the grant's records were written")


def _aborting(factory: ProducerFactory, aborted: list[bool]) -> ProducerFactory:
    return lambda transactional_id: _AbortTheFirstGrant(factory(transactional_id), aborted)


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
    notice = notices(seed=1819).notice("POLICE_INTELLIGENCE")
    assert notice["source"]["agency"] == "POLICE"
    # Handling C, assessment B: shared inside the MASH as a flag only, no review hold (R5).
    notice["intelligence_grading"]["handling_code"] = "C"
    notice["intelligence_grading"]["intelligence_assessment"] = "B"

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
        # What a MASH manager may ask for: never a never-path, never past the ceiling.
        askable = {
            s: rules.grantable(
                item["fields_withheld"], role="MASH_MANAGER", notice_type=notice["notice_type"]
            )
            for s, item in given.items()
        }
        desk = "mash-manager"  # the one desk the console asks for (the IG rules)
        assert rules.may_sign(CONSOLE_PRINCIPAL, "MASH_MANAGER", desk)
        assert len(askable.get(desk, ())) >= 2, "nothing grantable withheld: the test proves little"
        wanted = sorted(askable[desk][:2])
        owner_desk = rules.owner_alert_desks["POLICE"]
        assert owner_desk != desk
        outsiders = [
            s.subscriber_id
            for s in topology.subscribers
            if s.subscriber_id not in given and s.subscriber_id != owner_desk
        ]
        assert outsiders, "every desk was given the notice: the test proves little"
        outsider = outsiders[0]

        granted = _request(notice, desk, wanted)
        # Also the source's details: never given, so the whole request is refused.
        refused = _request(notice, desk, [*wanted, "detail.source_details"])
        # The console asking for a desk it does not serve: as untrusted as a forgery.
        elsewhere = _request(notice, outsider, wanted)
        # Signed by a key the hub trusts, but an agency's: nobody verified asked.
        forged = _request(notice, desk, wanted)
        police_key = load_signing_key(stack.keys_dir, topology.agency("POLICE").principal)
        producer = bus._producer  # the bus's own admin producer, as bus.publish uses
        assert producer is not None
        signers: list[tuple[dict[str, Any], SigningKey]] = [
            (granted, console_key),
            (refused, console_key),
            (forged, police_key),
            (elsewhere, console_key),
        ]
        for request, signer in signers:
            payload = bus.catalog.encode(MessageType.BREAK_GLASS_REQUEST, request)
            await producer.send_and_wait(
                bus.topic(BREAK_GLASS_TOPIC),
                value=seal(bus.catalog, payload, signer, ASKED_AT),
                key=notice["subject"]["linkage_key"].encode(),
            )

        settings = bus.gateway_settings(retry_backoff_initial_s=0.2, retry_backoff_max_s=1.0)
        first = build_break_glass(stack, settings)
        aborted: list[bool] = []
        first._new_producer = _aborting(first._new_producer, aborted)
        await _answer_until(first, lambda d: d.granted == 1 and d.refused == 3)
        assert aborted == [True], "the grant's first transaction was not made to fail"
        # A second desk finds nothing left to answer: each answer committed its offset.
        second = build_break_glass(stack, settings)
        running = asyncio.create_task(second.run())
        try:
            assert await wait_until(lambda: bool(second._producers), timeout_s=60)
            await asyncio.sleep(3.0)  # time to read anything left after its committed offset
        finally:
            second.stop()
            await running

        grants: dict[str, list[tuple[MessageType, dict[str, Any]]]] = {}
        alert_bytes: list[bytes] = []
        for subscriber_id, reader in feeds.items():
            for record in await reader.drain(quiet_s=2.0):
                message = open_feed_message(
                    bus.catalog, hub_keys, record.value, subscriber_id=subscriber_id
                )
                assert record.key == notice["subject"]["linkage_key"].encode()
                grants.setdefault(subscriber_id, []).append((message.message_type, message.record))
                if message.message_type is MessageType.BREAK_GLASS_ALERT:
                    alert_bytes.append(record.value)
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
    # The asking desk (the grant and the refusal) and the owner's alert desk; nothing
    # elsewhere, and nothing of the aborted transaction (read_committed: each exactly once).
    assert sorted(grants) == sorted([desk, owner_desk])
    by_kind = {kind: [r for k, r in grants[desk] if k is kind] for kind, _ in grants[desk]}
    assert sorted(k.value for k in by_kind) == sorted(
        [MessageType.FEED_ITEM.value, MessageType.BREAK_GLASS_REFUSAL.value]
    )
    (item,) = by_kind[MessageType.FEED_ITEM]
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

    # The owning agency was told, once, in the grant's transaction.
    ((kind, alert),) = grants[owner_desk]
    assert kind is MessageType.BREAK_GLASS_ALERT
    the_alert_id = alert_id(request_id=granted["request_id"], alert_desk_id=owner_desk)
    assert str(alert["alert_id"]) == the_alert_id
    assert str(alert["grant_decision_id"]) == decision_id
    assert alert["granted_to_subscriber_id"] == desk
    assert alert["granted_paths"] == wanted
    assert alert["source_reference"] == notice["source"]["source_reference"]
    told = [r for r in audited if r["event"] == "BREAK_GLASS_ALERT_DELIVERED"]
    assert len(told) == 1
    assert str(told[0]["decision_id"]) == the_alert_id
    assert told[0]["recipient"]["subscriber_id"] == owner_desk
    assert told[0]["reason_code"] == "BREAK_GLASS_ALERT"
    assert told[0]["outcome"] is None
    assert told[0]["fields_disclosed"] == []
    # The alert holds none of the values given (nor any other text of the notice but ids).
    held = to_json_value(notice)
    given_values = [str(_at(held, path)) for path in wanted]
    ids = {
        notice["notice_id"],
        notice["notice_type"],
        notice["subject"]["linkage_key"],
        notice["source"]["source_reference"],
        "POLICE",
    }
    texts = {v for v in _strings(held) if len(v) >= 4 and v not in ids}
    (value,) = alert_bytes
    assert [v for v in [*given_values, *texts] if v.encode() in value] == []

    refusals = [r for r in audited if r["event"] == "ACCESS_REFUSED"]
    assert len(refusals) == 3
    by_desk: dict[str | None, list[dict[str, Any]]] = {}
    for r in refusals:
        by_desk.setdefault((r["recipient"] or {}).get("subscriber_id"), []).append(r)
    # The forged request and the console's for another desk name no desk.
    assert {k: len(v) for k, v in by_desk.items()} == {desk: 1, None: 2}
    (to_desk,) = by_desk[desk]
    assert to_desk["reason_code"] == "BREAK_GLASS_REFUSED"
    (answer,) = by_kind[MessageType.BREAK_GLASS_REFUSAL]
    assert str(answer["request_id"]) == refused["request_id"]
    assert str(answer["decision_id"]) == str(to_desk["decision_id"])
    assert answer["explanation"] == to_desk["explanation"]
    assert "never who told" in answer["explanation"]
    assert sorted((x["reason"], x["notice_id"]) for x in letters) == sorted(
        [
            ("BREAK_GLASS_REFUSED", notice["notice_id"]),
            ("WRONG_SOURCE_TOPIC", None),
            ("WRONG_SOURCE_TOPIC", None),
        ]
    )


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value[part]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for inner in value.values() for s in _strings(inner)]
    if isinstance(value, list):
        return [s for inner in value for s in _strings(inner)]
    return [value] if isinstance(value, str) else []
