"""The clinician's emergency access (issue 18) on the real broker, CP-IS's side.

A plan change reaches the register's feed as the gateway delivers it (hub-signed, with the
paths withheld from the register). The clinician asks through CP-IS over HTTP; the request
lands on breakglass.requests.v1 sealed with the CP-IS key, produced as adapter-cpis (whose
ACLs allow nothing more). A grant sealed by the hub on the register's feed reaches the
register's store (as feed-cpis-register), the clinician GETs it: the content is shown after a
ConsoleAccess NOTICE_VIEWED naming the request is on audit.access.v1, sealed with the CP-IS
key and accepted by the audit log's check. The injected clock passes the expiry and the
answer says when access ended. (The real gateway's part: tests/cpis/integration/
test_emergency_end_to_end.py.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from services.cpis.api import create_app
from services.cpis.bootstrap import running_cpis
from services.cpis.service import CpisRuntime
from services.cpis.settings import CpisSettings
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, open_envelope
from services.hubkit.errors import HubError
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    BREAK_GLASS_TOPIC,
    GATEWAY_PRINCIPAL,
    Topology,
)
from tests.cpis.factories import (
    ISSUER,
    REGISTER,
    TokenMint,
    fresh_csc_notice,
    grant_feed_item,
    register_feed_item,
    signed,
    withheld_from_register,
)
from tests.integration.bus import TopicReader, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Running:
    hub: HubSettings
    cpis: httpx.AsyncClient
    runtime: CpisRuntime
    mint: TokenMint
    clock: Clock


@pytest.fixture
async def running(stack: HubSettings, tmp_path: Path) -> AsyncIterator[Running]:
    mint, clock = TokenMint(), Clock()
    settings = CpisSettings(
        token_issuer=ISSUER,
        database_path=tmp_path / "cpis" / "register.db",
        store_key_path=tmp_path / "cpis" / "store.key",
        outbox_retry_s=0.5,
    )
    app = create_app(lambda: running_cpis(stack, settings, validator=mint.validator(), clock=clock))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as http:
            yield Running(stack, http, app.state.runtime, mint, clock)


async def _as_gateway(hub: HubSettings, item: dict[str, Any]) -> None:
    """Write a FeedItem to the register's feed as the gateway does: hub-signed."""
    catalog = SchemaCatalog(hub.schemas_dir)
    value = signed(catalog, load_signing_key(hub.keys_dir, GATEWAY_PRINCIPAL), item)
    producer = make_producer(hub, GATEWAY_PRINCIPAL)
    await producer.start()
    try:
        await producer.send_and_wait(
            f"feed.{REGISTER}.v1", value=value, key=str(item["subject_linkage_key"]).encode()
        )
    finally:
        await producer.stop()


async def test_a_clinicians_request_and_view_travel_signed_by_cp_is(
    running: Running, topology: Topology
) -> None:
    hub = running.hub
    catalog = SchemaCatalog(hub.schemas_dir)
    trusted = KeyDirectory.load(hub.keys_dir / "trusted")
    cpis_principal = topology.agency("CPIS").principal
    notice = fresh_csc_notice()
    nhs_number = notice["subject"]["nhs_number"]
    linkage_key = notice["subject"]["linkage_key"].encode()
    item = register_feed_item(notice)
    item["fields_withheld"] = withheld_from_register(notice)

    requests = await TopicReader(hub, "admin", BREAK_GLASS_TOPIC).start()
    views = await TopicReader(hub, "admin", AUDIT_ACCESS_TOPIC).start()
    try:
        await _as_gateway(hub, item)
        store = running.runtime.store
        assert await wait_for(lambda: bool(store.plans(nhs_number)), timeout_s=60)
        headers = {"Authorization": f"Bearer {running.mint.token()}"}
        url = f"/cpis/children/{nhs_number}/break-glass"
        asked = await running.cpis.post(
            url,
            json={
                "setting": "ED",
                "reason": "CHILD_PRESENTING_NOW",
                "justification": "In ED now with injuries; need the plan's summary.",
                "paths": ["narrative.summary"],
            },
            headers=headers,
        )
        assert asked.status_code == 202, asked.text
        request_id = asked.json()["request_id"]

        def requested(records: list[ConsumerRecord]) -> bool:
            return any(r.key == linkage_key for r in records)

        (record,) = [
            r for r in await requests.read_until(requested, timeout_s=30) if r.key == linkage_key
        ]
        envelope = open_envelope(catalog, record.value, trusted)
        assert envelope.owner == cpis_principal
        request = catalog.decode(envelope.payload, MessageType.BREAK_GLASS_REQUEST)
        assert str(request["request_id"]) == request_id
        assert request["notice_id"] == notice["notice_id"]
        assert request["subscriber_id"] == REGISTER
        assert request["requester_role"] == "UNSCHEDULED_CARE_CLINICIAN"
        assert request["requested_paths"] == ["narrative.summary"]

        status_url = f"/cpis/break-glass/{request_id}"
        assert (await running.cpis.get(status_url, headers=headers)).json() == {"status": "waiting"}
        grant = grant_feed_item(
            notice,
            request_id=request_id,
            paths=("narrative.summary",),
            expires_at=NOW + dt.timedelta(hours=4),
        )
        await _as_gateway(hub, grant)

        def granted() -> bool:
            answer = store.emergency_answer(request_id)
            return answer is not None and answer.grant is not None

        assert await wait_for(granted, timeout_s=60), "the grant did not reach the register"
        shown = await running.cpis.get(status_url, headers=headers)
        assert shown.status_code == 200, shown.text
        assert shown.json()["fields"] == {"narrative.summary": notice["narrative"]["summary"]}

        def viewed(records: list[ConsumerRecord]) -> bool:
            return any(_view_of(catalog, trusted, r, request_id) for r in records)

        (view,) = [
            v
            for v in (
                _view_of(catalog, trusted, r, request_id)
                for r in await views.read_until(viewed, timeout_s=30)
            )
            if v is not None
        ]
        assert view["event"] == "NOTICE_VIEWED"
        assert view["feed"]["subscriber_id"] == REGISTER

        running.clock.now = NOW + dt.timedelta(hours=4, seconds=1)
        ended = await running.cpis.get(status_url, headers=headers)
        assert ended.json()["status"] == "ended"
    finally:
        await requests.stop()
        await views.stop()


def _view_of(
    catalog: SchemaCatalog, trusted: KeyDirectory, record: ConsumerRecord, request_id: str
) -> dict[str, Any] | None:
    """The access event in `record` when it is a CP-IS view of this grant the audit log's
    check accepts."""
    try:  # other tests write forged and bare records here on purpose
        envelope = open_envelope(catalog, record.value, trusted)
    except HubError:
        return None
    if envelope.owner != "adapter-cpis":
        return None
    opened = open_audit_record(catalog, record.value, trusted, topic=AUDIT_ACCESS_TOPIC)
    if str(opened.record.get("break_glass_request_id")) != request_id:
        return None
    assert uuid.UUID(str(opened.record["access_id"]))
    return opened.record
