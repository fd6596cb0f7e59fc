"""The declared client registry (services/identity/client_registry.py): the provider's clients
from one document loaded at start, public keys only, so a cluster needs no shared disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.hubkit.jwt_keys import generate_key, public_jwks
from services.hubkit.settings import HubSettings
from services.identity.app import create_app
from services.identity.assertions import client_assertion
from services.identity.client_registry import (
    load_client_registry,
    parse_client_registry,
    render_client_registry,
)
from services.identity.clients import ClientRegistration, FileClientRegistry, register_client
from services.identity.domain import CLIENT_ASSERTION_TYPE, DEVICE_CODE_GRANT
from services.identity.errors import ClientRegistryInvalid
from services.identity.settings import IdentitySettings

NOW = 1_800_000_000.0
SETTINGS = IdentitySettings(issuer="http://identity")  # as in a cluster: the Service's name
KEY = generate_key()


def _service(client_id: str = "gateway-childindex", **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "agency": "MASH",
        "scopes": ["children:context"],
        "grant_types": ["client_credentials"],
        "jwks": public_jwks(KEY),
        **extra,
    }


def _signin() -> dict[str, Any]:
    return {
        **_service("safehub-console"),
        "scopes": ["openid", "profile", "roles"],
        "grant_types": ["authorization_code"],
        "redirect_uris": ["https://console.example/auth/callback"],
        "resources": ["safehub-console"],
    }


def _device() -> dict[str, Any]:
    return {
        "client_id": "safehub-ig-cli",
        "agency": "IG",
        "scopes": ["openid", "profile", "roles"],
        "grant_types": [DEVICE_CODE_GRANT],
        "jwks": {"keys": []},
        "resources": ["safehub-audit"],
        "token_endpoint_auth_method": "none",
    }


def _doc(*clients: dict[str, Any]) -> str:
    return json.dumps({"clients": list(clients)})


def test_a_rendered_registry_parses_back_to_the_same_clients() -> None:
    declared = parse_client_registry(_doc(_service(), _signin(), _device()), where="x")
    rendered = render_client_registry(declared.values())
    again = parse_client_registry(rendered, where="y")
    assert again == declared
    assert set(again) == {"gateway-childindex", "safehub-console", "safehub-ig-cli"}
    assert again["safehub-console"].extra["redirect_uris"] == [
        "https://console.example/auth/callback"
    ]
    # Deterministic: the same clients, in any order, render the same bytes.
    assert render_client_registry(reversed(list(declared.values()))) == rendered


@pytest.mark.parametrize(
    ("clients", "problem"),
    [
        ([_service(jwks={"keys": [KEY.as_dict(private=True)]})], "private members"),
        ([_service(), _service()], "declared twice"),
        ([_service("Bad_Id")], "client_id must match"),
        ([_service(jwks={"keys": []})], "no public key"),
        ([_service(grant_types=["password"])], "unknown grant types"),
        ([{**_signin(), "redirect_uris": []}], "redirect_uris and resources"),
        ([{**_device(), "jwks": public_jwks(KEY)}], "public client"),
        (
            [_service(jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]})],
            "import",
        ),
        ([_service(agency="")], "no agency"),
        ([_service(scopes="children:context")], "scopes must be a list"),
    ],
)
def test_a_registry_that_cannot_be_used_says_which_client_and_why(
    clients: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(ClientRegistryInvalid, match=problem):
        parse_client_registry(_doc(*clients), where="/etc/safehub/clients.json")


@pytest.mark.parametrize("text", ["{", "[]", '{"clients": {}}'])
def test_a_document_of_another_shape_is_refused(text: str) -> None:
    with pytest.raises(ClientRegistryInvalid, match=r"clients\.json"):
        parse_client_registry(text, where="clients.json")


def test_a_missing_file_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ClientRegistryInvalid, match="safehub identity clients render"):
        load_client_registry(tmp_path / "clients.json")


def test_a_declared_client_comes_before_a_file_of_the_same_id(tmp_path: Path) -> None:
    register_client(
        state_dir=tmp_path, keys_out_dir=tmp_path / "k", agency="POLICE", client_id="police-one"
    )
    declared = parse_client_registry(_doc(_service("police-one")), where="x")
    assert FileClientRegistry(tmp_path / "clients").get("police-one").agency == "POLICE"  # type: ignore[union-attr]
    both = FileClientRegistry(tmp_path / "clients", declared)
    found = both.get("police-one")
    assert isinstance(found, ClientRegistration)
    assert found.agency == "MASH"
    assert both.get("nobody") is None


async def test_the_provider_issues_tokens_to_a_declared_client_only(tmp_path: Path) -> None:
    """Nothing under the state dir's clients/: the registry file alone makes the client."""
    registry = tmp_path / "clients.json"
    registry.write_text(_doc(_service()))
    settings = SETTINGS.model_copy(
        update={"state_dir": tmp_path / "identity", "clients_file": registry}
    )
    app = create_app(HubSettings(data_dir=tmp_path), settings, clock=lambda: NOW)

    async def token(client_id: str) -> httpx.Response:
        assertion = client_assertion(
            key=KEY, client_id=client_id, token_endpoint=SETTINGS.token_endpoint, now=NOW
        )
        return await http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
                "scope": "children:context",
            },
        )

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SETTINGS.issuer) as http:
            granted = await token("gateway-childindex")
            refused = await token("console-childindex")
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "children:context"
    assert refused.status_code == 401
    assert not (tmp_path / "identity" / "clients").exists()


def test_the_provider_does_not_start_on_a_bad_registry(tmp_path: Path) -> None:
    registry = tmp_path / "clients.json"
    registry.write_text(_doc(_service(jwks={"keys": [KEY.as_dict(private=True)]})))
    settings = SETTINGS.model_copy(update={"state_dir": tmp_path, "clients_file": registry})
    with pytest.raises(ClientRegistryInvalid, match="gateway-childindex"):
        create_app(HubSettings(data_dir=tmp_path), settings)
