"""Emergency access ("break-glass", issue 18 part 3's "done means") in real Chromium against the
real hub: real broker, real OPA, the real gateway and its break-glass component, the real
identity provider and console, and the real audit indexer and IG API.

A police intelligence report with handling code C (R5: the MASH manager is told only that
police hold confidential information) is published as the police adapter publishes it and
decided by the gateway with OPA. The MASH manager sees the flag, asks on the notice page for
two withheld fields (the sanitised intelligence and the summary, never the source) with a
reason and their own words; the page says it is waiting; the hub's break-glass component
grants; the panel shows exactly those two fields, "Emergency access until HH:MM; every view is
recorded". A colleague at the same desk sees none of it. Every view under the grant is a
console-signed NOTICE_VIEWED event carrying the request id; the grant's hub-signed audit
record is marked break_glass with the justification.

Expiry runs on the console's injected clock (ConsoleRuntime.clock; no waiting for hours): a
minute before `expires_at` the content is still shown; at `expires_at` the page says when
access ended and the content is gone from the page and from the console's SQLite files (the
sealed bytes searched for in the raw files, as the withdrawn-notice test does).

The review: an audit indexer reads the real audit topics from the offsets at the test's start
into its own store; the audit API (real uvicorn, tokens from a JWKS over HTTP) gives the police
IG officer the grant in the review queue; JUSTIFIED with a note is logged as an access entry
and the decision mix counts it. Last, the owner's alert: a BREAK_GLASS_ALERT_DELIVERED audit
record for the police alert desk with the grant's request id.
Screenshot: artifacts/screenshots/break-glass.png.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.async_api import Page, expect

from services.audit.api import ACCESS_LEAF_HEADER, create_app
from services.audit.indexer import decode_access
from services.audit.service import build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage_sql import SqlAuditStore, open_store
from services.console.domain.deadlines import local_time_text
from services.console.domain.labels import field_label
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.break_glass import BreakGlassRules, alert_id, grant_decision_id
from services.hubkit.envelope import open_envelope
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_TOPIC,
    CONSOLE_PRINCIPAL,
    GATEWAY_PRINCIPAL,
)
from services.identity.users import DEFAULT_USERS_FILE
from tests.audit.integration.produce import audit_end_offset
from tests.audit.jwks import ISSUER, LocalIdp, idp
from tests.audit.serve import serve
from tests.console.browser.conftest import (
    Agencies,
    BreakGlassComponent,
    console_ready,
    sign_in,
)
from tests.console.browser.test_console_in_browser import Bus
from tests.console.harness import ConsoleServers, console_servers
from tests.integration.bus import TopicReader

__all__ = ["idp"]  # the audit tests' JWKS-serving identity provider, as a fixture here

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(600)]

DESK = "mash-manager"
ASKED = ("detail.sanitised_text", "narrative.summary")
"""Two of the fields R5 withholds from the manager for handling code C (never the source)."""
REASON = "CHILD_PRESENTING_NOW"
JUSTIFICATION = "Synthetic: the child is at the front desk now and says they cannot go home."
NOTE = "Synthetic review: the child was with a professional and at risk; access was justified."
LONDON = "Europe/London"


class ConsoleClock:
    """The console's 'now' (ConsoleRuntime.clock): real time until the test sets it."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def clock() -> ConsoleClock:
    return ConsoleClock()


@pytest.fixture(scope="module")
async def servers(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory, clock: ConsoleClock
) -> AsyncIterator[ConsoleServers]:
    """The conftest's servers, with the console's clock injected (this module's `clock`)."""
    async with console_servers(stack, tmp_path_factory.mktemp("console"), clock=clock) as running:
        await console_ready(running)
        yield running


def _users() -> dict[str, dict[str, Any]]:
    users = json.loads(DEFAULT_USERS_FILE.read_text(encoding="utf-8"))["users"]
    return {str(u["username"]): u for u in users}


def _intelligence(agencies: Agencies, markers: dict[str, str]) -> dict[str, Any]:
    """A police intelligence report, handling C, whose text fields carry the markers."""
    notice = agencies.synthetic.notice("POLICE_INTELLIGENCE")
    notice["intelligence_grading"]["handling_code"] = "C"
    notice["intelligence_grading"]["intelligence_assessment"] = "B"  # not E: no review hold
    notice["detail"]["sanitised_text"] = f"Synthetic sanitised intelligence {markers['granted']}."
    notice["narrative"]["summary"] = f"Synthetic summary {markers['summary']}."
    notice["narrative"]["full_account"] = f"Synthetic full account {markers['not_asked']}."
    notice["detail"]["source_details"] = f"Synthetic source detail {markers['not_asked']}."
    return notice


