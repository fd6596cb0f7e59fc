"""Issue 18 against the real broker: the console's emergency access request is produced as
the `console` principal to breakglass.requests.v1, keyed by the child's linkage key, sealed
with the console's own signing key (what the gateway verifies before it grants anything),
and decodes as the BreakGlassRequest the person made."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import pytest

from services.console.domain.break_glass import break_glass_request
from services.console.outbound import HubBreakGlassSender
from services.hubkit.bus import TopicReader, make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, open_envelope
from services.hubkit.settings import HubSettings
from services.hubkit.topology import ADMIN_PRINCIPAL, BREAK_GLASS_TOPIC, CONSOLE_PRINCIPAL
from tests.console.break_glass_items import RULES
from tests.console.factories import entry

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def test_a_request_lands_on_the_topic_signed_by_the_console(stack: HubSettings) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    child = secrets.token_hex(32)
    desk_item = entry(linkage_key=child, withheld=("narrative.full_account",))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    request = break_glass_request(
        RULES,
        request_id=str(uuid.uuid4()),
        entry=desk_item,
        requester_subject="u-manager",
        roles=("MASH_MANAGER",),
        reason="IMMEDIATE_RISK_TO_LIFE",
        justification="Synthetic: the child is missing tonight and at risk.",
        requested=["narrative.full_account"],
        at=now,
    )
    reader = await TopicReader(stack, ADMIN_PRINCIPAL, BREAK_GLASS_TOPIC, partitions=1).start()
    producer = make_producer(stack, CONSOLE_PRINCIPAL)
    await producer.start()
    try:
        sender = HubBreakGlassSender(
            producer,
            catalog,
            load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL),
            clock=lambda: now,
        )
        await sender.request_break_glass(request)
        records = await reader.read_until(
            lambda got: any(r.key == child.encode() for r in got), timeout_s=30
        )
    finally:
        await producer.stop()
        await reader.stop()
    (record,) = [r for r in records if r.key == child.encode()]
    verified = open_envelope(catalog, record.value, KeyDirectory.load(stack.keys_dir / "trusted"))
    assert verified.owner == CONSOLE_PRINCIPAL
    decoded = catalog.decode(verified.payload, MessageType.BREAK_GLASS_REQUEST)
    assert str(decoded["request_id"]) == request["request_id"]
    assert decoded["subject_linkage_key"] == child
    assert decoded["requested_paths"] == ["narrative.full_account"]
    assert decoded["reason"] == "IMMEDIATE_RISK_TO_LIFE"
