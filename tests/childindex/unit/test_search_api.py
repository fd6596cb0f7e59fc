"""POST /v1/children/search over HTTP, with the real identity provider and child index in
process (ASGI, no network, no broker): only a client with the children:search scope (the
console's, as `safehub console serve` registers it) may search; the answer is keys and
scores, never an identifier; too few identifiers is 422; searching stores nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.childindex.secret import provision_linkage_secret
from services.cli.console import register_local_client
from services.console.settings import ConsoleSettings
from services.hubkit.auth import CHILD_SEARCH_SCOPE, RESOLVE_CHILDREN_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_service_client
from services.identity.settings import IdentitySettings
from tests.childindex.inprocess import index_and_identity

INDEX = "http://childindex.test"
NHS = "9434765919"  # modulus-11 valid, synthetic
ROBIN = {
    "nhs_number": NHS,
    "given_name": "Robin",
    "family_name": "Testfield",
    "date_of_birth": dt.date(2012, 5, 17).isoformat(),
    "postcode": "ZZ1 1AA",
    "upn": "A123456789012",
}


@dataclass
class Running:
    http: httpx.AsyncClient
    console: ClientCredentials
    health: ClientCredentials
    store_path: Path

    async def post(self, who: ClientCredentials, path: str, body: Any) -> httpx.Response:
        token = await who.token()
        return await self.http.post(
            f"{INDEX}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(hub.keys_dir / "linkage.secret")
    identity_settings = IdentitySettings()
    console = ConsoleSettings(child_index_url=INDEX)
    assert CHILD_SEARCH_SCOPE in console.child_index_scopes
    register_local_client(hub, console)
    health_key = tmp_path / "adapters" / "adapter-health.pem"
    ensure_service_client(
        state_dir=identity_settings.resolved_state_dir(tmp_path),
        private_key_path=health_key,
        client_id="adapter-health",
        agency="HEALTH",
        scopes=(RESOLVE_CHILDREN_SCOPE,),
    )
    store_path = tmp_path / "index.sqlite"
    async with index_and_identity(hub, store_path=store_path, index_url=INDEX) as http:

        def credentials(client_id: str, key: Path, scope: str) -> ClientCredentials:
            return ClientCredentials(
                http=http,
                token_endpoint=console.resolved_token_endpoint(),
                client_id=client_id,
                private_key_path=key,
                scope=scope,
            )

        yield Running(
            http=http,
            console=credentials(
                console.child_index_client_id,
                console.resolved_child_index_client_key(tmp_path),
                " ".join(console.child_index_scopes),
            ),
            health=credentials("adapter-health", health_key, RESOLVE_CHILDREN_SCOPE),
            store_path=store_path,
        )


async def test_the_console_finds_a_child_by_keys_and_scores_only(running: Running) -> None:
    resolved = await running.post(running.health, "/v1/children/resolve", ROBIN)
    key = resolved.json()["child_key"]
    for typed in (
        {"given_name": "robin", "family_name": "TESTFIELD"},
        {"nhs_number": "943 476 5919"},
        {"upn": "a123456789012"},
        {"given_name": "Robin", "date_of_birth": "2012-05-17", "limit": 3},
    ):
        answer = await running.post(running.console, "/v1/children/search", typed)
        assert answer.status_code == 200, answer.text
        (match,) = answer.json()["matches"]
        assert (match["child_key"], match["keys"], match["strength"]) == (key, [key], "strong")
        assert match["score"] == pytest.approx(1.0, abs=1e-4)
        # Nothing typed or held comes back: keys and numbers only.
        text = answer.text.casefold()
        for value in ("robin", "testfield", NHS, "a123456789012", "2012-05-17"):
            assert value.casefold() not in text
    none = await running.post(
        running.console, "/v1/children/search", {"given_name": "No", "family_name": "One"}
    )
    assert none.json() == {"matches": []}


async def test_too_little_to_search_on_is_422(running: Running) -> None:
    answer = await running.post(running.console, "/v1/children/search", {"family_name": "Test"})
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("identifiers-incomplete")
    assert "Test" not in answer.text  # the problem does not echo what was typed
    for body in ({"given_name": "A", "family_name": "B", "limit": 0}, {"surname": "B"}):
        invalid = await running.post(running.console, "/v1/children/search", body)
        assert invalid.status_code == 422


async def test_only_a_client_with_the_search_scope_may_search(running: Running) -> None:
    typed = {"given_name": "Robin", "family_name": "Testfield"}
    anonymous = await running.http.post(f"{INDEX}/v1/children/search", json=typed)
    assert anonymous.status_code == 401
    adapter = await running.post(running.health, "/v1/children/search", typed)
    assert adapter.status_code == 403


async def test_a_search_leaves_the_index_as_it_was(running: Running) -> None:
    await running.post(running.health, "/v1/children/resolve", ROBIN)
    before = running.store_path.stat().st_size, _counts(running.store_path)
    for _ in range(3):
        await running.post(
            running.console,
            "/v1/children/search",
            {"given_name": "Someone", "family_name": "Else", "date_of_birth": "2015-01-01"},
        )
    assert (running.store_path.stat().st_size, _counts(running.store_path)) == before


def _counts(path: Path) -> str:
    import sqlite3

    with sqlite3.connect(path) as db:
        return json.dumps(
            [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("records", "children")]
        )
