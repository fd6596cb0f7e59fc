"""A withdrawal's receipts end to end (issue 18): the health adapter's
`GET /v1/retractions/{id}` reaches the real audit IG API (services/audit/api.py under real
uvicorn, over a SQLite store holding the RETRACTION_DELIVERED records the gateway writes and
the RETRACTION_ACKNOWLEDGED event the console writes), with the adapter's own client's token
from the real local identity provider (client credentials, scope audit:retractions, audience
safehub-ingest), checked by the audit API against the provider's JWKS over HTTP.

Health's adapter reads who the withdrawal was delivered to, who acknowledged it and who has
not; the police adapter's client is refused health's notice by the audit API itself (and the
police adapter knows no such retraction); with the audit API down the adapter answers 503
saying so."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.adapters.health.app import create_app as health_app
from services.audit.api import create_app as audit_app
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.audit_trail import ACCESS_STREAM, seal_audit_record
from services.hubkit.auth import AUDIT_RETRACTIONS_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.problems import problem_type_uri
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from services.identity.app import create_app as identity_app
from services.identity.settings import IdentitySettings
from tests.adapters.helpers import PATHS, map_native
from tests.adapters.integration.conftest import Hub
from tests.audit.records import CONSOLE_KEY, audit_records, encode, logged
from tests.audit.retraction_records import acknowledgement, deliveries
from tests.console.harness import free_port, serving
from tests.factories import FIXED_NOW, catalog

pytestmark = pytest.mark.kafka

AGENCY = "HEALTH"
TOLD = ("mash-manager", "mash-health-navigator", "school-dsl")
CATALOG = catalog()


async def _published_and_withdrawn(hub: Hub, seed: int) -> tuple[dict[str, Any], str]:
    """A health record through the adapter, then its withdrawal (WRONG_CHILD): the notice and
    the retraction id the adapter answered."""
    document = hub.records(seed=seed).record(AGENCY)
    notice = map_native(AGENCY, document, keyer=hub.keyer)
    posted = await hub.adapters[AGENCY].post(
        PATHS[AGENCY],
        content=json.dumps(document),
        headers={**await hub.headers(AGENCY), "Content-Type": "application/fhir+json"},
    )
    assert posted.status_code == 202, posted.text
    withdrawn = await hub.adapters[AGENCY].post(
        "/v1/retractions",
        json={"source_reference": notice["source"]["source_reference"], "reason": "WRONG_CHILD"},
        headers=await hub.headers(AGENCY),
    )
    assert withdrawn.status_code == 202, withdrawn.text
    return notice, str(withdrawn.json()["retraction_id"])


def _audit_store(path: Path, notice: dict[str, Any]) -> str:
    """The audit index as the indexer leaves it once the gateway delivered the withdrawal to
    three desks and the health navigator's desk acknowledged it."""
    url = f"sqlite:///{path}"
    store = open_store(url)
    records = [*audit_records(notice), *deliveries(notice, to=TOLD)]
    store.append(
        [
            *(logged(encode(CATALOG, r), offset=n) for n, r in enumerate(records)),
            logged(
                seal_audit_record(
                    CATALOG,
                    ACCESS_STREAM,
                    acknowledgement(notice, "mash-health-navigator", roles=("HEALTH_NAVIGATOR",)),
                    CONSOLE_KEY,
                    FIXED_NOW,
                ),
                topic=AUDIT_ACCESS_TOPIC,
            ),
        ],
        appended_at_ms=1,
    )
    store.close()
    return url


