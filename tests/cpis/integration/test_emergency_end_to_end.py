"""The clinician's emergency access end to end (issue 18), real all the way: the CSC adapter's
signed plan change -> the real gateway and OPA (R13 gives the register the CP-IS minimum and
withholds the rest) -> the register -> a clinician asks through CP-IS over HTTP -> the
gateway's break-glass component grants on the register's feed (and alerts the LA's emergency
duty team) -> the clinician GETs the content: a NOTICE_VIEWED from CP-IS naming the request is
on audit.access.v1 and the real audit indexer logs it as an access entry, not REJECTED ->
the injected clock passes the expiry and the answer says access ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.indexer import EntryKind
from services.audit.service import AuditIndexer, build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.cpis.api import create_app
from services.cpis.bootstrap import running_cpis
from services.cpis.settings import CpisSettings
from services.gateway.bootstrap import build_break_glass, build_gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.errors import HubError
from services.hubkit.feed_items import open_feed_message
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, AUDIT_TOPIC, Topology
from tests.audit.integration.produce import audit_end_offset
from tests.cpis.factories import ISSUER, REGISTER, TokenMint, fresh_csc_notice
from tests.gateway.loop_fakes import FakeChildContext
from tests.integration.bus import TopicReader, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now


@contextlib.asynccontextmanager
async def _indexer(stack: HubSettings, tmp_path: Path) -> AsyncIterator[AuditIndexer]:
    """The real audit indexer on a fresh log from the current end of both audit topics."""
    settings = AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        origin=f"safehub.audit.cpis-{uuid.uuid4().hex[:8]}",
        start_offset=await audit_end_offset(stack),
        access_start_offset=await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
        checkpoint_interval_s=0.5,
        poll_timeout_ms=200,
    )
    store = open_store(settings.database_url_for(stack))
    indexer = build_indexer(stack, settings, store=store, log_key=Ed25519PrivateKey.generate())
    running = asyncio.create_task(indexer.run())
    try:
        await asyncio.wait_for(indexer.started(), timeout=60)
        yield indexer
    finally:
        indexer.stop()
        await running
        store.close()


@contextlib.asynccontextmanager
async def _running(component: Any) -> AsyncIterator[None]:
    task = asyncio.create_task(component.run())
    try:
        yield
    finally:
        component.stop()
        await task


async def _publish_as_csc_adapter(
    stack: HubSettings, topology: Topology, notice: dict[str, Any]
) -> None:
    agency = topology.agency("CHILDRENS_SERVICES")
    producer = make_producer(stack, agency.principal)
    await producer.start()
    try:
        publisher = NoticePublisher(
            producer=producer,
            catalog=SchemaCatalog(stack.schemas_dir),
            agency=agency,
            signing_key=load_signing_key(stack.keys_dir, agency.principal),
        )
        assert await publisher.publish(notice) == notice["notice_id"]
    finally:
        await producer.stop()


async def test_a_clinician_is_granted_plan_detail_every_view_is_logged_and_it_ends(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    trusted = KeyDirectory.load(stack.keys_dir / "trusted")
    notice = fresh_csc_notice()
    nhs_number = notice["subject"]["nhs_number"]
    mint, clock = TokenMint(), Clock()
    headers = {"Authorization": f"Bearer {mint.token()}"}
    settings = CpisSettings(
        token_issuer=ISSUER,
        database_path=tmp_path / "cpis" / "register.db",
        store_key_path=tmp_path / "cpis" / "store.key",
        outbox_retry_s=0.5,
    )
    app = create_app(lambda: running_cpis(stack, settings, validator=mint.validator(), clock=clock))
    owner_desk = "emergency-duty-team"
    alerts = await TopicReader(stack, "admin", f"feed.{owner_desk}.v1").start()
    views = await TopicReader(stack, "admin", AUDIT_ACCESS_TOPIC).start()
    decisions = await TopicReader(stack, "admin", AUDIT_TOPIC).start()
    gateway_settings = GatewaySettings(engine="opa")
    try:
        async with (
            _indexer(stack, tmp_path) as indexer,
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://cpis.test"
            ) as cpis,
        ):
            runtime = app.state.runtime
            store = runtime.store

            # The LA's plan change, decided by the real gateway: the register gets R13's view.
            await _publish_as_csc_adapter(stack, topology, notice)
            gateway = build_gateway(stack, gateway_settings, child_context=FakeChildContext())
            async with _running(gateway):
                assert await wait_for(lambda: bool(store.plans(nhs_number)), timeout_s=120), (
                    "the register did not get the plan from the gateway"
                )
            (held,) = store.held_notices(nhs_number)
            assert "narrative.summary" in held.fields_withheld

            offer = await cpis.get(f"/cpis/children/{nhs_number}/break-glass", headers=headers)
            assert offer.status_code == 200, offer.text
            assert "narrative.summary" in [p["path"] for p in offer.json()["paths"]]
            asked = await cpis.post(
                f"/cpis/children/{nhs_number}/break-glass",
                json={
                    "setting": "ED",
                    "reason": "CHILD_PRESENTING_NOW",
                    "justification": "In ED at 3 a.m. with injuries; need the plan summary.",
                    "paths": ["narrative.summary"],
                },
                headers=headers,
            )
            assert asked.status_code == 202, asked.text
            request_id = asked.json()["request_id"]
            status_url = f"/cpis/break-glass/{request_id}"

            def granted() -> bool:
                answer = store.emergency_answer(request_id)
                return answer is not None and (
                    answer.grant is not None or answer.refused is not None
                )

            async with _running(build_break_glass(stack, gateway_settings)):
                assert await wait_for(granted, timeout_s=120), "the gateway did not answer"
            shown = await cpis.get(status_url, headers=headers)
            assert shown.status_code == 200, shown.text
            body = shown.json()
            assert body["status"] == "granted", body
            assert body["fields"] == {"narrative.summary": notice["narrative"]["summary"]}
            assert "full_account" not in str(body)

            # The view: a CP-IS-signed NOTICE_VIEWED naming the request, logged as an access
            # entry by the real indexer.
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
            access_id = str(view["access_id"])

            def logged() -> bool:
                return bool(indexer.store.leaves_for_entry(access_id))

            assert await wait_for(logged, timeout_s=60), "the indexer did not log the view"
            (leaf,) = indexer.store.leaves_for_entry(access_id)
            assert leaf.kind is EntryKind.CONSOLE_ACCESS

            # The grant was a break-glass SHARING_DECISION, and the LA's duty team was told.
            def alerted(records: list[ConsumerRecord]) -> bool:
                return any(_alert_for(catalog, trusted, r, request_id) for r in records)

            await alerts.read_until(alerted, timeout_s=30)

            def audited(records: list[ConsumerRecord]) -> bool:
                return any(_grant_audit(catalog, trusted, r, notice["notice_id"]) for r in records)

            await decisions.read_until(audited, timeout_s=30)

            clock.now += dt.timedelta(hours=4)
            ended = await cpis.get(status_url, headers=headers)
            assert ended.json()["status"] == "ended"
            assert "fields" not in ended.json()
            after = store.emergency_answer(request_id)
            assert after is not None
            assert after.grant is not None
            assert after.grant.view is None
    finally:
        for reader in (alerts, views, decisions):
            await reader.stop()


def _view_of(
    catalog: SchemaCatalog, trusted: KeyDirectory, record: ConsumerRecord, request_id: str
) -> dict[str, Any] | None:
    try:  # other tests write forged and bare records here on purpose
        opened = open_audit_record(catalog, record.value, trusted, topic=AUDIT_ACCESS_TOPIC)
    except HubError:
        return None
    if str(opened.record.get("break_glass_request_id")) != request_id:
        return None
    assert opened.record["feed"]["subscriber_id"] == REGISTER
    return opened.record


def _alert_for(
    catalog: SchemaCatalog, trusted: KeyDirectory, record: ConsumerRecord, request_id: str
) -> bool:
    try:
        message = open_feed_message(catalog, trusted, record.value)
    except HubError:
        return False
    return (
        message.message_type is MessageType.BREAK_GLASS_ALERT
        and str(message.record["request_id"]) == request_id
        and message.record["granted_to_subscriber_id"] == REGISTER
    )


def _grant_audit(
    catalog: SchemaCatalog, trusted: KeyDirectory, record: ConsumerRecord, notice_id: str
) -> bool:
    try:
        opened = open_audit_record(catalog, record.value, trusted, topic=AUDIT_TOPIC)
    except HubError:
        return False
    audit = opened.record
    return (
        audit["notice_id"] == notice_id
        and audit["event"] == "SHARING_DECISION"
        and bool(audit.get("break_glass"))
        and audit["recipient"]["subscriber_id"] == REGISTER
    )