def _console_files(store: Path) -> bytes:
    """The console's database with its write-ahead log and shared memory, as bytes."""
    return b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))


def _sealed_grant(store: Path, request_id: str) -> bytes | None:
    """The grant's sealed content as the console's database holds it (None: deleted)."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT item_sealed FROM break_glass_grants WHERE request_id = ?", (request_id,)
        ).fetchone()
    assert row is not None, "the console kept no row for the grant"
    return None if row[0] is None else bytes(row[0])


async def _open_item(page: Page, url: str, *, within_s: float = 30) -> None:
    """Open the notice page once the console holds the item (it applies what the feed
    released within a poll; until then the page is a refusal)."""
    deadline = time.monotonic() + within_s
    while True:
        opened = await page.goto(url)
        if opened is not None and opened.status == 200:
            return
        assert time.monotonic() < deadline, f"the console never showed {url}"
        await asyncio.sleep(0.2)


async def _reload_until_granted(page: Page, *, within_s: float = 60) -> None:
    """Reload the notice page until its panel shows the grant (the console applies it from
    the feed within a poll). Each load before that is a view without the grant."""
    title = page.locator("#emergency-title")
    deadline = time.monotonic() + within_s
    while "until" not in (await title.inner_text()):
        assert time.monotonic() < deadline, "the grant never reached the page"
        await asyncio.sleep(0.2)
        await page.reload()


class Collected:
    """A topic read from the test's start, keeping everything read (hubkit's read_until
    returns only what one call read, and a record wanted later may come in an earlier batch)."""

    def __init__(self, reader: TopicReader) -> None:
        self.reader = reader
        self.records: list[ConsumerRecord] = []

    async def until(
        self, done: Callable[[list[ConsumerRecord]], bool], *, timeout_s: float
    ) -> list[ConsumerRecord]:
        self.records += await self.reader.read_until(
            lambda new: done(self.records + new), timeout_s=timeout_s
        )
        return self.records


def _audit_records(
    bus: Bus, records: list[ConsumerRecord], topic: str
) -> list[tuple[dict[str, Any], str]]:
    """Each verified audit record with the principal whose key sealed it."""
    found = []
    for r in records:
        try:
            record = open_audit_record(bus.catalog, r.value, bus.keys, topic=topic).record
        except AuditRecordRejected:
            continue
        found.append((record, open_envelope(bus.catalog, r.value, bus.keys).owner))
    return found


async def _index_until(
    stack: HubSettings, settings: AuditSettings, store: SqlAuditStore, entry_id: str
) -> None:
    """Run the audit indexer (from the test's start offsets) until `entry_id` is logged."""
    indexer = build_indexer(stack, settings, store=store, log_key=Ed25519PrivateKey.generate())
    running = asyncio.create_task(indexer.run())
    try:
        deadline = time.monotonic() + 120
        while not await asyncio.to_thread(store.leaves_for_entry, entry_id):
            assert not running.done(), "the indexer stopped"
            assert time.monotonic() < deadline, "the grant's audit record was never indexed"
            await asyncio.sleep(0.25)
    finally:
        indexer.stop()
        await running


@pytest.fixture
def review_api(tmp_path: Path, idp: LocalIdp) -> Callable[[str], Any]:
    """The audit API over the given store (real uvicorn, tokens checked against the JWKS)."""

    def serving(database_url: str) -> Any:
        settings = AuditSettings(
            database_url=database_url, jwks_url=idp.jwks_url, token_issuer=ISSUER
        )
        return serve(create_app(settings, HubSettings(data_dir=tmp_path / "audit-api")))

    return serving


def _mix(client: httpx.Client, headers: dict[str, str], day: dt.date) -> dict[tuple[str, str], int]:
    """The decision mix's break-glass table around `day`: (recipient, review) -> grants."""
    answer = client.get(
        f"/v1/figures/decision-mix?from={day - dt.timedelta(days=1)}"
        f"&to={day + dt.timedelta(days=2)}&format=csv&table=break_glass_by_recipient_and_review",
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    lines = answer.text.splitlines()
    assert lines[0] == "recipient,review,grants"
    rows = (line.split(",") for line in lines[1:])
    return {(recipient, review): int(grants) for recipient, review, grants in rows}


def _review(
    client: httpx.Client, headers: dict[str, str], decision_id: str, store_url: str
) -> None:
    """The grant in the officer's queue; reviewed JUSTIFIED, logged, kept."""
    queue = client.get("/v1/break-glass", headers=headers)
    assert queue.status_code == 200, queue.text
    (item,) = [i for i in queue.json()["items"] if i["decision_id"] == decision_id]
    assert item["desk"] == DESK
    assert item["requester_role"] == "MASH_MANAGER"
    assert item["reason"] == REASON
    assert JUSTIFICATION in item["justification"]
    assert item["paths"] == sorted(ASKED)
    assert item["review"] is None
    kept = client.post(
        f"/v1/break-glass/{decision_id}/review",
        json={"outcome": "JUSTIFIED", "note": NOTE},
        headers=headers,
    )
    assert kept.status_code == 201, kept.text
    leaf = int(kept.headers[ACCESS_LEAF_HEADER])
    store = open_store(store_url)
    try:
        asked = decode_access(store.leaf(leaf).data)
        reviewed = decode_access(store.leaf(leaf + 1).data)
    finally:
        store.close()
    assert asked["action"] == "break_glass_review"
    assert reviewed["action"] == "break_glass_reviewed"
    assert reviewed["parameters"]["decision_id"] == decision_id
    assert reviewed["parameters"]["outcome"] == "JUSTIFIED"
    assert NOTE not in json.dumps(reviewed)  # a keyed digest of the note, never its words
    again = client.get("/v1/break-glass", headers=headers).json()
    (item,) = [i for i in again["items"] if i["decision_id"] == decision_id]
    assert item["review"]["outcome"] == "JUSTIFIED"
    assert item["review"]["note"] == NOTE


async def test_a_break_glass_grant_is_shown_to_its_requester_only_until_it_expires_and_audited(
    stack: HubSettings,
    gateway: None,
    break_glass: BreakGlassComponent,
    servers: ConsoleServers,
    clock: ConsoleClock,
    open_browser: Any,
    agencies: Agencies,
    screenshots: Path,
    idp: LocalIdp,
    review_api: Callable[[str], Any],
    tmp_path: Path,
) -> None:
    bus = Bus(stack)
    rules = BreakGlassRules.load(stack.policies_dir)
    users = _users()
    token = secrets.token_hex(6)
    markers = {
        "granted": f"Bramblewick-{token}",
        "summary": f"Tansyfold-{token}",
        "not_asked": f"Hollowmere-{token}",
    }
    # The test's own window on the audit topics: its indexer starts here.
    audit_settings = AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        origin=f"safehub.audit.break-glass-{uuid.uuid4().hex[:8]}",
        start_offset=await audit_end_offset(stack),
        access_start_offset=await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
        checkpoint_interval_s=0.5,
        poll_timeout_ms=200,
    )
    decisions = Collected(await TopicReader(stack, "audit", AUDIT_TOPIC).start())
    access = Collected(await TopicReader(stack, "audit", AUDIT_ACCESS_TOPIC).start())
    feed = Collected(await TopicReader(stack, f"feed-{DESK}", f"feed.{DESK}.v1").start())

    # 1. Police publish; the gateway (OPA) gives the manager's desk a flag, the text withheld.
    notice = _intelligence(agencies, markers)
    notice_id = await agencies.publish(notice)

    def items(records: list[ConsumerRecord], *, grant: bool) -> list[dict[str, Any]]:
        found = [bus.feed_item(r) for r in records]
        return [
            f
            for f in found
            if str(f["notice_id"]) == notice_id
            and "fields_withheld" in f
            and (f.get("break_glass") is not None) == grant
        ]

    (desk_item,) = items(
        await feed.until(lambda rs: bool(items(rs, grant=False)), timeout_s=120),
        grant=False,
    )
    assert desk_item["outcome"] == "FLAG_ONLY"
    assert set(ASKED) <= set(desk_item["fields_withheld"])
    assert set(ASKED) <= set(rules.grantable(desk_item["fields_withheld"]))

    manager = await sign_in(await open_browser(), servers, "mash.manager")
    item_url = f"{servers.console_url}/items/{notice_id}"
    await _open_item(manager, item_url)
    for marker in markers.values():
        assert marker not in await manager.content()

    # 2. The manager asks: two withheld fields, a reason, their own words.
    panel = manager.locator("section.emergency")
    form = panel.locator("form.emergency-form")
    await expect(form).to_be_visible()  # offered open: nothing asked yet
    for path in ASKED:
        await form.get_by_label(field_label(path), exact=True).check()
    await form.get_by_label(rules.reasons[REASON], exact=True).check()
    await form.get_by_role("textbox", name=re.compile("^In your own words")).fill(JUSTIFICATION)
    await form.get_by_role("button", name="Ask for emergency access").click()
    await expect(manager.locator(".flash")).to_contain_text(
        "Your emergency access request was sent"
    )
    await expect(panel.locator(".waiting")).to_contain_text("Waiting for the hub")
    for marker in markers.values():
        assert marker not in await manager.content()

    # The hub answers: its break-glass component grants on the desk's feed.
    break_glass.start()
    (grant_item,) = items(
        await feed.until(lambda rs: bool(items(rs, grant=True)), timeout_s=120),
        grant=True,
    )
    await feed.reader.stop()
    request_id = str(grant_item["break_glass"]["request_id"])
    expires_at: dt.datetime = grant_item["break_glass"]["expires_at"]
    assert grant_item["break_glass"]["requester_subject"] == users["mash.manager"]["subject"]
    hours = dt.timedelta(hours=rules.grant_hours)  # from the request, on the console's clock
    assert abs(expires_at - (dt.datetime.now(dt.UTC) + hours)) < dt.timedelta(minutes=5)

    await _reload_until_granted(manager)
    views_under_grant = 1
    until = local_time_text(expires_at, now=clock())
    await expect(manager.locator("#emergency-title")).to_have_text(
        f"Emergency access until {until}; every view is recorded"
    )
    # Exactly what was asked for: those two fields, nothing else (never the source).
    labels = await panel.locator("dl.fields dt").all_inner_texts()
    assert sorted(labels) == sorted(field_label(p) for p in ASKED)
    await expect(panel).to_contain_text(markers["granted"])
    await expect(panel).to_contain_text(markers["summary"])
    assert markers["not_asked"] not in await manager.content()
    await manager.screenshot(path=str(screenshots / "break-glass.png"), full_page=True)

    # A colleague at the same desk sees none of it.
    deputy = await sign_in(await open_browser(), servers, "mash.deputy")
    await _open_item(deputy, item_url)
    await expect(deputy.locator("#emergency-title")).to_have_text("Emergency access")
    for marker in markers.values():
        assert marker not in await deputy.content()

    # 4. Expiry on the console's clock: a minute before, still shown...
    clock.fixed = expires_at - dt.timedelta(minutes=1)
    await manager.reload()
    views_under_grant += 1
    await expect(manager.locator("#emergency-title")).to_contain_text("Emergency access until")
    await expect(panel).to_contain_text(markers["granted"])
    store = servers.console.resolved_store_path(stack.data_dir)
    sealed = _sealed_grant(store, request_id)
    assert sealed is not None
    # A long blob spans SQLite overflow pages: search for pieces of it, not the whole.
    pieces = [sealed[i : i + 32] for i in range(0, len(sealed) - 32, 64)]
    assert pieces
    assert any(piece in _console_files(store) for piece in pieces)

    # ...at expires_at, gone: from the page and from the console's files.
    clock.fixed = expires_at
    await manager.reload()
    await expect(panel.locator(".ended")).to_have_text(
        f"Your emergency access ended at {local_time_text(expires_at, now=expires_at)}; "
        "what it showed has been deleted from this console."
    )
    await expect(panel.locator("dl.fields")).to_have_count(0)
    for marker in markers.values():
        assert marker not in await manager.content()
    assert _sealed_grant(store, request_id) is None
    raw = _console_files(store)
    assert not any(piece in raw for piece in pieces)
    for marker in markers.values():
        assert marker.encode() not in raw

    # 3. Every view under the grant: a console-signed NOTICE_VIEWED carrying the request id.
    def views(records: list[ConsumerRecord]) -> list[tuple[dict[str, Any], str]]:
        return [
            (event, owner)
            for event, owner in _audit_records(bus, records, AUDIT_ACCESS_TOPIC)
            if event["event"] == "NOTICE_VIEWED" and event["notice_id"] == notice_id
        ]

    def granted_views(records: list[ConsumerRecord]) -> list[dict[str, Any]]:
        return [e for e, _ in views(records) if e["break_glass_request_id"] is not None]

    seen = views(
        await access.until(lambda rs: len(granted_views(rs)) >= views_under_grant, timeout_s=60)
    )
    await access.reader.stop()
    under_grant = [e for e, _ in seen if e["break_glass_request_id"] is not None]
    assert len(under_grant) == views_under_grant
    assert {str(e["break_glass_request_id"]) for e in under_grant} == {request_id}
    assert {e["actor"] for e in under_grant} == {users["mash.manager"]["subject"]}
    assert all(e["feed"]["subscriber_id"] == DESK for e in under_grant)
    assert {owner for _, owner in seen} == {CONSOLE_PRINCIPAL}
    # The colleague's view was logged too, and carries no grant.
    assert any(e["actor"] == users["mash.deputy"]["subject"] for e, _ in seen)
    assert all(
        e["break_glass_request_id"] is None
        for e, _ in seen
        if e["actor"] != users["mash.manager"]["subject"]
    )

    # The grant's audit record: hub-signed, break_glass, the justification.
    decision_id = grant_decision_id(request_id=request_id, subscriber_id=DESK)

    def grant_records(records: list[ConsumerRecord]) -> list[tuple[dict[str, Any], str]]:
        return [
            (r, owner)
            for r, owner in _audit_records(bus, records, AUDIT_TOPIC)
            if str(r["decision_id"]) == decision_id
        ]

    ((grant_record, signer),) = grant_records(
        await decisions.until(lambda rs: bool(grant_records(rs)), timeout_s=60)
    )
    assert signer == GATEWAY_PRINCIPAL
    assert grant_record["event"] == "SHARING_DECISION"
    assert grant_record["break_glass"] is True
    assert grant_record["break_glass_justification"] == f"{REASON}: {JUSTIFICATION}"
    assert grant_record["notice_id"] == notice_id
    assert grant_record["recipient"]["subscriber_id"] == DESK
    assert grant_record["fields_disclosed"] == sorted(ASKED)
    assert grant_record["purpose"] == "EMERGENCY_ACCESS"

    # 5. The review: the indexer logs the grant from the real topics; the police IG officer
    # reviews it through the API; the review is logged and the decision mix counts it.
    store_url = audit_settings.database_url_for(stack)
    audit_store = open_store(store_url)
    try:
        await _index_until(stack, audit_settings, audit_store, decision_id)
    finally:
        audit_store.close()
    officer = users["ig.officer.police"]
    headers = {
        "Authorization": "Bearer "
        + idp.token(subject=officer["subject"], roles=["IG_OFFICER"], agency="POLICE")
    }
    day = grant_record["decided_at"].date()

    def review_through_the_api() -> tuple[dict[Any, int], dict[Any, int]]:
        with review_api(store_url) as client:
            before = _mix(client, headers, day)
            _review(client, headers, decision_id, store_url)
            return before, _mix(client, headers, day)

    # In a thread: the API is called with a blocking client, and this loop runs the console.
    before, after = await asyncio.to_thread(review_through_the_api)
    assert after.get((DESK, "JUSTIFIED"), 0) == before.get((DESK, "JUSTIFIED"), 0) + 1
    assert before.get((DESK, "NOT_REVIEWED"), 0) >= 1

    # ---- OWNER'S ALERT (issue 18 part 3, the gateway's BreakGlassAlert) -------------------
    # The police alert desk is told of the grant, with its own BREAK_GLASS_ALERT_DELIVERED
    # audit record (decision id: alert_id over the request id and the alert desk). This block
    # needs the gateway's alert code; without it, it fails here, after everything above passed.
    alert_desk = rules.alert_desk("POLICE")
    assert alert_desk is not None, "policies/safehub/breakglass/data.json names no police desk"
    expected_alert = alert_id(request_id=request_id, alert_desk_id=alert_desk)

    def alert_records(records: list[ConsumerRecord]) -> list[tuple[dict[str, Any], str]]:
        return [
            (r, owner)
            for r, owner in _audit_records(bus, records, AUDIT_TOPIC)
            if str(r["decision_id"]) == expected_alert
        ]

    found = alert_records(await decisions.until(lambda rs: bool(alert_records(rs)), timeout_s=30))
    await decisions.reader.stop()
    assert found, "no BREAK_GLASS_ALERT_DELIVERED audit record for the police alert desk"
    ((alert_record, alert_signer),) = found
    assert alert_signer == GATEWAY_PRINCIPAL
    assert alert_record["event"] == "BREAK_GLASS_ALERT_DELIVERED"
    assert alert_record["notice_id"] == notice_id
    assert alert_record["recipient"]["subscriber_id"] == alert_desk
    # ---- end of the owner's alert block ----------------------------------------------------
