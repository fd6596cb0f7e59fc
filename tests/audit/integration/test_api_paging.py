"""The IG API's pages: a limit above the maximum is refused by name, never silently cut, and a
page says how many it returned and where the next one starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.api import create_app
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.settings import HubSettings
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.logs import build_log, decision_entries
from tests.audit.serve import serve

MAXIMUM = 5


@pytest.fixture
def client(idp: LocalIdp, tmp_path: Path, log_key: Ed25519PrivateKey) -> Iterator[httpx.Client]:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    build_log(store, log_key, entries=decision_entries(2, seed=7))  # 12 decision leaves
    store.close()
    settings = AuditSettings(
        database_url=url,
        jwks_url=idp.jwks_url,
        token_issuer=ISSUER,
        token_audience=AUDIENCE,
        query_limit_max=MAXIMUM,
    )
    with serve(create_app(settings, HubSettings(data_dir=tmp_path))) as http:
        yield http


def _get(client: httpx.Client, idp: LocalIdp, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params=params, headers={"Authorization": f"Bearer {idp.token()}"})


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/console-access", "/v1/rejections"])
def test_a_limit_above_the_maximum_is_a_400_naming_the_maximum(
    client: httpx.Client, idp: LocalIdp, path: str
) -> None:
    response = _get(client, idp, path, limit=MAXIMUM + 1)
    assert response.status_code == 400, response.text
    assert f"maximum of {MAXIMUM}" in response.json()["detail"]


def test_pages_say_what_they_returned_and_where_the_next_starts(
    client: httpx.Client, idp: LocalIdp
) -> None:
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = _get(client, idp, "/v1/decisions", limit=MAXIMUM, offset=offset).json()
        assert page["returned"] == len(page["items"])
        assert "count" not in page
        seen += [item["leaf_index"] for item in page["items"]]
        offset = page["next_offset"]
    assert sorted(seen) == seen
    assert len(seen) == len(set(seen)) == 12
