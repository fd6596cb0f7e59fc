"""`GET /v1/notices/{id}/retraction` under real uvicorn over a real SQLite store, tokens checked
against a JWKS served over HTTP (issue 18): an IG officer and the sending agency's own service
client read the receipts; another agency's client is refused (and the refusal logged); a
notice never withdrawn is a 404; the subject access report marks the withdrawn disclosure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.audit.api import ACCESS_LEAF_HEADER, create_app
from services.audit.indexer import decode_access
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.audit_trail import ACCESS_STREAM, seal_audit_record
from services.hubkit.auth import AUDIT_RETRACTIONS_SCOPE
from services.hubkit.retraction import retraction_id_for
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.records import CONSOLE_KEY, audit_records, encode, logged
from tests.audit.retraction_records import RECIPIENTS, acknowledgement, deliveries
from tests.audit.serve import serve
from tests.factories import FIXED_NOW, catalog, notices

CATALOG = catalog()
SERVICE_AUDIENCE = "safehub-ingest"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    gen = notices(uuid.uuid4().int % 10**6)
    health = gen.notice("HEALTH_SAFEGUARDING_ALERT")
    police = gen.notice("SAFEGUARDING_CONTACT")
    kept = gen.notice("HEALTH_SAFEGUARDING_ALERT")
    records = [
        *audit_records(health),
        *audit_records(police),
        *audit_records(kept),
        *deliveries(health),
        *deliveries(police),
    ]
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    store.append(
        [
            *(logged(encode(CATALOG, r), offset=n) for n, r in enumerate(records)),
            logged(
                seal_audit_record(
                    CATALOG,
                    ACCESS_STREAM,
                    acknowledgement(health, "school-dsl", roles=("DSL",)),
                    CONSOLE_KEY,
                    FIXED_NOW,
                ),
                topic=AUDIT_ACCESS_TOPIC,
            ),
        ],
        appended_at_ms=1,
    )
    store.close()
    return {"url": url, "health": health, "police": police, "kept": kept}


@pytest.fixture
def client(idp: LocalIdp, world: dict[str, Any], tmp_path: Path) -> Iterator[httpx.Client]:
    settings = AuditSettings(
        database_url=world["url"],
        jwks_url=idp.jwks_url,
        token_issuer=ISSUER,
        token_audience=AUDIENCE,
        service_token_audience=SERVICE_AUDIENCE,
    )
    with serve(create_app(settings, HubSettings(data_dir=tmp_path))) as http:
        yield http


def _client_token(idp: LocalIdp, agency: str, scope: str = AUDIT_RETRACTIONS_SCOPE) -> str:
    return idp.token(
        subject=f"adapter-{agency.lower()}",
        roles=[],
        audience=SERVICE_AUDIENCE,
        agency=agency,
        scope=scope,
        client_id=f"adapter-{agency.lower()}",
    )


def _get(client: httpx.Client, notice: dict[str, Any], token: str) -> httpx.Response:
    return client.get(
        f"/v1/notices/{notice['notice_id']}/retraction",
        headers={"Authorization": f"Bearer {token}"},
    )


def _access(url: str, response: httpx.Response) -> dict[str, Any]:
    """The query's ACCESS entry: the leaf the header names, or (an error answer carries no
    header) the newest leaf, since nothing else writes this log during the test."""
    store = open_store(url)
    try:
        index = response.headers.get(ACCESS_LEAF_HEADER)
        return decode_access(
            store.leaf(int(index) if index is not None else store.head().size - 1).data
        )
    finally:
        store.close()


def test_an_ig_officer_reads_who_was_told_and_who_acknowledged(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    health = world["health"]
    response = _get(client, health, idp.token())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "notice_id",
        "retraction_id",
        "reason",
        "delivered",
        "acknowledged",
        "not_acknowledged",
    }
    assert body["retraction_id"] == retraction_id_for(health["notice_id"])
    assert body["reason"] == "WRONG_CHILD"
    assert sorted(d["subscriber_id"] for d in body["delivered"]) == sorted(RECIPIENTS)
    assert [(a["subscriber_id"], a["role"]) for a in body["acknowledged"]] == [
        ("school-dsl", "DSL")
    ]
    assert body["not_acknowledged"] == sorted(set(RECIPIENTS) - {"school-dsl"})
    logged_query = _access(world["url"], response)
    assert logged_query["action"] == "notice_retraction"
    assert logged_query["allowed"] is True
    assert logged_query["parameters"]["notice_id"] == health["notice_id"]


def test_a_notice_never_withdrawn_is_404_and_the_query_is_still_logged(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    response = _get(client, world["kept"], idp.token())
    assert response.status_code == 404
    assert "never withdrawn" in response.json()["detail"]
    assert _access(world["url"], response)["allowed"] is True


def test_the_senders_own_client_reads_its_notices_receipts_and_no_other_agencys(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    health_token = _client_token(idp, "HEALTH")
    own = _get(client, world["health"], health_token)
    assert own.status_code == 200, own.text
    assert own.json()["notice_id"] == world["health"]["notice_id"]
    assert _access(world["url"], own)["parameters"]["client_agency"] == "HEALTH"

    theirs = _get(client, world["police"], health_token)
    assert theirs.status_code == 403
    assert "POLICE" in theirs.json()["detail"]
    refused = _access(world["url"], theirs)
    assert refused["allowed"] is False
    assert refused["parameters"] == {
        "notice_id": world["police"]["notice_id"],
        "client_agency": "HEALTH",
    }
    assert _get(client, world["police"], _client_token(idp, "POLICE")).status_code == 200


def test_a_client_without_the_scope_or_a_person_without_the_role_is_refused(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    unscoped = _get(client, world["health"], _client_token(idp, "HEALTH", scope="notices:publish"))
    assert unscoped.status_code == 403
    assert "audit:retractions" in unscoped.json()["detail"]
    assert _access(world["url"], unscoped)["allowed"] is False
    person = _get(client, world["health"], idp.token(roles=["SOCIAL_WORKER"]))
    assert person.status_code == 403
    assert _access(world["url"], person)["allowed"] is False
    # A token for neither audience is not a caller at all.
    assert _get(client, world["health"], idp.token(audience="elsewhere")).status_code == 401


def test_the_subject_access_report_marks_the_withdrawn_disclosure(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    key = world["health"]["subject"]["linkage_key"]
    headers = {"Authorization": f"Bearer {idp.token()}"}
    report = client.get(f"/v1/subjects/{key}/access-report", headers=headers)
    assert report.status_code == 200, report.text
    disclosures = report.json()["disclosures"]
    withdrawn = [d for d in disclosures if d["withdrawn"]]
    assert len(withdrawn) == len(RECIPIENTS) == len(disclosures)
    assert {d["withdrawn"]["text"] for d in withdrawn} == {"Withdrawn by Health: wrong child"}
    page = client.get(f"/v1/subjects/{key}/access-report.html", headers=headers)
    assert "Withdrawn by Health: wrong child" in page.text
    assert "has not yet confirmed" in page.text
    assert "the recipient confirmed it" in page.text
    family = client.get(
        f"/v1/subjects/{key}/family-report.html", params={"audience": "child"}, headers=headers
    )
    assert family.status_code == 200, family.text
    assert "Information that was taken back" in family.text
    assert "about a different child" in family.text
