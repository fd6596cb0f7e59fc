"""Issue 13, defect 8: the linkage secret was held by every adapter, so whoever compromised
one adapter could recompute any child's pseudonymous key from guessed identifiers offline.
Now only the child index (services/childindex) holds it; adapters ask it over authenticated
HTTP with their own client credential.

Against the real broker, the real identity app, and the child index and adapters served by
uvicorn on loopback:
- an adapter whose key directory has no linkage secret at all still publishes, and its
  notice carries the key the hub's secret gives (asked of the index);
- the index answers 401 without a token (before it reads the body), 403 to an integrator's
  client and to a hub client that is not an agency adapter's, 422 identifiers-incomplete;
- the index's key is exactly HMAC-SHA-256(hub secret, canonical identifiers), the key
  adapters computed before, so notices already on the bus stay linked;
- an adapter whose index is down answers 503 child-index-unavailable and publishes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from services.adapters.ingest.csv_batch import csv_columns
from services.adapters.police.app import create_app as police_app
from services.adapters.voluntary_sector.app import create_app as vcs_app
from services.adapters.voluntary_sector.models import VcsUpdateForm
from services.childindex.bootstrap import childindex_app
from services.childindex.domain import LinkageKeyer
from services.childindex.settings import ChildIndexSettings
from services.hubkit.auth import RESOLVE_CHILDREN_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology
from services.identity.clients import ensure_service_client
from services.synthetic.native import NativeRecords, to_csv
from tests.adapters.helpers import map_native
from tests.factories import FIXED_NOW
from tests.integration.bus import TopicReader
from tests.security.conftest import RUN, Served, serve_app

pytestmark = pytest.mark.kafka

PROBLEM = "application/problem+json"
READER = "gateway"  # least privilege that can read every notice topic


@dataclass
class Index:
    url: str
    secret: bytes
    """The hub's secret, read by the test (never by an adapter) to check the keys."""


@pytest.fixture(scope="module")
async def index(served: Served, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Index]:
    """The child index over real HTTP (uvicorn on loopback), on the stack's secret, with a
    store of its own."""
    settings = ChildIndexSettings(
        token_issuer=served.identity_settings.issuer,
        store_path=tmp_path_factory.mktemp("childindex") / "index.sqlite",
    )
    async with AsyncExitStack() as exits:
        url = await serve_app(childindex_app(served.hub, settings, jwks=served.jwks), exits)
        secret = settings.resolved_secret_path(served.hub.keys_dir).read_bytes()
        yield Index(url=url, secret=secret)


def _records(seed: int) -> NativeRecords:
    return NativeRecords(seed=seed, now=FIXED_NOW, run=RUN)


async def _service_token(served: Served, client_id: str, agency: str) -> str:
    """A token for a hub service's own client holding the resolve scope."""
    key = served.state / "services" / f"{client_id}.pem"
    ensure_service_client(
        state_dir=served.state / "identity",
        private_key_path=key,
        client_id=client_id,
        agency=agency,
        scopes=(RESOLVE_CHILDREN_SCOPE,),
    )
    credentials = ClientCredentials(
        http=served.identity,
        token_endpoint=served.identity_settings.token_endpoint,
        client_id=client_id,
        private_key_path=key,
    )
    return await credentials.token()


def _hmac(secret: bytes, canonical: str) -> str:
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def _open(hub: HubSettings, record: ConsumerRecord) -> dict[str, Any]:
    catalog = SchemaCatalog(hub.schemas_dir)
    verified = open_envelope(catalog, record.value, KeyDirectory.load(hub.keys_dir / "trusted"))
    notice: dict[str, Any] = catalog.decode(verified.payload, MessageType.NOTICE)
    return notice


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _hub_without_the_secret(served: Served, topology: Topology, root: Path) -> HubSettings:
    """A data directory holding only what the police adapter needs: its broker credential
    and its signing key. No linkage secret anywhere in it."""
    principal = topology.agency("POLICE").principal
    hub = served.hub.model_copy(update={"data_dir": root})
    (hub.credentials_dir).mkdir(parents=True, mode=0o700)
    (hub.keys_dir / "private").mkdir(parents=True, mode=0o700)
    shutil.copy2(
        served.hub.credentials_dir / f"{principal}.json", hub.credentials_dir / f"{principal}.json"
    )
    shutil.copy2(
        served.hub.keys_dir / "private" / f"{principal}.pem",
        hub.keys_dir / "private" / f"{principal}.pem",
    )
    return hub


