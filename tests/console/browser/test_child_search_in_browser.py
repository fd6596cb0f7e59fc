"""Finding a child, and a child's link that outlives the session (issue 16, blocker 3), in a
real browser against the real hub: the broker, a gateway deciding with OPA, the local
identity provider, a real child index (served by uvicorn, its own linkage secret, the console
calling it with its own client credentials and the children:search scope) and the console.

A MASH manager picks a purpose, searches by name and date of birth, sees the child (whose
notice reached their feed through the hub) and opens the chronology from the result; the
search is on the access topic as a console-signed CHILD_SEARCHED event with the purpose and
the child's pseudonymous key, and nothing typed. The child's URL is then followed after
signing out and in again: the sign-in returns to it. A social worker following the same link
is refused (their feed lacks the child). Screenshot: artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from playwright.async_api import Page, expect

from services.childindex.bootstrap import childindex_app
from services.childindex.matcher import OnlineMatcher
from services.childindex.matching.thresholds import Thresholds
from services.childindex.secret import load_linkage_secret, provision_linkage_secret
from services.childindex.settings import ChildIndexSettings
from services.childindex.store import ChildIndexStore
from services.console.settings import ConsoleSettings
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.child_keys import load_or_create_store_key
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.linkage import ChildIdentifiers
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from services.identity.clients import ensure_service_client
from tests.console.browser.conftest import SCREENSHOTS, Agencies
from tests.console.harness import ConsoleServers, console_servers, free_port, serving
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(420)]

MANAGER_FEED = "feed.mash-manager.v1"


class Index:
    def __init__(self, state_dir: Path) -> None:
        self.secret_path = state_dir / "childindex" / "linkage.secret"
        self.store_path = state_dir / "childindex" / "index.sqlite"
        self.store_key_path = state_dir / "childindex" / "store.key"
        provision_linkage_secret(self.secret_path)

    def place(self, identifiers: ChildIdentifiers) -> str:
        """Tell the index about a child, as an adapter's resolve would (before it serves)."""
        store = ChildIndexStore(
            self.store_path,
            secret=load_linkage_secret(self.secret_path),
            store_key=load_or_create_store_key(self.store_key_path),
            scorer=OnlineMatcher.load(),
            thresholds=Thresholds.load(),
        )
        try:
            return store.resolve("HEALTH", identifiers)
        finally:
            store.close()


@pytest.fixture(scope="module")
async def hub_with_index(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ConsoleServers, Index]]:
    state_dir = tmp_path_factory.mktemp("search")
    index = Index(state_dir)
    index_port = free_port()
    client_key = state_dir / "console" / "console-childindex.pem"
    # The console's own client for the child index, as `safehub console serve` registers it.
    ensure_service_client(
        state_dir=state_dir / "identity",
        private_key_path=client_key,
        client_id="console-childindex",
        agency="MASH",
        scopes=tuple(ConsoleSettings().child_index_scopes),
    )
    async with console_servers(
        stack,
        state_dir,
        child_index_url=f"http://127.0.0.1:{index_port}",
        child_index_client_key=client_key,
        child_link_key_path=state_dir / "console" / "child-links.key",
        store_path=state_dir / "console" / "console.sqlite",
    ) as servers:
        app = childindex_app(
            stack,
            ChildIndexSettings(
                token_issuer=servers.identity.issuer,
                store_path=index.store_path,
                secret_path=index.secret_path,
                store_key_path=index.store_key_path,
            ),
            announce=False,
        )
        async with serving(app, index_port):
            deadline = time.monotonic() + 120
            async with httpx.AsyncClient() as http:
                while (await http.get(f"{servers.console_url}/readyz")).status_code != 200:
                    assert time.monotonic() < deadline, "the console's feeds did not catch up"
                    await asyncio.sleep(0.2)
            yield servers, index


async def _sign_in_here(page: Page, servers: ConsoleServers, username: str) -> None:
    """On the start page (wherever it will return to): sign in through the IdP's form."""
    await page.get_by_role("link", name="Sign in").click()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(servers.passwords[username])
    await page.get_by_role("button", name="Sign in").click()


def _searched(
    catalog: SchemaCatalog, keys: KeyDirectory, child_key: str, rs: list[Any]
) -> list[dict[str, Any]]:
    found = []
    for record in rs:
        assert isinstance(record, ConsumerRecord)
        try:
            event = open_audit_record(catalog, record.value, keys, topic=AUDIT_ACCESS_TOPIC).record
        except AuditRecordRejected:
            continue
        search = event.get("search")
        if event["event"] == "CHILD_SEARCHED" and search and child_key in search["children_shown"]:
            found.append(event)
    return found


