"""Issue 15, done means: a review-queue decision survives a restart of the child index and
later matching respects it. The real index app and identity provider in process (ASGI),
over HTTP with each caller's own client-credentials token; the store is a file that outlives
the first app."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from services.childindex.secret import provision_linkage_secret
from services.hubkit.auth import (
    CHILD_KEYS_SCOPE,
    RESOLVE_CHILDREN_SCOPE,
    REVIEW_CHILDREN_SCOPE,
)
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_service_client
from services.identity.settings import IdentitySettings
from tests.childindex.inprocess import index_and_identity

INDEX = "http://childindex.test"
NHS = "9434765919"  # modulus-11 valid, synthetic


@asynccontextmanager
async def _running_index(hub: HubSettings, store: Path) -> AsyncIterator[dict[str, Any]]:
    """Identity and the index (on `store`), and a way to call the index as a client."""
    identity_settings = IdentitySettings()
    keys = {}
    for client_id, agency, scope in (
        ("adapter-health", "HEALTH", RESOLVE_CHILDREN_SCOPE),
        ("console-childindex", "HUB", f"{REVIEW_CHILDREN_SCOPE} {CHILD_KEYS_SCOPE}"),
    ):
        keys[client_id] = hub.data_dir / "clients" / f"{client_id}.pem"
        ensure_service_client(
            state_dir=identity_settings.resolved_state_dir(hub.data_dir),
            private_key_path=keys[client_id],
            client_id=client_id,
            agency=agency,
            scopes=tuple(scope.split()),
        )
    async with index_and_identity(hub, store_path=store, index_url=INDEX) as http:

        async def call(client_id: str, scope: str, method: str, path: str, **kw: Any) -> Any:
            credentials = ClientCredentials(
                http=http,
                token_endpoint=f"{identity_settings.issuer}/token",
                client_id=client_id,
                private_key_path=keys[client_id],
                scope=scope,
            )
            token = await credentials.token()
            answer = await http.request(
                method, f"{INDEX}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
            )
            assert answer.status_code == 200, answer.text
            return answer.json()

        yield {"call": call}


def _health_record(given_name: str | None, postcode: str = "ZZ1 1AA") -> dict[str, Any]:
    return {
        "nhs_number": NHS,
        "given_name": given_name,
        "family_name": "Testfield",
        "date_of_birth": dt.date(2012, 5, 17).isoformat(),
        "postcode": postcode,
        "sex": "F",
    }


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubSettings:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(settings.keys_dir / "linkage.secret")
    return settings


async def test_a_not_the_same_decision_survives_a_restart(hub: HubSettings) -> None:
    store = hub.data_dir / "childindex" / "index.sqlite"
    resolve = ("adapter-health", RESOLVE_CHILDREN_SCOPE, "POST", "/v1/children/resolve")
    review = ("console-childindex", f"{REVIEW_CHILDREN_SCOPE} {CHILD_KEYS_SCOPE}")
    async with _running_index(hub, store) as index:
        # A sibling's NHS number in a record for "Kim": the index asks a person.
        robin = (await index["call"](*resolve, json=_health_record("Robin")))["child_key"]
        kim = (await index["call"](*resolve, json=_health_record("Kim")))["child_key"]
        (asked,) = (await index["call"](*review, "GET", "/v1/reviews"))["reviews"]
        await index["call"](
            *review,
            "POST",
            f"/v1/reviews/{asked['review_id']}/decision",
            json={"same_child": False, "decided_by": "u-manager", "rationale": "Siblings."},
        )

    async with _running_index(hub, store) as index:
        decided = await index["call"](*review, "GET", f"/v1/reviews/{asked['review_id']}")
        assert (decided["status"], decided["decided_by"]) == ("not_same_child", "u-manager")
        assert (await index["call"](*review, "GET", "/v1/reviews"))["reviews"] == []
        # Kim again, from a new address: still Kim, never merged into Robin.
        again = await index["call"](*resolve, json=_health_record("Kim", postcode="ZZ9 9ZZ"))
        assert again["child_key"] == kim
        # A record without a given name matches both and would merge them; it does not.
        await index["call"](*resolve, json=_health_record(None))
        for key in (robin, kim):
            keys = await index["call"](*review, "GET", f"/v1/children/{key}/keys")
            assert keys == {"child_key": key, "keys": [key]}