@asynccontextmanager
async def _audit_api(hub: Hub, database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """The real IG API under uvicorn, checking tokens against the real identity provider's
    JWKS over HTTP (the provider's own keys: a second server on the same state, since the
    session's provider answers in process only). Yields the API's base URL."""
    identity_port, audit_port = free_port(), free_port()
    identity = IdentitySettings(
        issuer=hub.identity_settings.issuer, state_dir=hub.identity_settings.state_dir
    )
    settings = AuditSettings(
        database_url=database_url,
        jwks_url=f"http://127.0.0.1:{identity_port}/.well-known/jwks.json",
        token_issuer=hub.identity_settings.issuer,
    )
    async with (
        serving(identity_app(hub.settings, identity), identity_port),
        serving(audit_app(settings, HubSettings(data_dir=tmp_path)), audit_port),
    ):
        yield f"http://127.0.0.1:{audit_port}"


@asynccontextmanager
async def _adapter(hub: Hub, audit_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The health adapter (the session's durable store) asking the audit API at `audit_url`."""
    settings = hub.adapter_settings().model_copy(update={"audit_url": audit_url})
    app = health_app(hub.settings, settings, jwks=hub.jwks, http=hub.outbound)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://health-audit.test"
        ) as client,
    ):
        yield client


def _adapter_client(hub: Hub, agency: str) -> ClientCredentials:
    """The adapter's own service client, as the adapter app builds it (http.py)."""
    settings = hub.adapter_settings()
    client_id = settings.resolved_child_index_client_id(agency)
    return ClientCredentials(
        http=hub.outbound,
        token_endpoint=hub.identity_settings.token_endpoint,
        client_id=client_id,
        private_key_path=settings.resolved_child_index_client_key(hub.state_dir, client_id),
        scope=AUDIT_RETRACTIONS_SCOPE,
    )


async def test_the_agency_reads_its_withdrawals_receipts_from_the_audit_api(
    hub: Hub, tmp_path: Path
) -> None:
    notice, retraction_id = await _published_and_withdrawn(hub, seed=1811)
    url = _audit_store(tmp_path / "audit.db", notice)
    async with _audit_api(hub, url, tmp_path) as audit_url, _adapter(hub, audit_url) as health:
        response = await health.get(
            f"/v1/retractions/{retraction_id}", headers=await hub.headers(AGENCY)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["retraction_id"] == retraction_id
        assert body["notice_id"] == notice["notice_id"]
        assert sorted(d["subscriber_id"] for d in body["delivered"]) == sorted(TOLD)
        assert [(a["subscriber_id"], a["role"]) for a in body["acknowledged"]] == [
            ("mash-health-navigator", "HEALTH_NAVIGATOR")
        ]
        assert sorted(body["not_acknowledged"]) == ["mash-manager", "school-dsl"]

        # Police's own client, straight to the audit API: not police's notice, refused.
        police_token = await _adapter_client(hub, "POLICE").token()
        async with httpx.AsyncClient(base_url=audit_url) as direct:
            refused = await direct.get(
                f"/v1/notices/{notice['notice_id']}/retraction",
                headers={"Authorization": f"Bearer {police_token}"},
            )
            assert refused.status_code == 403, refused.text
            # ...while health's own client is let in with the same kind of token.
            health_token = await _adapter_client(hub, AGENCY).token()
            allowed = await direct.get(
                f"/v1/notices/{notice['notice_id']}/retraction",
                headers={"Authorization": f"Bearer {health_token}"},
            )
            assert allowed.status_code == 200, allowed.text
        # And through the police adapter: it published no such retraction.
        via_police = await hub.adapters["POLICE"].get(
            f"/v1/retractions/{retraction_id}", headers=await hub.headers("POLICE")
        )
        assert via_police.status_code == 404
        assert via_police.json()["type"] == problem_type_uri("notice-not-found")


async def test_the_adapter_says_so_when_the_audit_api_is_down(hub: Hub) -> None:
    _, retraction_id = await _published_and_withdrawn(hub, seed=1812)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with _adapter(hub, closed) as health:
        response = await health.get(
            f"/v1/retractions/{retraction_id}", headers=await hub.headers(AGENCY)
        )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == problem_type_uri("audit-unavailable")
    assert "cannot be reached" in response.json()["detail"]
