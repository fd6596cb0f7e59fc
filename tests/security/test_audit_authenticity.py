"""Attacks on the audit log against the real broker (issue 13, defect 4, and the "free text
into the permanent audit log" part of defect 7).

- As the console's principal, a forged sharing decision on `audit.decisions.v1` is refused
  by the broker's ACLs (before the fix the console could write that topic, and the indexer
  logged whatever it wrote as a decision).
- On `audit.access.v1`, what the console principal writes is entered only when the console's
  key signed a ConsoleAccess event of bounded form: unsigned, agency-signed, hub-signed,
  wrong-schema and free-text records are rejected (a REJECTED entry with reason and digest,
  a counter, a log line), never entered as a decision; the same holds for an unsigned
  decision written with the gateway's own broker credential. A genuine console access event
  (from the console's own HTTP edge) and a genuine gateway-signed decision are entered.
- Free text an attacker puts in a request (a console URL, an IG API query, a token subject)
  never reaches the log: only ids of a bounded form, digests and counts do.

The real audit indexer runs in process against the real broker; the IG API runs under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.audit.api import create_app as audit_api
from services.audit.indexer import EntryKind, decode_access
from services.audit.service import AuditIndexer, build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage import AuditStore, StoredLeaf
from services.audit.storage_sql import open_store
from services.console.app import create_app as console_app
from services.console.domain.decisions import DecisionOrigin
from services.console.domain.projection import FeedProjection
from services.console.feeds import ChangeHub
from services.console.outbound import AuditRefusalRecorder
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.audit_trail import ACCESS_STREAM, seal_audit_record
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import load_signing_key, seal
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_TOPIC,
    CONSOLE_PRINCIPAL,
    GATEWAY_PRINCIPAL,
    Topology,
)
from tests.audit.integration.produce import audit_end_offset, produce_audit_records
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp, idp
from tests.audit.records import audit_records
from tests.audit.serve import serve
from tests.factories import FIXED_NOW, notices
from tests.integration.bus import require_topic_access

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

__all__ = ["idp"]  # the IG API's identity provider (a JWKS over HTTP), as a fixture

# What an attacker types. None of it may ever be in the log, in any encoding we write.
FREE_TEXT = "Robin Example lives at 1 Test Street; IGNORE PREVIOUS ENTRIES"
MARKERS = (b"Robin Example", b"Test Street", b"IGNORE", b"Robin%20Example")


def _access_event(**changes: Any) -> dict[str, Any]:
    """A ConsoleAccess event as the console writes one (refused: not in the person's feed)."""
    return {
        "access_id": str(uuid.uuid4()),
        "event": "ACCESS_REFUSED",
        "refusal_reason": "NOT_IN_FEED",
        "at": FIXED_NOW,
        "actor": "u-social-7",
        "actor_roles": ["SOCIAL_WORKER"],
        "feed": None,
        "notice_id": None,
        "retention_review_date": FIXED_NOW.date(),
        "linkage": None,
        "search": None,
        "research": None,
        "consultation": None,
        "amendment": None,
        "retraction_id": None,
        "break_glass_request_id": None,
        **changes,
    }


async def _produce(producer: AIOKafkaProducer, topic: str, values: Iterable[bytes]) -> list[int]:
    offsets = []
    for value in values:
        meta = await asyncio.wait_for(producer.send_and_wait(topic, value), timeout=30)
        offsets.append(meta.offset)
    return offsets


async def _produce_as(
    stack: HubSettings, principal: str, topic: str, values: list[bytes]
) -> list[int]:
    producer = make_producer(stack, principal)
    await producer.start()
    try:
        return await _produce(producer, topic, values)
    finally:
        await producer.stop()


async def _produce_as_gateway(stack: HubSettings, values: list[bytes]) -> None:
    """Raw bytes on the decisions topic with the gateway's broker credential (the only
    principal allowed to write it), in a transaction as the gateway writes."""
    producer = make_producer(
        stack, GATEWAY_PRINCIPAL, transactional_id=f"safehub-gateway-sec-{uuid.uuid4()}"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        for value in values:
            await producer.send(AUDIT_TOPIC, value)
        await producer.commit_transaction()
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def _indexer(stack: HubSettings, tmp_path: Path) -> AsyncIterator[AuditIndexer]:
    """The real indexer on a fresh log that starts at the current end of both audit topics."""
    settings = AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        origin=f"safehub.audit.sec-{uuid.uuid4().hex[:8]}",
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


def _leaves(store: AuditStore) -> list[StoredLeaf]:
    return store.leaves(0, store.head().size)


async def _until_logged(
    store: AuditStore,
    want: int,
    topic: str,
    timeout_s: float = 120,
    *,
    offsets: Iterable[int] | None = None,
) -> list[StoredLeaf]:
    """Wait until the log holds `want` entries read from `topic` (only from `offsets`, when
    given: a console elsewhere in the test run may write its own access events meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    wanted = None if offsets is None else set(offsets)
    while True:
        found = [
            x
            for x in _leaves(store)
            if x.source is not None
            and x.source.topic == topic
            and (wanted is None or x.source.offset in wanted)
        ]
        if len(found) >= want:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {len(found)} of {want} {topic} records were logged")
        await asyncio.sleep(0.2)


# -- 1. the console principal cannot write a decision -----------------------------------------


async def test_the_console_principal_cannot_write_the_decisions_topic(stack: HubSettings) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    record = audit_records(notices(41).notice("SAFEGUARDING_CONTACT"))[0]
    forged = [
        catalog.encode(MessageType.AUDIT_RECORD, record),
        seal(
            catalog,
            catalog.encode(MessageType.AUDIT_RECORD, record),
            load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL),
            FIXED_NOW,
        ),
    ]
    producer = make_producer(stack, CONSOLE_PRINCIPAL)
    await producer.start()
    try:
        for value in forged:
            with pytest.raises(TopicAuthorizationFailedError):
                await _produce(producer, AUDIT_TOPIC, [value])
        # ...while its own topic stays writable (write-only: it cannot read it back).
        event = seal(
            catalog,
            catalog.encode(MessageType.CONSOLE_ACCESS, _access_event()),
            load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL),
            FIXED_NOW,
        )
        assert len(await _produce(producer, AUDIT_ACCESS_TOPIC, [event])) == 1
    finally:
        await producer.stop()
    with pytest.raises(TopicAuthorizationFailedError):
        await require_topic_access(stack, CONSOLE_PRINCIPAL, AUDIT_TOPIC)


# -- 2. the indexer enters only what its topic's producer signed ------------------------------


async def test_forged_records_are_rejected_and_reported_genuine_ones_entered(
    stack: HubSettings, topology: Topology, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    console_key = load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL)
    agency_key = load_signing_key(stack.keys_dir, topology.agency("POLICE").principal)
    hub_key = load_signing_key(stack.keys_dir, GATEWAY_PRINCIPAL)
    notice = notices(uuid.uuid4().int % 10**6).notice("SAFEGUARDING_CONTACT")
    genuine_decision, forged_decision = audit_records(notice)[:2]
    as_decision = catalog.encode(MessageType.AUDIT_RECORD, forged_decision)

    def sealed(payload: bytes, key: Any) -> bytes:
        return seal(catalog, payload, key, FIXED_NOW)

    def access(**changes: Any) -> bytes:
        return catalog.encode(MessageType.CONSOLE_ACCESS, _access_event(**changes))

    genuine_access = _access_event()
    # What the console principal writes to its topic, and what the log must make of each.
    on_access_topic = [
        (access(), "NOT_SIGNED"),  # unsigned
        (sealed(access(), agency_key), "WRONG_SIGNER"),  # an agency's key
        (sealed(access(), hub_key), "WRONG_SIGNER"),  # not even the hub's key counts here
        (sealed(as_decision, console_key), "WRONG_SCHEMA"),  # a decision, console-signed
        (sealed(access(actor=FREE_TEXT), console_key), "TEXT_NOT_BOUNDED"),
        (b"not avro at all: " + FREE_TEXT.encode(), "NOT_SIGNED"),
        (
            # the console's own signing path, as AuditRefusalRecorder uses it
            seal_audit_record(catalog, ACCESS_STREAM, genuine_access, console_key, FIXED_NOW),
            None,
        ),
    ]
    async with _indexer(stack, tmp_path) as indexer:
        caplog.set_level(logging.WARNING, logger="safehub.audit")
        ours = await _produce_as(
            stack, CONSOLE_PRINCIPAL, AUDIT_ACCESS_TOPIC, [v for v, _ in on_access_topic]
        )
        # The gateway's broker credential without the hub key: an unsigned decision.
        await _produce_as_gateway(stack, [as_decision])
        await produce_audit_records(stack, [genuine_decision])  # hub-signed, as the gateway
        access_leaves = await _until_logged(
            indexer.store, len(on_access_topic), AUDIT_ACCESS_TOPIC, offsets=ours
        )
        decision_leaves = await _until_logged(indexer.store, 2, AUDIT_TOPIC)
        stats = indexer.stats

    by_offset = sorted(access_leaves, key=lambda x: x.source.offset if x.source else 0)
    for leaf, (_, reason) in zip(by_offset, on_access_topic, strict=True):
        if reason is None:
            assert leaf.kind is EntryKind.CONSOLE_ACCESS
            assert leaf.entry_id == genuine_access["access_id"]
        else:
            assert leaf.kind is EntryKind.REJECTED, reason
            assert leaf.data.startswith(b"safehub.audit.rejected.v1\n")
            assert f'"reason":"{reason}"'.encode() in leaf.data
    assert {x.kind for x in decision_leaves} == {EntryKind.DECISION, EntryKind.REJECTED}
    (entered,) = [x for x in decision_leaves if x.kind is EntryKind.DECISION]
    assert entered.entry_id == genuine_decision["decision_id"]
    # The forged decision exists nowhere in the log as a decision (nor as anything else
    # with its id): only as a rejection by digest.
    assert indexer.store.leaves_for_entry(str(forged_decision["decision_id"])) == []

    # Reported: a counter per topic and reason, and a log line naming no content.
    assert stats.rejected[f"{AUDIT_ACCESS_TOPIC} WRONG_SIGNER"] == 2
    assert stats.rejected[f"{AUDIT_ACCESS_TOPIC} NOT_SIGNED"] == 2
    assert stats.rejected[f"{AUDIT_ACCESS_TOPIC} WRONG_SCHEMA"] == 1
    assert stats.rejected[f"{AUDIT_ACCESS_TOPIC} TEXT_NOT_BOUNDED"] == 1
    assert stats.rejected[f"{AUDIT_TOPIC} NOT_SIGNED"] == 1
    rejected_lines = [r for r in caplog.records if r.getMessage() == "audit record rejected"]
    assert len(rejected_lines) >= 7
    for line in caplog.records:
        assert "Robin" not in line.getMessage()
        assert "Robin" not in str(line.__dict__)
    # No attacker text anywhere in the permanent log.
    _assert_no_free_text(_leaves(indexer.store))


# -- 3. queryable: the IG API lists rejections and console access events ----------------------


async def test_the_ig_api_shows_rejections_and_console_access_events_apart_from_decisions(
    stack: HubSettings, tmp_path: Path, idp: LocalIdp
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    console_key = load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL)
    genuine = _access_event()
    async with _indexer(stack, tmp_path) as indexer:
        await _produce_as(
            stack,
            CONSOLE_PRINCIPAL,
            AUDIT_ACCESS_TOPIC,
            [
                catalog.encode(MessageType.CONSOLE_ACCESS, _access_event()),
                seal_audit_record(catalog, ACCESS_STREAM, genuine, console_key, FIXED_NOW),
            ],
        )
        await _until_logged(indexer.store, 2, AUDIT_ACCESS_TOPIC)
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    settings = AuditSettings(
        database_url=url, jwks_url=idp.jwks_url, token_issuer=ISSUER, token_audience=AUDIENCE
    )
    with serve(audit_api(settings, stack)) as http:
        auth = {"Authorization": f"Bearer {idp.token()}"}
        rejections = http.get("/v1/rejections", headers=auth).json()
        events = http.get("/v1/console-access", headers=auth).json()
        decisions = http.get("/v1/decisions", headers=auth).json()
    assert rejections["total"] == 1
    (rejection,) = rejections["items"]
    assert (rejection["reason"], rejection["topic"]) == ("NOT_SIGNED", AUDIT_ACCESS_TOPIC)
    assert len(rejection["sha256"]) == 64
    assert events["total"] == 1
    (event,) = events["items"]
    assert event["access_id"] == genuine["access_id"]
    assert event["refusal_reason"] == "NOT_IN_FEED"
    assert event["signed_by"] == console_key.key_id
    assert decisions["returned"] == 0  # neither is a decision


# -- 4. free text in requests never reaches the log -------------------------------------------


class _SignIn:
    """The identity provider's answer for one sign-in: claims whose subject is free text
    (a provider that passes a user-chosen name through as `sub`)."""

    def __init__(self, claims: Mapping[str, Any]) -> None:
        self._claims = claims

    async def redirect(self, request: Request, redirect_uri: str) -> Response:
        request.session["_state"] = "pending"
        return RedirectResponse("/auth/callback", status_code=302)

    async def complete(self, request: Request) -> Mapping[str, Any]:
        return self._claims


class _NoDecisions:
    async def send(self, notice: Mapping[str, Any]) -> str:
        raise AssertionError("no decision is sent in these tests")


async def test_free_text_in_console_requests_never_reaches_the_log(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    catalog = SchemaCatalog(stack.schemas_dir)
    producer = make_producer(stack, CONSOLE_PRINCIPAL)
    signin = _SignIn(
        {
            "sub": FREE_TEXT,
            "name": "Robin Example",
            "roles": ["MASH_MANAGER", f"<{FREE_TEXT}>"],
            "organisation": "LA-E09000099",
        }
    )

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield ConsoleRuntime(
            settings=settings,
            topology=topology,
            timescales=settings.timescales(),
            agencies={a.code: a.name for a in topology.agencies},
            projections={
                s.subscriber_id: FeedProjection(s.subscriber_id)
                for s in topology.subscribers
                if s.role in settings.console_roles
            },
            changes=ChangeHub(),
            sessions=sessions,
            signin=signin,
            decisions=_NoDecisions(),
            # The real recorder: the console's key, the console's principal, the real topic.
            refusals=AuditRefusalRecorder(
                producer,
                catalog,
                load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL),
                clock=lambda: FIXED_NOW,
            ),
            decision_roles=frozenset({"MASH_MANAGER"}),
            origin=DecisionOrigin("MASH", "MASH-E09000099", "MASH manager", "MASH", "0300"),
        )

    app = console_app(stack, settings, runtime=runtime)
    async with _indexer(stack, tmp_path) as indexer:
        await producer.start()
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://console.test"
                ) as http,
            ):
                await http.get("/login")
                assert (await http.get("/auth/callback")).status_code == 303
                refused = await http.get(f"/items/{FREE_TEXT}", params={"why": FREE_TEXT})
                assert refused.status_code == 403
                assert (await http.get(f"/children/{FREE_TEXT}")).status_code == 403
        finally:
            await producer.stop()
        leaves = await _until_logged(indexer.store, 2, AUDIT_ACCESS_TOPIC)
    assert all(x.kind is EntryKind.CONSOLE_ACCESS for x in leaves), [x.kind for x in leaves]
    _assert_no_free_text(leaves)


async def test_free_text_in_ig_queries_never_reaches_the_log(
    stack: HubSettings, tmp_path: Path, idp: LocalIdp
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    open_store(url).close()
    settings = AuditSettings(
        database_url=url, jwks_url=idp.jwks_url, token_issuer=ISSUER, token_audience=AUDIENCE
    )
    with serve(audit_api(settings, stack)) as http:
        # Any signed-in caller: even one refused for want of the IG role is logged.
        for token in (idp.token(), idp.token(subject="duty-sw-1", roles=["SOCIAL_WORKER"])):
            http.get(
                f"/v1/subjects/{FREE_TEXT}/access-report",
                params={"decided_from": FREE_TEXT, "note": FREE_TEXT, FREE_TEXT: "x"},
                headers={"Authorization": f"Bearer {token}"},
            )
            http.get(
                "/v1/decisions",
                params={"recipient": FREE_TEXT, "outcome": FREE_TEXT, "rule_id": "R9"},
                headers={"Authorization": f"Bearer {token}"},
            )
    store = open_store(url)
    try:
        leaves = _leaves(store)
    finally:
        store.close()
    assert len(leaves) == 4
    assert all(x.kind is EntryKind.ACCESS for x in leaves)
    _assert_no_free_text(leaves)
    first = decode_access(leaves[0].data)
    assert first["parameters"]["subject_linkage_key"].startswith("sha256:")
    assert first["parameters"]["decided_from"].startswith("sha256:")
    assert first["parameters"]["undeclared_parameters"] == "2"
    second = decode_access(leaves[1].data)
    assert second["parameters"]["rule_id"] == "R9"  # ids of a bounded form stay readable


def _assert_no_free_text(leaves: Iterable[StoredLeaf]) -> None:
    for leaf in leaves:
        for marker in MARKERS:
            assert marker not in leaf.data, (leaf.kind, leaf.data[:300])
        for name in leaf.columns.__slots__:
            assert "Robin" not in str(getattr(leaf.columns, name))
        assert "Robin" not in leaf.entry_id
