"""One notice, real all the way: police adapter -> Kafka -> gateway + real OPA -> feeds.

Also: the broker itself refuses a principal that writes another agency's topic or reads
another subscriber's feed.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from services.gateway.bootstrap import build_gateway
from services.gateway.domain.decisions import parse_decisions
from services.gateway.domain.redaction import redact
from services.gateway.engines import OpaEngine, bundle_revision
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.feed_items import open_feed_message
from services.hubkit.notice import encode_notice, to_json_value
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.sharing_decisions import SharingOutcome
from services.hubkit.topology import AUDIT_TOPIC, Topology
from tests.factories import hub_signed_audit_record, notices, under_fresh_reference
from tests.gateway.loop_fakes import FakeChildContext
from tests.integration.bus import TopicReader, require_topic_access

pytestmark = [pytest.mark.kafka, pytest.mark.opa]


async def test_one_notice_end_to_end(stack: HubSettings, topology: Topology) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    police = topology.agency("POLICE")
    notice = under_fresh_reference(notices(seed=101).notice("SAFEGUARDING_CONTACT"))
    notice_id = notice["notice_id"]

    # The decision the real OPA gives for this notice is what each feed must hold.
    opa = OpaEngine(stack.opa_url, revision=bundle_revision(stack.policies_dir))
    answer = await opa.evaluate({"notice": to_json_value(notice)})
    await opa.close()
    expected = parse_decisions(answer.result, [s.subscriber_id for s in topology.subscribers])
    assert expected["mash-manager"].outcome is SharingOutcome.PERMIT
    assert expected["school-dsl"].outcome is SharingOutcome.DENY

    hub_keys = KeyDirectory.load(stack.keys_dir / "trusted")
    audit = await TopicReader(stack, "audit", AUDIT_TOPIC).start()
    feeds = {
        s.subscriber_id: await TopicReader(stack, s.principal, s.feed_topic).start()
        for s in topology.subscribers
    }

    # (a) sign and publish as the police adapter principal.
    producer = make_producer(stack, police.principal)
    await producer.start()
    publisher = NoticePublisher(
        producer=producer,
        catalog=catalog,
        agency=police,
        signing_key=load_signing_key(stack.keys_dir, police.principal),
    )
    assert await publisher.publish(notice) == notice_id
    await producer.stop()

    # (b) a gateway consumes, verifies, asks OPA, writes audit + feeds in one transaction.
    gateway = build_gateway(stack, GatewaySettings(engine="opa"), child_context=FakeChildContext())
    running = asyncio.create_task(gateway.run())
    try:
        audit_records = await audit.read_until(
            lambda rs: (
                sum(_audit_for(catalog, r.value, notice_id, hub_keys) for r in rs)
                == len(topology.subscribers)
            ),
            timeout_s=60,
        )
    finally:
        gateway.stop()
        await running

    # Every audit record of the notice is signed by the hub (issue 13, defect 4).
    decoded_audit = [hub_signed_audit_record(catalog, r.value, hub_keys) for r in audit_records]
    mine = {
        a["recipient"]["subscriber_id"]: a
        for a in decoded_audit
        if a is not None and a["notice_id"] == notice_id
    }
    assert set(mine) == {s.subscriber_id for s in topology.subscribers}
    for subscriber_id, record in mine.items():
        assert record["outcome"] == expected[subscriber_id].outcome.value
        assert record["subject_linkage_key"] == notice["subject"]["linkage_key"]
        assert record["rule_ids"] == list(expected[subscriber_id].rule_ids)

    # (c) read_committed readers of each feed see exactly what the decision allowed.
    for subscriber_id, reader in feeds.items():
        records = await reader.drain(quiet_s=1.0)
        await reader.stop()
        messages = [open_feed_message(catalog, hub_keys, r.value) for r in records]
        items = [
            m.record
            for m in messages
            if m.message_type is MessageType.FEED_ITEM and m.record["notice_id"] == notice_id
        ]
        decision = expected[subscriber_id]
        if decision.outcome is SharingOutcome.DENY:
            assert items == [], f"{subscriber_id} was denied but received the notice"
            continue
        assert len(items) == 1, f"{subscriber_id} should receive the notice exactly once"
        view = json.loads(items[0]["view_json"])
        assert view == redact(to_json_value(notice), decision.permitted_fields)
        assert items[0]["outcome"] == decision.outcome.value
    await audit.stop()


def _audit_for(catalog: SchemaCatalog, value: bytes, notice_id: str, keys: KeyDirectory) -> bool:
    record = hub_signed_audit_record(catalog, value, keys)
    return record is not None and record["notice_id"] == notice_id


async def test_adapter_cannot_write_another_agencys_topic(
    stack: HubSettings, topology: Topology
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    notice = notices(seed=102).notice("SAFEGUARDING_CONTACT")
    producer = make_producer(stack, topology.agency("HEALTH").principal)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(
                topology.agency("POLICE").topic, value=encode_notice(catalog, notice)
            )
    finally:
        await producer.stop()


async def test_feed_principal_cannot_read_another_subscribers_feed(
    stack: HubSettings, topology: Topology
) -> None:
    school = topology.subscriber("school-dsl")
    manager = topology.subscriber("mash-manager")
    await require_topic_access(stack, manager.principal, manager.feed_topic)  # its own: allowed
    with pytest.raises(TopicAuthorizationFailedError):
        await require_topic_access(stack, school.principal, manager.feed_topic)


async def test_adapter_cannot_read_the_audit_topic(stack: HubSettings, topology: Topology) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await require_topic_access(stack, topology.agency("POLICE").principal, AUDIT_TOPIC)
