"""The device authorization grant (RFC 8628) of the local identity provider, end to end over
HTTP through the real app (httpx ASGI transport): the CLI's client (hubkit.device_signin)
asks for a code and polls; a person approves or denies on the verification page; the token
is short-lived, for the audit API only, and carries the person's roles."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.hubkit.device_signin import (
    DEVICE_CODE_GRANT,
    DeviceCode,
    DeviceSignInFailed,
    poll_for_token,
    start_device_signin,
)
from services.hubkit.settings import HubSettings
from services.identity.app import create_app
from services.identity.clients import ensure_device_client, ensure_signin_client
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


@dataclass
class Idp:
    http: httpx.AsyncClient
    state_dir: Path
    clock: list[float]

    @property
    def passwords(self) -> dict[str, str]:
        provision_credentials(self.state_dir, UserDirectory.load(DEFAULT_USERS_FILE))
        return load_dev_passwords(self.state_dir)

    async def start(self) -> DeviceCode:
        return await start_device_signin(
            self.http, issuer=ISSUER, client_id=CLI, resource=AUDIT, clock=lambda: self.clock[0]
        )

    async def answer(
        self, user_code: str, username: str = "", decision: str = "approve"
    ) -> httpx.Response:
        page = await self.http.get("/device", params={"user_code": user_code})
        assert page.status_code == 200
        assert f'value="{user_code}"' in page.text  # prefilled from the link
        txn = re.search(r'name="txn" value="([^"]+)"', page.text)
        assert txn is not None
        return await self.http.post(
            "/device",
            data={
                "txn": txn.group(1),
                "user_code": user_code,
                "username": username,
                "password": self.passwords[username] if username else "",
                "decision": decision,
            },
        )

    async def poll_once(self, code: DeviceCode) -> httpx.Response:
        return await self.http.post(
            "/token",
            data={
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": code.device_code,
                "client_id": CLI,
            },
        )


@pytest.fixture
async def idp(tmp_path: Path) -> AsyncIterator[Idp]:
    state = tmp_path / "identity"
    ensure_device_client(state_dir=state, client_id=CLI, agency="IG", resources=(AUDIT,))
    clock = [1_800_000_000.0]
    app = create_app(
        HubSettings(data_dir=tmp_path),
        IdentitySettings(issuer=ISSUER, state_dir=state),
        clock=lambda: clock[0],
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            yield Idp(http, state, clock)


async def test_discovery_names_the_device_endpoint_and_grant(idp: Idp) -> None:
    metadata = (await idp.http.get("/.well-known/openid-configuration")).json()
    assert metadata["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
    assert DEVICE_CODE_GRANT in metadata["grant_types_supported"]


async def test_an_ig_officer_approves_and_the_cli_gets_a_short_lived_audit_token(
    idp: Idp,
) -> None:
    code = await idp.start()
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", code.user_code)
    assert code.verification_uri == f"{ISSUER}/device"
    assert code.verification_uri_complete == f"{ISSUER}/device?user_code={code.user_code}"
    pending = await idp.poll_once(code)
    assert (pending.status_code, pending.json()["error"]) == (400, "authorization_pending")
    approved = await idp.answer(code.user_code, "ig.officer")
    assert approved.status_code == 200
    assert "Sign-in approved" in approved.text
    idp.clock[0] += code.interval_s  # the next poll respects the interval

    async def no_wait(_: float) -> None:
        return None

    token = await poll_for_token(
        idp.http, code, client_id=CLI, sleep=no_wait, clock=lambda: idp.clock[0]
    )
    keys = KeySet.import_key_set((await idp.http.get("/.well-known/jwks.json")).json())
    claims = jwt.decode(token.access_token, keys, algorithms=["ES256"]).claims
    assert claims["aud"] == AUDIT
    assert claims["iss"] == ISSUER
    assert claims["roles"] == ["IG_OFFICER"]
    assert claims["client_id"] == CLI
    assert claims["exp"] - claims["iat"] == 600  # ten minutes
    # The device code is spent: a second poll gets nothing.
    again = await idp.poll_once(code)
    assert again.json()["error"] == "invalid_grant"


async def test_polling_faster_than_the_interval_is_told_to_slow_down(idp: Idp) -> None:
    code = await idp.start()
    assert (await idp.poll_once(code)).json()["error"] == "authorization_pending"
    idp.clock[0] += 1
    assert (await idp.poll_once(code)).json()["error"] == "slow_down"
    idp.clock[0] += code.interval_s  # the interval grew by 5 s: still too soon
    assert (await idp.poll_once(code)).json()["error"] == "slow_down"
    idp.clock[0] += code.interval_s + 10
    assert (await idp.poll_once(code)).json()["error"] == "authorization_pending"


async def test_a_denied_sign_in_ends_with_access_denied(idp: Idp) -> None:
    code = await idp.start()
    denied = await idp.answer(code.user_code, decision="deny")
    assert "Sign-in denied" in denied.text
    idp.clock[0] += code.interval_s

    async def no_wait(_: float) -> None:
        return None

    with pytest.raises(DeviceSignInFailed, match="denied"):
        await poll_for_token(
            idp.http, code, client_id=CLI, sleep=no_wait, clock=lambda: idp.clock[0]
        )


async def test_someone_without_the_ig_role_is_refused_and_the_cli_told(idp: Idp) -> None:
    code = await idp.start()
    refused = await idp.answer(code.user_code, "mash.manager")
    assert refused.status_code == 403
    assert "do not allow" in refused.text
    assert (await idp.poll_once(code)).json()["error"] == "access_denied"


async def test_an_expired_code_ends_with_expired_token(idp: Idp) -> None:
    code = await idp.start()
    idp.clock[0] += 601
    assert (await idp.poll_once(code)).json()["error"] == "expired_token"
    # Approving it now is refused on the page too.
    late = await idp.answer(code.user_code, "ig.officer")
    assert late.status_code == 400
    assert "expired" in late.text


async def test_a_wrong_password_or_code_approves_nothing(idp: Idp) -> None:
    code = await idp.start()
    page = await idp.http.get("/device")
    txn = re.search(r'name="txn" value="([^"]+)"', page.text)
    assert txn is not None
    wrong = await idp.http.post(
        "/device",
        data={
            "txn": txn.group(1),
            "user_code": code.user_code,
            "username": "ig.officer",
            "password": "not-the-password",
            "decision": "approve",
        },
    )
    assert wrong.status_code == 401
    assert "not right" in wrong.text
    other = await idp.answer("BCDF-GHJK", "ig.officer")
    assert other.status_code == 400
    assert (await idp.poll_once(code)).json()["error"] == "authorization_pending"


async def test_only_a_registered_command_line_client_may_use_the_grant(
    idp: Idp, tmp_path: Path
) -> None:
    # The console's web client signs people in with codes, not at a command line.
    ensure_signin_client(
        state_dir=idp.state_dir,
        private_key_path=tmp_path / "console.pem",
        client_id="safehub-console",
        agency="MASH",
        redirect_uris=("http://console.test/cb",),
        resources=("safehub-console",),
    )
    for client_id in ("safehub-console", "nobody-here"):
        refused = await idp.http.post("/device_authorization", data={"client_id": client_id})
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
    wrong_api = await idp.http.post(
        "/device_authorization", data={"client_id": CLI, "resource": "safehub-console"}
    )
    assert wrong_api.json()["error"] == "invalid_target"
    poll = await idp.http.post(
        "/token",
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": "x", "client_id": "safehub-console"},
    )
    assert poll.json()["error"] == "unauthorized_client"
