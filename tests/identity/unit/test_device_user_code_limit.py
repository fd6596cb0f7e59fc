"""Guessing user codes on the device verification page (RFC 8628 5.1), over HTTP through the
real identity app (httpx ASGI transport, one client per caller address): the sixth wrong code
from one address is answered 429 before any code is looked up; another address is not
affected; a code answers one sign-in once; an expired one is refused by name; the log holds
counts, never a code."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.hubkit.device_signin import DEVICE_CODE_GRANT, DeviceCode, start_device_signin
from services.hubkit.settings import HubSettings
from services.identity.app import create_app
from services.identity.clients import ensure_device_client
from services.identity.settings import IdentitySettings
from services.identity.users import (
    DEFAULT_USERS_FILE,
    UserDirectory,
    load_dev_passwords,
    provision_credentials,
)

ISSUER = "http://identity.test"
CLI = "safehub-ig-cli"
AUDIT = "safehub-audit"
WRONG_CODES = ["BCDF-BCDF", "GHJK-GHJK", "LMNP-LMNP", "QRST-QRST", "VWXZ-VWXZ"]


@dataclass
class Caller:
    http: httpx.AsyncClient
    state_dir: Path

    async def enter(
        self, user_code: str, username: str = "", decision: str = "approve"
    ) -> httpx.Response:
        page = await self.http.get("/device")
        txn = re.search(r'name="txn" value="([^"]+)"', page.text)
        assert txn is not None
        if username:
            provision_credentials(self.state_dir, UserDirectory.load(DEFAULT_USERS_FILE))
        return await self.http.post(
            "/device",
            data={
                "txn": txn.group(1),
                "user_code": user_code,
                "username": username,
                "password": load_dev_passwords(self.state_dir)[username] if username else "",
                "decision": decision,
            },
        )


@dataclass
class Site:
    guesser: Caller
    officer: Caller
    clock: list[float]

    async def start(self) -> DeviceCode:
        return await start_device_signin(
            self.officer.http,
            issuer=ISSUER,
            client_id=CLI,
            resource=AUDIT,
            clock=lambda: self.clock[0],
        )

    async def poll(self, code: DeviceCode) -> str:
        answer = await self.officer.http.post(
            "/token",
            data={
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": code.device_code,
                "client_id": CLI,
            },
        )
        return str(answer.json().get("error", "token issued"))


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    state = tmp_path / "identity"
    ensure_device_client(state_dir=state, client_id=CLI, agency="IG", resources=(AUDIT,))
    clock = [1_800_000_000.0]
    app = create_app(
        HubSettings(data_dir=tmp_path),
        IdentitySettings(issuer=ISSUER, state_dir=state),  # defaults: 5 per address, 50 overall
        clock=lambda: clock[0],
    )
    async with app.router.lifespan_context(app):
        guesser = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        officer = httpx.ASGITransport(app=app, client=("192.0.2.10", 40001))
        async with (
            httpx.AsyncClient(transport=guesser, base_url=ISSUER) as g,
            httpx.AsyncClient(transport=officer, base_url=ISSUER) as o,
        ):
            yield Site(Caller(g, state), Caller(o, state), clock)


async def test_the_sixth_wrong_code_is_refused_before_any_code_is_looked_up(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    code = await site.start()
    caplog.set_level(logging.INFO, logger="safehub.identity")
    for wrong in WRONG_CODES:
        answer = await site.guesser.enter(wrong, decision="deny")
        assert answer.status_code == 400
        assert "not right" in answer.text
    # The sixth try is refused even though it is the right code: it is never looked up.
    sixth = await site.guesser.enter(code.user_code, decision="deny")
    assert sixth.status_code == 429
    assert sixth.headers["Retry-After"] == "300"
    assert "Too many codes that were not right" in sixth.text
    assert "Sign-in denied" not in sixth.text
    assert await site.poll(code) == "authorization_pending"  # the guess denied nothing
    # The log says how many, never which codes.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "5 from the address, 5 overall" in logged
    for typed in [*WRONG_CODES, code.user_code]:
        assert typed not in logged
        assert typed.replace("-", "") not in logged

    # Another address is not affected: the officer approves with the same code.
    approved = await site.officer.enter(code.user_code, "ig.officer")
    assert approved.status_code == 200
    assert "Sign-in approved" in approved.text

    # The guesser may try again once the window has moved past the first failure.
    site.clock[0] += 301
    later = await site.guesser.enter("BCDF-GHJK", decision="deny")
    assert later.status_code == 400


async def test_a_code_answers_one_sign_in_once(site: Site) -> None:
    code = await site.start()
    first = await site.officer.enter(code.user_code, "ig.officer")
    assert "Sign-in approved" in first.text
    for decision in ("approve", "deny"):
        again = await site.officer.enter(code.user_code, "ig.officer", decision=decision)
        assert again.status_code == 400
        assert "already been used" in again.text


async def test_an_expired_code_is_refused_by_name(site: Site) -> None:
    code = await site.start()
    site.clock[0] = code.expires_at + 1
    late = await site.officer.enter(code.user_code, "ig.officer")
    assert late.status_code == 400
    assert "That code has expired. Run the sign-in command again" in late.text
    assert await site.poll(code) == "expired_token"
