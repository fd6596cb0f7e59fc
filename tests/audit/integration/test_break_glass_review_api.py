"""The owning agency's IG officer reviews emergency access (issue 18) under real uvicorn, over
a real SQLite store, tokens checked against a JWKS served over HTTP: the queue (JSON and page)
lists only grants over the officer's own agency's information; one review per grant (409
after), kept across a restart and logged; another agency's officer is refused; the /ig/
landing page counts what waits; the decision mix counts grants by recipient and review."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.audit.api import ACCESS_LEAF_HEADER, create_app
from services.audit.ig_session import SESSION_COOKIE
from services.audit.indexer import decode_access
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.settings import HubSettings
from tests.audit.break_glass_records import grant_record
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.records import audit_records, encode, logged
from tests.audit.serve import serve
from tests.factories import catalog, notices

CATALOG = catalog()


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    gen = notices(uuid.uuid4().int % 10**6)
    health = gen.notice("HEALTH_SAFEGUARDING_ALERT")
    police = gen.notice("SAFEGUARDING_CONTACT")
    grants = {
        "health": grant_record(health, request_id=str(uuid.uuid4())),
        "police": grant_record(
            police, request_id=str(uuid.uuid4()), reason="MISSING_CHILD_AT_RISK"
        ),
        "police2": grant_record(police, request_id=str(uuid.uuid4()), desk="mash-health-navigator"),
    }
    records = [*audit_records(health), *audit_records(police), *grants.values()]
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    store.append(
        [logged(encode(CATALOG, r), offset=n) for n, r in enumerate(records)], appended_at_ms=1
    )
    store.close()
    return {"url": url, "grants": grants, "data_dir": tmp_path}


def _app(idp: LocalIdp, world: dict[str, Any]) -> Any:
    settings = AuditSettings(database_url=world["url"], jwks_url=idp.jwks_url, token_issuer=ISSUER)
    assert settings.token_audience == AUDIENCE
    return create_app(settings, HubSettings(data_dir=world["data_dir"]))


@pytest.fixture
def client(idp: LocalIdp, world: dict[str, Any]) -> Iterator[httpx.Client]:
    with serve(_app(idp, world)) as http:
        yield http


def _officer(idp: LocalIdp, agency: str | None) -> dict[str, str]:
    extra: dict[str, Any] = {} if agency is None else {"agency": agency}
    token = idp.token(subject=f"ig-{agency or 'none'}".lower(), **extra)
    return {"Authorization": f"Bearer {token}"}


def _access(url: str, index: int) -> dict[str, Any]:
    store = open_store(url)
    try:
        return decode_access(store.leaf(index).data)
    finally:
        store.close()


def _review(
    client: httpx.Client, headers: dict[str, str], grant: dict[str, Any], **body: str
) -> httpx.Response:
    return client.post(
        f"/v1/break-glass/{grant['decision_id']}/review",
        json={"outcome": "JUSTIFIED", "note": "Risk to life was clear.", **body},
        headers=headers,
    )


def test_each_officer_sees_only_their_own_agencys_grants(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    grants = world["grants"]
    health = client.get("/v1/break-glass", headers=_officer(idp, "HEALTH"))
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["agency"] == "HEALTH"
    assert body["not_reviewed"] == 1
    [item] = body["items"]
    assert item["decision_id"] == grants["health"]["decision_id"]
    assert item["desk"] == "mash-manager"
    assert item["requester_role"] == "MASH_MANAGER"
    assert item["reason"] == "IMMEDIATE_RISK_TO_LIFE"
    assert item["justification"].startswith("Child at A&E now")
    assert item["paths"] == sorted(grants["health"]["fields_disclosed"])
    assert item["review"] is None
    logged_query = _access(world["url"], int(health.headers[ACCESS_LEAF_HEADER]))
    assert logged_query["action"] == "break_glass_queue"

    police = client.get("/v1/break-glass", headers=_officer(idp, "POLICE")).json()
    assert {i["decision_id"] for i in police["items"]} == {
        grants["police"]["decision_id"],
        grants["police2"]["decision_id"],
    }
    assert (
        client.get("/v1/break-glass", headers=_officer(idp, "CHILDRENS_SERVICES")).json()["items"]
        == []
    )
    nobody = client.get("/v1/break-glass", headers=_officer(idp, None)).json()
    assert (nobody["agency"], nobody["items"]) == (None, [])
    social = client.get(
        "/v1/break-glass",
        headers={"Authorization": f"Bearer {idp.token(roles=['SOCIAL_WORKER'], agency='HEALTH')}"},
    )
    assert social.status_code == 403


def test_one_review_per_grant_logged_and_kept_across_a_restart(
    idp: LocalIdp, world: dict[str, Any]
) -> None:
    grant = world["grants"]["police"]
    police = _officer(idp, "POLICE")
    with serve(_app(idp, world)) as client:
        assert _review(client, _officer(idp, "HEALTH"), grant).status_code == 403
        bad = _review(client, police, grant, outcome="MAYBE")
        assert bad.status_code == 422
        assert "choose the outcome" in bad.json()["detail"]
        assert _review(client, police, grant, note="x" * 1001).status_code == 422
        unknown = client.post(
            f"/v1/break-glass/{uuid.uuid4()}/review",
            json={"outcome": "JUSTIFIED", "note": "n"},
            headers=police,
        )
        assert unknown.status_code == 404
        # An ordinary decision is no grant to review.
        ordinary = client.get("/v1/decisions?recipient=mash-manager&limit=1", headers=police)
        ordinary_id = ordinary.json()["items"][0]["decision_id"]
        assert (
            client.post(
                f"/v1/break-glass/{ordinary_id}/review",
                json={"outcome": "JUSTIFIED", "note": "n"},
                headers=police,
            ).status_code
            == 404
        )

        kept = _review(client, police, grant, outcome="not_justified", note="No risk recorded.")
        assert kept.status_code == 201, kept.text
        assert kept.json()["outcome"] == "NOT_JUSTIFIED"
        entry = _access(world["url"], int(kept.headers[ACCESS_LEAF_HEADER]) + 1)
        assert entry["action"] == "break_glass_reviewed"
        assert entry["parameters"]["decision_id"] == grant["decision_id"]
        assert entry["parameters"]["outcome"] == "NOT_JUSTIFIED"
        assert entry["parameters"]["note_digest"].startswith("hmac-sha256:")
        assert "No risk recorded" not in str(entry)
        again = _review(client, police, grant, outcome="JUSTIFIED")
        assert again.status_code == 409
    with serve(_app(idp, world)) as client:
        assert _review(client, police, grant).status_code == 409
        queue = client.get("/v1/break-glass", headers=police).json()
        assert queue["not_reviewed"] == 1
        [reviewed] = [i for i in queue["items"] if i["decision_id"] == grant["decision_id"]]
        assert reviewed["review"]["outcome"] == "NOT_JUSTIFIED"
        assert reviewed["review"]["note"] == "No risk recorded."
        assert queue["items"][-1]["decision_id"] == grant["decision_id"]  # waiting ones first


def test_the_page_lists_grants_and_takes_a_review_from_its_form(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    grant = world["grants"]["health"]
    health = _officer(idp, "HEALTH")
    page = client.get("/ig/break-glass", headers=health)
    assert page.status_code == 200
    assert "1 not reviewed yet" in page.text
    assert "Child at A&amp;E now" in page.text
    assert f'action="/v1/break-glass/{grant["decision_id"]}/review"' in page.text
    assert world["grants"]["police"]["decision_id"] not in page.text
    empty = client.post(
        f"/v1/break-glass/{grant['decision_id']}/review",
        data={"outcome": "ESCALATED", "note": " "},
        headers=health,
    )
    assert empty.status_code == 422
    assert 'role="alert"' in empty.text
    assert "Write a note" in empty.text
    done = client.post(
        f"/v1/break-glass/{grant['decision_id']}/review",
        data={"outcome": "ESCALATED", "note": "Passed to the Caldicott Guardian."},
        headers=health,
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = client.get("/ig/break-glass", headers=health)
    assert "0 not reviewed yet" in after.text
    assert "Escalated" in after.text
    assert "Caldicott Guardian" in after.text


def test_the_landing_page_counts_what_waits_for_this_officer(
    idp: LocalIdp, world: dict[str, Any]
) -> None:
    app = _app(idp, world)
    sessions = {
        agency: app.state.ig_signin.open_session(
            idp.token(agency=agency, subject=f"ig-{agency}"), time.time() + 300
        )
        for agency in ("POLICE", "HEALTH", "CHILDRENS_SERVICES")
    }
    with serve(app) as client:

        def landing(agency: str) -> str:
            client.cookies.set(SESSION_COOKIE, sessions[agency])
            return client.get("/ig/").text

        assert "Emergency access to review (2 not reviewed yet)" in landing("POLICE")
        assert "Emergency access to review (1 not reviewed yet)" in landing("HEALTH")
        assert "(0 not reviewed yet)" in landing("CHILDRENS_SERVICES")
        _review(client, _officer(idp, "POLICE"), world["grants"]["police"])
        assert "(1 not reviewed yet)" in landing("POLICE")


def test_the_decision_mix_counts_grants_by_recipient_and_review(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    police = _officer(idp, "POLICE")
    _review(client, police, world["grants"]["police"], outcome="NOT_JUSTIFIED")
    csv = client.get(
        "/v1/figures/decision-mix?from=2026-11-01&to=2026-12-01&format=csv"
        "&table=break_glass_by_recipient_and_review",
        headers=police,
    )
    assert csv.status_code == 200, csv.text
    assert csv.text.splitlines() == [
        "recipient,review,grants",
        "mash-health-navigator,NOT_REVIEWED,1",
        "mash-manager,NOT_JUSTIFIED,1",
        "mash-manager,NOT_REVIEWED,1",
    ]
    page = client.get("/v1/figures/decision-mix?from=2026-11-01&to=2026-12-01", headers=police)
    assert "Emergency access (break-glass) by recipient and review" in page.text
    earlier = client.get("/v1/figures/decision-mix?from=2026-09-01&to=2026-10-01", headers=police)
    assert "No emergency access in this period." in earlier.text
