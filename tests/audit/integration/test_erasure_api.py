"""The audit log's erasure phases over HTTP (issue 18, services/audit/erasure_routes.py): real
uvicorn, a real SQLite store holding two children's decisions, tokens checked against a JWKS
served over HTTP. Intent, deletion and confirmation are logged in that order, each once; the
erased child no longer opens, the other child still does; phases out of order, repeated, for
another child, or without the audit:erase scope are refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.audit.api import create_app
from services.audit.indexer import decode_erasure
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.auth import AUDIT_ERASE_SCOPE, AUDIT_RETRACTIONS_SCOPE
from services.hubkit.settings import HubSettings
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.records import audit_records, encode, logged
from tests.audit.serve import serve
from tests.factories import catalog, notices

CATALOG = catalog()
SERVICE_AUDIENCE = "safehub-ingest"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    gen = notices(uuid.uuid4().int % 10**6)
    erased, kept = gen.notice("HEALTH_SAFEGUARDING_ALERT"), gen.notice("SAFEGUARDING_CONTACT")
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    records = [*audit_records(erased), *audit_records(kept)]
    store.append(
        [logged(encode(CATALOG, r), offset=n) for n, r in enumerate(records)], appended_at_ms=1
    )
    store.close()
    return {
        "url": url,
        "erased": erased["subject"]["linkage_key"],
        "kept": kept["subject"]["linkage_key"],
    }


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


def _job(idp: LocalIdp, scope: str = AUDIT_ERASE_SCOPE) -> dict[str, str]:
    token = idp.token(
        subject="erasure-job",
        roles=[],
        audience=SERVICE_AUDIENCE,
        agency="IG",
        scope=scope,
        client_id="erasure-job",
    )
    return {"Authorization": f"Bearer {token}"}


def _intent(key: str, erasure_id: str) -> dict[str, Any]:
    return {
        "erasure_id": erasure_id,
        "subject_linkage_key": key,
        "record_type": "CHILD_HEALTH_RECORD",
        "rule": "26 years after the date of birth",
        "reason": "retention review: due 2100-01-01",
        "approved_by": "IG officer (synthetic)",
    }


def test_intent_deletion_confirmation_in_order_and_once(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    job, key, eid = _job(idp), world["erased"], "er-1"
    assert open_store(world["url"]).child_readable(key)

    early = client.post(
        f"/v1/erasures/{eid}/deletion", json={"subject_linkage_key": key, "stores": {}}, headers=job
    )
    assert early.status_code == 409
    assert early.json()["repeated"] is False

    intent = client.post("/v1/erasures", json=_intent(key, eid), headers=job)
    assert intent.status_code == 201, intent.text
    again = client.post("/v1/erasures", json=_intent(key, eid), headers=job)
    assert again.status_code == 409
    assert again.json()["repeated"] is True

    other = client.post(
        f"/v1/erasures/{eid}/deletion",
        json={"subject_linkage_key": world["kept"], "stores": {}},
        headers=job,
    )
    assert other.status_code == 409
    assert "not the child" in other.json()["detail"]

    deletion = client.post(
        f"/v1/erasures/{eid}/deletion",
        json={"subject_linkage_key": key, "stores": {"child_index": 1, "console_projection": 3}},
        headers=job,
    )
    assert deletion.status_code == 201, deletion.text
    counts = deletion.json()["stores"]
    assert counts["child_index"] == 1
    assert counts["audit_index"] > 0

    unconfirmed = client.post(
        f"/v1/erasures/{eid}/confirmation",
        json={"subject_linkage_key": key, "stores": {"child_index": "readable"}},
        headers=job,
    )
    assert unconfirmed.status_code == 409
    assert "child_index" in unconfirmed.json()["detail"]
    confirmed = client.post(
        f"/v1/erasures/{eid}/confirmation",
        json={"subject_linkage_key": key, "stores": {"child_index": "unreadable"}},
        headers=job,
    )
    assert confirmed.status_code == 201, confirmed.text

    store = open_store(world["url"])
    try:
        assert not store.child_readable(key)
        assert store.child_readable(world["kept"])  # the other child is untouched
        leaves = [
            store.leaves_for_entry(f"erasure:{eid}:{p}")[0]
            for p in ("intent", "deletion", "confirmation")
        ]
        indices = [leaf.leaf_index for leaf in leaves]
        assert indices == sorted(indices)
        assert len(set(indices)) == 3
        entries = [decode_erasure(leaf.data) for leaf in leaves]
        assert [e["phase"] for e in entries] == ["intent", "deletion", "confirmation"]
        assert len({e["child_ref_digest"] for e in entries}) == 1
        for leaf in leaves:
            assert key.encode() not in leaf.data  # the child only as a digest
        assert entries[1]["stores"]["console_projection"] == 3
        assert entries[0]["actor"].startswith("IG officer (synthetic)")
    finally:
        store.close()


def test_erasure_needs_the_audit_erase_scope(
    client: httpx.Client, idp: LocalIdp, world: dict[str, Any]
) -> None:
    body = _intent(world["erased"], "er-2")
    assert client.post("/v1/erasures", json=body).status_code == 401
    refused = client.post("/v1/erasures", json=body, headers=_job(idp, AUDIT_RETRACTIONS_SCOPE))
    assert refused.status_code == 403
    # An IG officer's own token (another audience) is not the job's either.
    person = {"Authorization": f"Bearer {idp.token()}"}
    assert client.post("/v1/erasures", json=body, headers=person).status_code == 401
    store = open_store(world["url"])
    try:
        assert store.leaves_for_entry("erasure:er-2:intent") == []
    finally:
        store.close()


@pytest.mark.parametrize("path", ["/v1/erasures", "/v1/erasures/er-3/deletion"])
def test_the_token_is_checked_before_the_body(
    client: httpx.Client, idp: LocalIdp, path: str
) -> None:
    """A malformed body from a caller without a token is refused as unauthenticated (401),
    never parsed (422); with the job's token the same body is then refused as malformed."""
    broken = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    assert client.post(path, **broken).status_code == 401  # type: ignore[arg-type]
    wrong = {**_job(idp, AUDIT_RETRACTIONS_SCOPE), "content-type": "application/json"}
    assert client.post(path, content=b"{not json", headers=wrong).status_code == 403
    job = {**_job(idp), "content-type": "application/json"}
    malformed = client.post(path, content=b"{not json", headers=job)
    assert malformed.status_code == 422
    assert "documented JSON" in malformed.json()["detail"]
    extra = client.post(path, json={"unexpected": 1}, headers=_job(idp))
    assert extra.status_code == 422
