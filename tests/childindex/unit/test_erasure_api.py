"""The child index's erasure routes over HTTP (issue 18, erasure_routes.py), with the real
identity provider and index in process: the erasure job's own client (`erasure-job`, scope
children:erase) learns which children's birth-dated records are due (never a date of birth),
erases one child, and is told it is no longer readable; the other child stays. A client
without the scope is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.childindex.secret import provision_linkage_secret
from services.cli.erasure_job import CLIENT_ID, SCOPES, register_erasure_client
from services.hubkit.auth import CHILD_ERASE_SCOPE, RESOLVE_CHILDREN_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_service_client
from services.identity.settings import IdentitySettings
from tests.childindex.inprocess import index_and_identity

INDEX = "http://childindex.test"
ROBIN = {  # synthetic; NHS number modulus-11 valid
    "nhs_number": "9434765919",
    "given_name": "Robin",
    "family_name": "Testfield",
    "date_of_birth": "2012-05-17",
    "postcode": "ZZ1 1AA",
}
SAM = {
    "nhs_number": "9434765870",
    "given_name": "Sam",
    "family_name": "Exampleton",
    "date_of_birth": "2030-01-02",
    "postcode": "ZZ9 9ZZ",
}
NO_BIRTH = {"upn": "A123456789012", "given_name": "Kit", "family_name": "Undated"}


@dataclass
class Running:
    http: httpx.AsyncClient
    job: ClientCredentials
    health: ClientCredentials

    async def call(
        self, who: ClientCredentials, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        token = await who.token()
        return await self.http.request(
            method, f"{INDEX}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(hub.keys_dir / "linkage.secret")
    identity = IdentitySettings()
    state_dir = identity.resolved_state_dir(tmp_path)
    job_key, health_key = tmp_path / "erasure-job.pem", tmp_path / "adapter-health.pem"
    register_erasure_client(state_dir, job_key)
    ensure_service_client(
        state_dir=state_dir,
        private_key_path=health_key,
        client_id="adapter-health",
        agency="HEALTH",
        scopes=(RESOLVE_CHILDREN_SCOPE,),
    )
    async with index_and_identity(
        hub, store_path=tmp_path / "index.sqlite", index_url=INDEX
    ) as http:

        def credentials(client_id: str, key: Path, scope: str) -> ClientCredentials:
            return ClientCredentials(
                http=http,
                token_endpoint=f"{identity.issuer}/token",
                client_id=client_id,
                private_key_path=key,
                scope=scope,
            )

        yield Running(
            http=http,
            job=credentials(CLIENT_ID, job_key, " ".join(SCOPES)),
            health=credentials("adapter-health", health_key, RESOLVE_CHILDREN_SCOPE),
        )


async def _resolve(running: Running, child: dict[str, Any]) -> str:
    answer = await running.call(running.health, "POST", "/v1/children/resolve", child)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["child_key"])


async def test_due_then_erase_then_unreadable(running: Running) -> None:
    robin, sam = await _resolve(running, ROBIN), await _resolve(running, SAM)
    await _resolve(running, NO_BIRTH)

    due = await running.call(running.job, "POST", "/v1/retention/due", {"today": "2040-01-01"})
    assert due.status_code == 200, due.text
    body = due.json()
    rows = {(r["child_key"], r["record_type"]): r["due_on"] for r in body["due"]}
    # Robin (born 2012): child protection at 25 and health at 26 (age at end unknown: the
    # longer period) are due by 2040; the looked-after record (75) is not; Sam is too young.
    assert rows == {
        (robin, "CHILD_PROTECTION_RECORD"): "2037-05-17",
        (robin, "CHILD_HEALTH_RECORD"): "2038-05-17",
    }
    assert body["children_without_a_settled_date_of_birth"] == 1
    assert "2012-05-17" not in due.text
    assert "2030-01-02" not in due.text

    erased = await running.call(
        running.job, "POST", "/v1/children/erasures", {"subject_linkage_key": robin}
    )
    assert erased.json() == {"store": "child_index", "erased": 1}
    again = await running.call(
        running.job, "POST", "/v1/children/erasures", {"subject_linkage_key": robin}
    )
    assert again.json() == {"store": "child_index", "erased": 0}  # a re-run resumes
    for key, readable in ((robin, False), (sam, True)):
        answer = await running.call(running.job, "GET", f"/v1/children/erasures/{key}")
        assert answer.json() == {"store": "child_index", "readable": readable}
    after = await running.call(running.job, "POST", "/v1/retention/due", {"today": "2040-01-01"})
    assert after.json()["due"] == []
    unknown = await running.call(
        running.job, "POST", "/v1/children/erasures", {"subject_linkage_key": "ab" * 32}
    )
    assert unknown.status_code == 404


async def test_only_the_erasure_scope_may_erase_or_ask(running: Running) -> None:
    robin = await _resolve(running, ROBIN)
    assert CHILD_ERASE_SCOPE in SCOPES  # the job's client has it; the adapter's has not
    for method, path, body in (
        ("POST", "/v1/children/erasures", {"subject_linkage_key": robin}),
        ("GET", f"/v1/children/erasures/{robin}", None),
        ("POST", "/v1/retention/due", {}),
    ):
        refused = await running.call(running.health, method, path, body)
        assert refused.status_code == 403, path
        anonymous = await running.http.request(method, f"{INDEX}{path}", json=body)
        assert anonymous.status_code == 401, path
    still = await running.call(running.job, "GET", f"/v1/children/erasures/{robin}")
    assert still.json()["readable"] is True
