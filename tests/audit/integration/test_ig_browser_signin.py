"""An IG officer signs in to the audit IG API with a browser (services/audit/ig_session.py):
authorization code + PKCE against the real local identity provider (uvicorn, loopback), the
IG API in process. At the HTTP level: a page asked for without a session goes to sign in and
comes back; the session is accepted like a bearer token and audited the same way; someone
without the IG role, a forged callback and a signed-out session get nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.audit.api import ACCESS_LEAF_HEADER, create_app
from services.audit.ig_session import SESSION_COOKIE
from services.audit.settings import AuditSettings
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_signin_client
from tests.identity.served import password_of, served_identity

AUDIT_URL = "http://audit.test"
PAGE = "/v1/record-of-processing"
HTML = {"accept": "text/html"}


@dataclass
class Browser:
    audit: httpx.AsyncClient
    idp: httpx.AsyncClient
    issuer: str
    state_dir: Path

    async def sign_in(self, username: str, *, start: str = "/ig/sign-in") -> httpx.Response:
        """Through the identity provider's form and back; the IG API's last answer."""
        to_idp = await self.audit.get(start, headers=HTML)
        assert to_idp.status_code == 303, to_idp.text
        authorize = to_idp.headers["location"]
        assert authorize.startswith(f"{self.issuer}/authorize?")
        query = parse_qs(urlsplit(authorize).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["resource"] == ["safehub-audit"]
        form = await self.idp.get(authorize)
        txn = re.search(r'name="txn" value="([^"]+)"', form.text)
        assert txn is not None, form.text
        back = await self.idp.post(
            "/authorize",
            data={
                "txn": txn.group(1),
                "username": username,
                "password": password_of(self.state_dir, username),
            },
        )
        assert back.status_code == 303, back.text
        callback = back.headers["location"]
        assert callback.startswith(f"{AUDIT_URL}/ig/callback?")
        return await self.audit.get(callback.removeprefix(AUDIT_URL), headers=HTML)


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[str]:
    with served_identity(tmp_path) as url:
        yield url


@pytest.fixture
async def browser(tmp_path: Path, issuer: str) -> AsyncIterator[Browser]:
    hub = HubSettings(data_dir=tmp_path)
    settings = AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        token_issuer=issuer,
        public_url=AUDIT_URL,
    )
    state_dir = tmp_path / "identity"
    ensure_signin_client(
        state_dir=state_dir,
        private_key_path=settings.resolved_signin_client_key(hub),
        client_id=settings.signin_client_id,
        agency="IG",
        redirect_uris=(settings.signin_redirect_uri,),
        resources=(settings.token_audience,),
    )
    app = create_app(settings, hub)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=AUDIT_URL) as audit,
        httpx.AsyncClient(base_url=issuer, timeout=30) as idp,
    ):
        yield Browser(audit, idp, issuer, state_dir)


async def test_an_ig_officer_signs_in_and_reads_pages_without_a_token(browser: Browser) -> None:
    # Asked for without a session, a page sends the browser to sign in, and back after.
    first = await browser.audit.get(PAGE, headers=HTML)
    assert first.status_code == 303
    assert first.headers["location"] == "/ig/sign-in?next=%2Fv1%2Frecord-of-processing"
    done = await browser.sign_in("ig.officer", start=first.headers["location"])
    assert done.status_code == 303, done.text
    assert done.headers["location"] == PAGE
    session = browser.audit.cookies.get(SESSION_COOKIE)
    assert session
    assert f"{SESSION_COOKIE}=" in done.headers["set-cookie"]
    assert "httponly" in done.headers["set-cookie"].lower()
    answer = await browser.audit.get(PAGE)
    assert answer.status_code == 200, answer.text
    assert ACCESS_LEAF_HEADER in answer.headers  # logged before it ran, as a bearer call is
    start = await browser.audit.get("/ig/")
    assert "signed in as an IG officer" in start.text
    # The figures are linked from the landing page and open with the same session, audited.
    assert 'action="/v1/figures/prevalence"' in start.text
    assert 'formaction="/v1/figures/decision-mix"' in start.text
    figures = await browser.audit.get(
        "/v1/figures/decision-mix", params={"from": "2026-01-01", "to": "2026-02-01"}
    )
    assert figures.status_code == 200, figures.text
    assert ACCESS_LEAF_HEADER in figures.headers
    # Signing out ends the session: the same cookie is worth nothing any more.
    out = await browser.audit.post("/ig/sign-out")
    assert out.status_code == 303
    browser.audit.cookies.set(SESSION_COOKIE, session)
    refused = await browser.audit.get(PAGE)
    assert refused.status_code == 401


async def test_someone_without_the_ig_role_gets_no_session(browser: Browser) -> None:
    refused = await browser.sign_in("mash.manager")
    assert refused.status_code == 403
    assert "IG officer role" in refused.text
    assert browser.audit.cookies.get(SESSION_COOKIE) is None
    assert (await browser.audit.get(PAGE)).status_code == 401


async def test_a_callback_not_started_in_this_browser_is_refused(browser: Browser) -> None:
    forged = await browser.audit.get(
        "/ig/callback", params={"code": "x", "state": "y", "iss": browser.issuer}, headers=HTML
    )
    assert forged.status_code == 400
    assert "another browser" in forged.text
    assert browser.audit.cookies.get(SESSION_COOKIE) is None


async def test_sign_in_goes_back_only_to_this_api(browser: Browser) -> None:
    done = await browser.sign_in("ig.officer", start="/ig/sign-in?next=https://evil.example/")
    assert done.headers["location"] == "/ig/"