async def test_find_a_child_then_follow_its_link_after_signing_in_again(
    stack: HubSettings,
    gateway: None,
    hub_with_index: tuple[ConsoleServers, Index],
    open_browser: Any,
    agencies: Agencies,
) -> None:
    servers, index = hub_with_index
    synthetic = agencies.synthetic
    child = synthetic.child()
    key = index.place(
        ChildIdentifiers(
            nhs_number=child.nhs_number,
            given_name=child.given_name,
            family_name=child.family_name,
            date_of_birth=child.date_of_birth,
            postcode=child.postcode,
        )
    )
    contact = synthetic.notice("SAFEGUARDING_CONTACT", child=child)
    contact["subject"]["linkage_key"] = key  # the key the hub's child index gives the child
    feed = await TopicReader(stack, "feed-mash-manager", MANAGER_FEED).start()
    contact_id = await agencies.publish(contact)
    audit = await TopicReader(stack, "audit", AUDIT_ACCESS_TOPIC).start()
    # Generous: the gateway may be rebalancing on a shared broker.
    await feed.read_until(lambda rs: any(contact_id.encode() in r.value for r in rs), timeout_s=180)
    await feed.stop()

    page = (await open_browser()).page
    await page.goto(servers.console_url)
    await _sign_in_here(page, servers, "mash.manager")
    await page.wait_for_url(f"{servers.console_url}/queue")
    # The console has it once its page opens (the queue's first page may be other contacts:
    # the shared broker keeps every earlier run's).
    deadline = time.monotonic() + 30
    while (await page.request.get(f"{servers.console_url}/items/{contact_id}")).status != 200:
        assert time.monotonic() < deadline, "the contact did not reach the console"
        await asyncio.sleep(0.5)

    # Find the child: a purpose first, then what is known of them.
    await page.get_by_role("link", name="Find a child").click()
    await page.wait_for_url(f"{servers.console_url}/search")
    await page.get_by_role("button", name="Search").click()  # nothing chosen yet
    await expect(page.locator(".error-summary")).to_contain_text("Choose why you are searching")
    await page.get_by_label("Screening a contact").check()
    await page.get_by_label("Given name").fill(child.given_name.upper())
    await page.get_by_label("Family name").fill(child.family_name)
    await page.get_by_label("Day").fill(str(child.date_of_birth.day))
    await page.get_by_label("Month").fill(str(child.date_of_birth.month))
    await page.get_by_label("Year").fill(str(child.date_of_birth.year))
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#results-title")).to_have_text("1 child found")
    result = page.locator("ol.results > li")
    await expect(result).to_contain_text("Strong match")
    assert child.given_name not in page.url  # a POST: nothing typed in the URL
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "search-results.png"), full_page=True)
    await result.get_by_role("link", name=f"{child.given_name} {child.family_name}").click()

    await page.wait_for_url(re.compile(r"/children/[A-Za-z0-9_-]{66}$"))
    child_url = page.url
    assert key not in child_url
    assert await page.title() == "Child chronology - safehub (synthetic data)"
    await expect(page.locator(f"#entry-{contact_id}")).to_be_visible()
    await page.screenshot(path=str(SCREENSHOTS / "child-found-by-search.png"), full_page=True)

    # The search is in the audit log: why, and which child was shown; nothing typed.
    catalog, keys = SchemaCatalog(stack.schemas_dir), KeyDirectory.load(stack.keys_dir / "trusted")
    logged = await audit.read_until(
        lambda rs: bool(_searched(catalog, keys, key, rs)), timeout_s=30
    )
    (event,) = _searched(catalog, keys, key, logged)
    assert event["search"]["purpose"] == "SCREENING_CONTACT"
    assert event["search"]["identifiers_used"] == ["GIVEN_NAME", "FAMILY_NAME", "DATE_OF_BIRTH"]
    assert event["search"]["children_shown"] == [key]
    assert event["feed"]["subscriber_id"] == "mash-manager"
    assert child.family_name not in repr(event)
    await audit.stop()

    # Signed out, the same link asks for sign-in and then opens the child.
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(re.compile(r"/signed-out$"))
    await page.goto(child_url)
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    await _sign_in_here(page, servers, "mash.manager")
    await page.wait_for_url(child_url)
    await expect(page.locator(f"#entry-{contact_id}")).to_be_visible()

    # Another browser, another person: the link is the same, the check is theirs.
    other = (await open_browser()).page
    await other.goto(child_url)
    await _sign_in_here(other, servers, "social.worker")
    await other.wait_for_url(child_url)
    await expect(other.get_by_role("heading", level=1)).to_have_text("This is not available to you")
    await expect(other.locator("main")).not_to_contain_text(child.family_name)