async def test_an_adapter_without_the_secret_publishes_the_index_key(
    served: Served, topology: Topology, index: Index, tmp_path: Path
) -> None:
    hub = _hub_without_the_secret(served, topology, tmp_path / "police-only")
    assert not list(hub.data_dir.rglob("linkage.secret"))
    client_id = served.settings.resolved_child_index_client_id("POLICE")
    settings = served.settings.model_copy(
        update={
            "state_dir": tmp_path / "police-state",
            "child_index_url": index.url,
            "child_index_client_key": served.settings.resolved_child_index_client_key(
                served.state, client_id
            ),
        }
    )
    records = _records(8101)
    child = records.child()
    document = records.police_ppn(child)
    expected = map_native("POLICE", document, keyer=LinkageKeyer(index.secret))
    headers = {"Authorization": f"Bearer {await served.token('POLICE')}"}
    reader = await TopicReader(served.hub, READER, topology.agency("POLICE").topic).start()
    try:
        async with AsyncExitStack() as exits:
            app = police_app(hub, settings, jwks=served.jwks, http=served.outbound)
            url = await serve_app(app, exits)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                answer = await http.post("/v1/occurrences", json=document, headers=headers)
        assert answer.status_code == 202, answer.text
        assert answer.json()["notice_id"] == expected["notice_id"]

        def arrived(records: list[ConsumerRecord]) -> bool:
            return any(
                str(_open(served.hub, r)["notice_id"]) == expected["notice_id"] for r in records
            )

        seen = await reader.read_until(arrived, timeout_s=30)
    finally:
        await reader.stop()
    (mine,) = [r for r in seen if str(_open(served.hub, r)["notice_id"]) == expected["notice_id"]]
    key = expected["subject"]["linkage_key"]
    assert _open(served.hub, mine)["subject"]["linkage_key"] == key
    assert mine.key == key.encode()
    # The key a notice about the same child sent by health carries: the NHS number alone.
    assert key == _hmac(index.secret, "nhs:" + child.nhs_number.replace(" ", ""))


async def test_the_index_wants_a_token_before_it_reads_anything(index: Index) -> None:
    async with httpx.AsyncClient(base_url=index.url) as http:
        missing = await http.post("/v1/children/resolve", json={"nhs_number": "9434765919"})
        malformed = await http.post(
            "/v1/children/resolve", content=b"{not json", headers={"Content-Type": "x/y"}
        )
        forged = await http.post(
            "/v1/children/resolve-batch",
            json={"children": []},
            headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."},
        )
    for answer in (missing, malformed, forged):
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "child_key" not in answer.text


