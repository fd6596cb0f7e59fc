"""Browser tests: Playwright driving Debian's Chromium against the real hub.

Everything is real: the broker and OPA (the `stack` fixture), a gateway deciding with OPA,
the local identity provider and the console under uvicorn on loopback ports, and Chromium
with a new, empty profile for each person. Chromium comes from Debian (`playwright install`
cannot download browsers here); if it is missing, the setup installs it with
scripts/install-system-deps.sh, and fails loudly if it cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright

from services.childindex.domain import LinkageKeyer
from services.gateway.bootstrap import build_break_glass, build_gateway
from services.gateway.break_glass import BreakGlassDesk
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import make_producer
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import load_signing_key
from services.hubkit.publisher import NoticePublisher
from services.hubkit.retraction import RetractionReason, new_retraction
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.topology import Topology
from services.synthetic.notices import SyntheticNotices
from tests.console.harness import ConsoleServers, console_servers
from tests.gateway.loop_fakes import FakeChildContext

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
LANDING = r"{}/(queue|research|sent-to-me)$"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "install-system-deps.sh")], check=False)
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is needed for the browser tests and could not be installed: "
            "run `bash scripts/install-system-deps.sh` as root"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="module")
async def gateway(stack: HubSettings) -> AsyncIterator[None]:
    """A real gateway (real OPA) for the module: notices published by a test reach feeds."""
    running = build_gateway(stack, GatewaySettings(engine="opa"), child_context=FakeChildContext())
    task = asyncio.create_task(running.run())
    try:
        yield
    finally:
        running.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)


class BreakGlassComponent:
    """The gateway's emergency access component (bootstrap.build_break_glass), run beside the
    main loop as serve_gateway runs it, but started by the test (`start`), so that a test can
    see the console wait for the hub before the hub answers."""

    def __init__(self, stack: HubSettings) -> None:
        self.desk: BreakGlassDesk = build_break_glass(stack, GatewaySettings(engine="opa"))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.desk.run())

    async def stop(self) -> None:
        if self._task is None:
            return
        self.desk.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, timeout=30)


@pytest.fixture(scope="module")
async def break_glass(stack: HubSettings) -> AsyncIterator[BreakGlassComponent]:
    """The gateway's break-glass component for the module, not yet answering (`start`)."""
    component = BreakGlassComponent(stack)
    try:
        yield component
    finally:
        await component.stop()


@pytest.fixture(scope="module")
async def servers(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsoleServers]:
    async with console_servers(stack, tmp_path_factory.mktemp("console")) as running:
        await console_ready(running)
        yield running


READY_WITHIN_S = 480
"""A new console replays every feed it serves into a fresh store before it is ready. On a
fresh broker (CI) that takes seconds; a developer's long-lived test broker holds every earlier
run's items (hundreds of thousands), which takes minutes on a busy machine."""


async def console_ready(servers: ConsoleServers, *, within_s: float = READY_WITHIN_S) -> None:
    """Wait until the console's feeds have caught up (GET /readyz answers 200)."""
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient() as http:
        while (await http.get(f"{servers.console_url}/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the console's feeds did not catch up"
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def playwright(chromium: Path) -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@dataclass
class Browser:
    """One person at one browser: a fresh, empty Chromium profile."""

    context: BrowserContext
    page: Page


@pytest.fixture
async def open_browser(
    playwright: Playwright, chromium: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[[], Awaitable[Browser]]]:
    contexts: list[BrowserContext] = []

    async def open_one() -> Browser:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # new and empty
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
            locale="en-GB",
            timezone_id="Europe/London",
        )
        contexts.append(context)
        context.set_default_timeout(20_000)
        # A page of our own: the profile's first tab may still be starting up (and navigate
        # under a test's feet).
        page = await context.new_page()
        for first in context.pages:
            if first is not page:
                await first.close()
        return Browser(context, page)

    yield open_one
    for context in contexts:
        await context.close()


async def sign_in(browser: Browser, servers: ConsoleServers, username: str) -> Page:
    page = browser.page
    await page.goto(servers.console_url)
    await page.get_by_role("link", name="Sign in").click()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(servers.passwords[username])
    await page.get_by_role("button", name="Sign in").click()
    # Each desk lands where its work is (routes/desks.py): the decision queue, a partner's
    # "research requested of me", a social worker's "sent to me".
    await page.wait_for_url(re.compile(LANDING.format(re.escape(servers.console_url))))
    return page


class Agencies:
    """Publishes synthetic notices through the hub as each agency's adapter principal."""

    def __init__(self, settings: HubSettings, topology: Topology) -> None:
        self._settings = settings
        self._topology = topology
        self._catalog = SchemaCatalog(settings.schemas_dir)
        self._publishers: dict[str, NoticePublisher] = {}
        self._producers: list[Any] = []
        # Synthetic notices published directly, not through an adapter: keyed with a
        # throwaway secret (the hub's linkage secret is the child index's alone).
        keyer = LinkageKeyer(secrets.token_bytes(32))
        # A fresh seed per run: the broker outlives test runs, and a notice id seen before
        # would (rightly) change nothing in the console's projection.
        self.synthetic = SyntheticNotices(
            seed=time.time_ns() % 10**9, keyer=keyer, now=dt.datetime.now(dt.UTC)
        )

    async def publish(self, notice: dict[str, Any]) -> str:
        code = notice["source"]["agency"]
        if code not in self._publishers:
            agency = self._topology.agency(code)
            producer = make_producer(self._settings, agency.principal)
            await producer.start()
            self._producers.append(producer)
            self._publishers[code] = NoticePublisher(
                producer=producer,
                catalog=self._catalog,
                agency=agency,
                signing_key=load_signing_key(self._settings.keys_dir, agency.principal),
            )
        return await self._publishers[code].publish(notice)

    async def withdraw(self, notice: dict[str, Any], reason: RetractionReason) -> str:
        """Withdraw a notice published by `publish` as its agency's adapter does (issue 18):
        a NoticeRetraction signed with the agency's key, on its topic, keyed by the notice's
        linkage key (services/adapters/ingest/retractions.py). Returns the retraction id."""
        source = notice["source"]
        publisher = self._publishers[source["agency"]]  # it published the original
        retraction = new_retraction(
            agency=source["agency"],
            organisation_code=source["organisation_code"],
            source_reference=source["source_reference"],
            subject_linkage_key=notice["subject"]["linkage_key"],
            reason=reason,
            retracted_at=dt.datetime.now(dt.UTC),
        )
        return await publisher.publish_retraction(retraction)

    async def close(self) -> None:
        for producer in self._producers:
            await producer.stop()


@pytest.fixture
async def agencies(stack: HubSettings, topology: Topology) -> AsyncIterator[Agencies]:
    publishing = Agencies(stack, topology)
    yield publishing
    await publishing.close()
