"""Issue 17, done means: an IG officer signs in, finds a child by identifiers, produces and
reviews a subject access report, and downloads the PDF, in real Chromium.

Everything the officer touches is real and on loopback ports: the local identity provider
(sign-in form, authorization code + PKCE), the child index (searched by the IG API as its own
client `audit-childindex`, registered as `safehub audit api` registers it) and the IG API over
a SQLite audit store holding synthetic sharing decisions about the child the index keyed. No
broker: the log is built as the indexer builds it (tests/audit/logs.py). Screenshots of the
family's report and of the PDF's first page go to artifacts/screenshots/."""

from __future__ import annotations

import io
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from playwright.async_api import async_playwright, expect
from pypdf import PdfReader

from services.audit.api import create_app
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.childindex.bootstrap import childindex_app
from services.childindex.secret import provision_linkage_secret
from services.childindex.settings import ChildIndexSettings
from services.cli.ig import register_ig_clients_at
from services.hubkit.auth import RESOLVE_CHILDREN_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_service_client
from tests.audit.family import decisions_about
from tests.audit.logs import build_log
from tests.console.browser.conftest import CHROMIUM_ARGS
from tests.identity.served import free_port, password_of, served_identity

pytestmark = [pytest.mark.timeout(300)]

NHS = "9434765919"  # modulus-11 valid, synthetic
CHILD = {
    "nhs_number": NHS,
    "given_name": "Robin",
    "family_name": "Testfield",
    "date_of_birth": "2012-05-17",
    "postcode": "ZZ1 1AA",
}


@contextmanager
def _served(app: FastAPI, port: int) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="none",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("a server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


async def test_an_ig_officer_finds_a_child_reviews_and_downloads_the_report(
    tmp_path: Path,
    chromium: Path,
    screenshots: Path,
    log_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(hub.keys_dir / "linkage.secret")
    state_dir = tmp_path / "identity"
    audit_port = free_port()
    with served_identity(tmp_path) as issuer:
        audit_settings = AuditSettings(
            database_url=f"sqlite:///{tmp_path / 'audit.db'}",
            token_issuer=issuer,
            public_url=f"http://127.0.0.1:{audit_port}",
        )
        # The IG API's clients at the provider (served on a port of its own, so not the
        # default issuer register_ig_clients looks for).
        register_ig_clients_at(state_dir, hub, audit_settings)
        health_key = tmp_path / "adapters" / "adapter-health.pem"
        ensure_service_client(
            state_dir=state_dir,
            private_key_path=health_key,
            client_id="adapter-health",
            agency="HEALTH",
            scopes=(RESOLVE_CHILDREN_SCOPE,),
        )
        index = childindex_app(
            hub,
            ChildIndexSettings(token_issuer=issuer, store_path=tmp_path / "index.sqlite"),
            announce=False,
        )
        with _served(index, free_port()) as index_url:
            # A health adapter's record keys the child, as on the hub.
            async with httpx.AsyncClient(timeout=30) as http:
                health = ClientCredentials(
                    http=http,
                    token_endpoint=f"{issuer}/token",
                    client_id="adapter-health",
                    private_key_path=health_key,
                    scope=RESOLVE_CHILDREN_SCOPE,
                )
                resolved = await http.post(
                    f"{index_url}/v1/children/resolve",
                    json=CHILD,
                    headers={"Authorization": f"Bearer {await health.token()}"},
                )
            assert resolved.status_code == 200, resolved.text
            child_key = resolved.json()["child_key"]
            store = open_store(audit_settings.database_url_for(hub))
            build_log(store, log_key, entries=decisions_about(child_key, 3))
            store.close()
            monkeypatch.setenv("SAFEHUB_AUDIT_CHILDINDEX_URL", index_url)
            with _served(create_app(audit_settings, hub), audit_port) as audit_url:
                pdf_path = await _the_officers_path(
                    audit_url,
                    chromium,
                    screenshots,
                    password_of(state_dir, "ig.officer"),
                    tmp_path / "family-report.pdf",
                )
    _check_pdf(pdf_path, screenshots)


async def _the_officers_path(
    audit_url: str, chromium: Path, screenshots: Path, password: str, pdf_path: Path
) -> Path:
    """Sign in, find, review, approve, download: where the PDF was saved."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        context = await browser.new_context(accept_downloads=True)
        page = await context.new_page()
        try:
            await page.goto(f"{audit_url}/ig/")
            await page.get_by_role("link", name="Sign in").click()
            await page.get_by_label("Username").fill("ig.officer")
            await page.get_by_label("Password").fill(password)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{audit_url}/ig/")
            await expect(page.get_by_text("signed in as an IG officer")).to_be_visible()

            await page.get_by_role("link", name="Find a child for a subject access request").click()
            await page.get_by_label("Request reference").fill("SAR-2026-0117")
            await page.get_by_label("First name").fill("Robin")
            await page.get_by_label("Family name").fill("Testfield")
            await page.get_by_label("Date of birth (YYYY-MM-DD)").fill("2012-05-17")
            await page.get_by_label("NHS number").fill(NHS)
            await page.get_by_role("button", name="Find the child").click()
            await expect(page.get_by_role("heading", name="Children found")).to_be_visible()

            await page.get_by_role("link", name="report for the parent or carer").click()
            await expect(page.get_by_text("Draft for review")).to_be_visible()
            first = page.locator('input[name="leave_out"]').first
            row = await first.get_attribute("value")
            assert row
            await first.check()
            await page.locator(f'input[id="reason-{row}"]').fill("another person's information")
            await page.get_by_role("button", name="Approve for release").click()
            await page.wait_for_url(re.compile(r".*/family-report/approved\.html\?audience=parent"))
            assert row not in await page.content()
            await page.screenshot(path=str(screenshots / "family-report.png"), full_page=True)

            async with page.expect_download() as waiting:
                await page.get_by_role("link", name=re.compile("Download the PDF")).click()
            download = await waiting.value
            await download.save_as(str(pdf_path))
        finally:
            await context.close()
            await browser.close()
    return pdf_path


def _check_pdf(pdf_path: Path, screenshots: Path) -> None:
    """A real PDF of the family's report, its first page saved as a picture."""
    content = pdf_path.read_bytes()
    assert content.startswith(b"%PDF-")
    text = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(content)).pages
    )
    assert "Information about your child: who saw it and why" in text
    assert "Synthetic" in text  # organisations by name
    assert "another person's information" not in text
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf_path),
            str(screenshots / "family-report-pdf-page1"),
        ],
        check=True,
    )
    assert (screenshots / "family-report-pdf-page1.png").stat().st_size > 0