async def test_the_index_refuses_clients_that_are_not_agency_adapters(
    served: Served, index: Index
) -> None:
    integrator = await served.token("POLICE")  # an integrator's client: notices:publish
    hub_service = await _service_token(served, "console-keys-probe", "MASH")
    async with httpx.AsyncClient(base_url=index.url) as http:
        for token in (integrator, hub_service):
            answer = await http.post(
                "/v1/children/resolve",
                json={"nhs_number": "9434765919"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 403, answer.text
            assert answer.headers["content-type"] == PROBLEM
            assert "child_key" not in answer.text


async def test_the_index_key_is_the_key_adapters_computed_before(
    served: Served, index: Index
) -> None:
    token = await _service_token(served, "adapter-health-probe", "HEALTH")
    headers = {"Authorization": f"Bearer {token}"}
    by_name = {
        "given_name": "Ánne-Marie",
        "family_name": "O'Neil",
        "date_of_birth": "2013-05-17",
        "postcode": "zz1 1aa",
    }
    async with httpx.AsyncClient(base_url=index.url) as http:
        nhs = await http.post(
            "/v1/children/resolve", json={"nhs_number": "943 476 5919"}, headers=headers
        )
        name = await http.post("/v1/children/resolve", json=by_name, headers=headers)
        incomplete = await http.post(
            "/v1/children/resolve", json={"given_name": "Kit"}, headers=headers
        )
        batch = await http.post(
            "/v1/children/resolve-batch",
            json={"children": [{"nhs_number": "9434765919"}, {"given_name": "Kit"}, by_name]},
            headers=headers,
        )
    by_nhs_key = _hmac(index.secret, "nhs:9434765919")
    by_name_key = _hmac(index.secret, "demo:annemarie|oneil|2013-05-17|ZZ1")
    assert nhs.json() == {"child_key": by_nhs_key}
    assert name.json() == {"child_key": by_name_key}
    assert incomplete.status_code == 422
    assert incomplete.headers["content-type"] == PROBLEM
    assert incomplete.json()["type"].endswith("/identifiers-incomplete")
    assert batch.json() == {
        "results": [
            {"child_key": by_nhs_key, "problem": None},
            {"child_key": None, "problem": "identifiers_incomplete"},
            {"child_key": by_name_key, "problem": None},
        ]
    }


async def test_an_adapter_whose_index_is_down_answers_503_and_publishes_nothing(
    served: Served, topology: Topology, tmp_path: Path
) -> None:
    settings = served.settings.model_copy(
        update={
            "child_index_url": f"http://127.0.0.1:{_free_port()}",  # nothing listens there
            "child_index_timeout_s": 2.0,
        }
    )
    records = _records(8102)
    police = records.police_ppn(records.child())
    police_id = map_native("POLICE", police)["notice_id"]
    columns, _, _ = csv_columns(VcsUpdateForm)
    forms = [records.vcs_update(records.child(), kind="ENGAGEMENT") for _ in range(3)]
    upload = to_csv([records.vcs_csv_row(f) for f in forms], columns)
    readers = {
        agency: await TopicReader(served.hub, READER, topology.agency(agency).topic).start()
        for agency in ("POLICE", "VOLUNTARY_SECTOR")
    }
    try:
        async with AsyncExitStack() as exits:
            police_url = await serve_app(
                police_app(served.hub, settings, jwks=served.jwks, http=served.outbound), exits
            )
            vcs_url = await serve_app(
                vcs_app(served.hub, settings, jwks=served.jwks, http=served.outbound), exits
            )
            async with httpx.AsyncClient(timeout=30) as http:
                one = await http.post(
                    f"{police_url}/v1/occurrences",
                    json=police,
                    headers={"Authorization": f"Bearer {await served.token('POLICE')}"},
                )
                many = await http.post(
                    f"{vcs_url}/v1/updates/csv",
                    files={"file": ("updates.csv", upload.encode(), "text/csv")},
                    headers={"Authorization": f"Bearer {await served.token('VOLUNTARY_SECTOR')}"},
                )
        published = {a: await r.drain(quiet_s=2.0) for a, r in readers.items()}
    finally:
        for reader in readers.values():
            await reader.stop()
    for answer in (one, many):
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["retry-after"]
        assert answer.json()["type"].endswith("/child-index-unavailable")
    ours = [
        str(notice["notice_id"])
        for records_ in published.values()
        for notice in (_open(served.hub, r) for r in records_)
        if RUN in str(notice["source"]["source_reference"])
    ]
    assert police_id not in ours
    assert ours == []
    # Nothing was recorded either (the down adapter shares the served adapter's idempotency
    # store): once the index answers, the same record publishes.
    async with httpx.AsyncClient(base_url=served.urls["POLICE"], timeout=30) as http:
        again = await http.post(
            "/v1/occurrences",
            json=police,
            headers={"Authorization": f"Bearer {await served.token('POLICE')}"},
        )
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "published"


async def test_the_index_bounds_what_it_reads(served: Served, index: Index) -> None:
    token = await _service_token(served, "adapter-police-probe", "POLICE")
    headers = {"Authorization": f"Bearer {token}"}
    limits = ChildIndexSettings()
    async with httpx.AsyncClient(base_url=index.url) as http:
        huge = await http.post(
            "/v1/children/resolve",
            content=b'{"given_name": "' + b"a" * limits.max_body_bytes + b'"}',
            headers={**headers, "Content-Type": "application/json"},
        )
        too_many = await http.post(
            "/v1/children/resolve-batch",
            json={"children": [{}] * (limits.max_batch + 1)},
            headers=headers,
        )
        unknown = await http.post(
            "/v1/children/resolve", json={"nhs_number": "9434765919", "x": 1}, headers=headers
        )
        not_json = await http.post(
            "/v1/children/resolve",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
    assert (huge.status_code, too_many.status_code) == (413, 413)
    assert (unknown.status_code, not_json.status_code) == (422, 422)
    for answer in (huge, too_many, unknown, not_json):
        assert answer.headers["content-type"] == PROBLEM
        assert "child_key" not in answer.text
