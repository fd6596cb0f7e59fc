"""Adapters accept only valid tokens for their own agency: 401 for a missing, expired,
wrong-audience, wrong-issuer or forged token; 403 for a token of another agency."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt

from services.hubkit.jwt_keys import generate_key, load_key
from tests.adapters.helpers import AGENCIES, PATHS
from tests.adapters.integration.conftest import Hub

pytestmark = pytest.mark.kafka


def _mint(hub: Hub, key: Any = None, **overrides: Any) -> str:
    key = key or load_key(
        hub.identity_settings.resolved_state_dir(hub.settings.data_dir) / "issuer-key.pem"
    )
    now = int(time.time())
    claims = {
        "iss": hub.identity_settings.issuer,
        "sub": "police-it",
        "aud": "safehub-ingest",
        "iat": now,
        "exp": now + 300,
        "jti": "x",
        "client_id": "police-it",
        "scope": "notices:publish",
        "agency": "POLICE",
        **overrides,
    }
    return jwt.encode(
        {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, claims, key, algorithms=["ES256"]
    )


async def _post(hub: Hub, agency: str, token: str | None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    document = body if body is not None else hub.records(seed=401).record(agency)
    return await hub.adapters[agency].post(PATHS[agency], json=document, headers=headers)


async def test_missing_token_is_401_before_the_body_is_looked_at(hub: Hub) -> None:
    response = await _post(hub, "POLICE", None, body={"not": "a record"})
    assert response.status_code == 401
    # RFC 6750 section 3.1: a request with no authentication information gets no error code.
    assert response.headers["www-authenticate"] == 'Bearer realm="safehub"'
    assert response.json()["errors"] == []  # nothing about the record format leaks


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "some-other-api"}, "audience"),
        ({"iss": "http://evil.test"}, "issuer"),
    ],
)
async def test_invalid_tokens_are_401(hub: Hub, overrides: dict[str, Any], reason: str) -> None:
    response = await _post(hub, "POLICE", _mint(hub, **overrides))
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_token_signed_by_an_unknown_key_is_401(hub: Hub) -> None:
    response = await _post(hub, "POLICE", _mint(hub, key=generate_key()))
    assert response.status_code == 401


async def test_valid_token_for_the_right_agency_is_accepted(hub: Hub) -> None:
    response = await _post(hub, "POLICE", _mint(hub))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("target", [a for a in AGENCIES if a != "POLICE"])
async def test_token_for_agency_a_cannot_publish_as_agency_b(hub: Hub, target: str) -> None:
    response = await _post(hub, target, await hub.token("POLICE"))
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"token was issued to agency POLICE; this adapter accepts notices from {target} only"
    )
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_token_without_publish_scope_is_403(hub: Hub) -> None:
    response = await _post(hub, "POLICE", _mint(hub, scope="profile"))
    assert response.status_code == 403
    assert "notices:publish" in response.json()["detail"]
