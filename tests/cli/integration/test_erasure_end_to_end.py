"""The erasure job end to end (issue 18): `safehub erasure due` then `run --approved-by`,
over HTTP against the three stores that keep a child, in process (no broker): the child index,
the MASH console and the audit log, each with its real SQLite store and its erase routes, and
the real identity provider issuing the job's client-credentials tokens.

A synthetic child (Quorlenna) is in all three: resolved through the index's API as an
adapter keys children, delivered to the console's stored feed projection, and decided about
in the audit log (with an emergency access grant whose free text is a marker). A second
child (Sam) is in all three too and is not due. After the run, every store answers
"readable": false for Quorlenna and true for Sam; no store file (nor its write-ahead log)
holds her NHS number, name, marker or linkage key; the audit log holds intent, deletion,
confirmation in that order for each approved entry; and the partner verifier verifies every
checkpoint, every consistency proof between them and an inclusion proof for every leaf.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.api import create_app as audit_app
from services.audit.export import consistency_evidence, export_log, inclusion_evidence
from services.audit.retraction_api import RETRACTION_CLIENTS_STATE
from services.audit.settings import AuditSettings
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import (
    read_export,
    verify_consistency_files,
    verify_inclusion_files,
    verify_log,
)
from services.childindex.bootstrap import childindex_app
from services.childindex.secret import provision_linkage_secret
from services.childindex.settings import ChildIndexSettings
from services.cli.erasure import due_report, run_review
from services.cli.erasure_job import CLIENT_ID, ErasureJobSettings, register_erasure_client
from services.console.app import create_app as console_app
from services.console.projection_store import StoredProjection
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.auth import (
    CHILD_ERASE_SCOPE,
    RESOLVE_CHILDREN_SCOPE,
    RemoteJwks,
    TokenValidator,
)
from services.hubkit.child_keys import ChildKeys, StoreKeyFile
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from services.identity.app import create_app as identity_app
from services.identity.clients import ensure_service_client
from services.identity.settings import IdentitySettings
from tests.audit.break_glass_records import grant_record
from tests.audit.logs import sign_now
from tests.audit.records import audit_records, encode, logged
from tests.console.app_fakes import TOPOLOGY, FakeSignIn, Sent, page_runtime
from tests.console.factories import entry
from tests.factories import catalog, notices

INDEX, CONSOLE, AUDIT = "http://childindex.test", "http://console.test", "http://audit.test"
CATALOG = catalog()
TODAY = dt.date(2040, 1, 1)  # Quorlenna (born 2012) is due by then; Sam (born 2030) is not
APPROVER = "Iris Example (IG officer, synthetic)"
# Synthetic people; NHS numbers are modulus-11 valid and invented.
QUORLENNA = {
    "nhs_number": "9434765919",
    "given_name": "Quorlenna",
    "family_name": "Vantwistle",
    "date_of_birth": "2012-05-17",
    "postcode": "ZZ1 1AA",
}
SAM = {
    "nhs_number": "9434765870",
    "given_name": "Samwyth",
    "family_name": "Exampleton",
    "date_of_birth": "2030-01-02",
    "postcode": "ZZ9 9ZZ",
}
MARKER = {"Quorlenna": "Marker-E2E-5d1c-seen-by-the-canal", "Samwyth": "Marker-E2E-9a0b-kept"}


@dataclass
class Hub:
    hub: HubSettings
    http: httpx.AsyncClient
    job: ErasureJobSettings
    eraser: ClientCredentials
    adapter: ClientCredentials
    audit: SqlAuditStore
    log_key: Ed25519PrivateKey
    console_projection: StoredProjection
    files: dict[str, Path]

    async def call(
        self, who: ClientCredentials, method: str, url: str, body: Any = None
    ) -> httpx.Response:
        token = await who.token()
        return await self.http.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}
        )

    def raw(self, store: str) -> bytes:
        """A store's database file and its -wal/-shm, as a copy or a backup takes them."""
        path = self.files[store]
        parts = sorted(path.parent.glob(path.name + "*"))
        assert parts, f"no file for {store}"
        return b"".join(p.read_bytes() for p in parts)


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(hub.keys_dir / "linkage.secret")
    identity = IdentitySettings()
    state_dir = identity.resolved_state_dir(tmp_path)
    job_key, adapter_key = tmp_path / "erasure-job.pem", tmp_path / "adapter-health.pem"
    register_erasure_client(state_dir, job_key)
    ensure_service_client(
        state_dir=state_dir,
        private_key_path=adapter_key,
        client_id="adapter-health",
        agency="HEALTH",
        scopes=(RESOLVE_CHILDREN_SCOPE,),
    )
    files = {
        "child_index": tmp_path / "childindex" / "index.sqlite",
        "console_projection": tmp_path / "console" / "console.sqlite",
        "audit_index": tmp_path / "audit" / "audit.db",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    audit_store = open_store(
        f"sqlite:///{files['audit_index']}",
        store_key=StoreKeyFile(tmp_path / "audit" / "store.key"),
    )
    console_settings = ConsoleSettings(base_url=CONSOLE, issuer=identity.issuer)
    database = PrivateSqlite(files["console_projection"])
    console_keys = ChildKeys(
        StoreKeyFile(tmp_path / "console" / "store.key").store_key(), store="console"
    )
    projections = {
        s.subscriber_id: StoredProjection(
            database,
            s.subscriber_id,
            topic=s.feed_topic,
            timescales=console_settings.timescales(),
            keys=console_keys,
        )
        for s in TOPOLOGY.subscribers
        if s.role in console_settings.console_roles
    }
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(audit_store.close)
        stack.callback(database.close)
        idp = identity_app(hub, identity)
        await stack.enter_async_context(idp.router.lifespan_context(idp))
        to_identity = httpx.ASGITransport(app=idp)
        jwks_http = await stack.enter_async_context(
            httpx.AsyncClient(transport=to_identity, base_url=identity.issuer)
        )

        def service_tokens() -> TokenValidator:
            # What each service builds from its settings: the issuer's JWKS, the audience
            # every client-credentials token carries.
            return TokenValidator(
                jwks=RemoteJwks(identity.jwks_uri, client=jwks_http),
                issuer=identity.issuer,
                audience="safehub-ingest",
            )

        index = childindex_app(
            hub,
            ChildIndexSettings(token_issuer=identity.issuer, store_path=files["child_index"]),
            jwks=RemoteJwks(identity.jwks_uri, client=jwks_http),
            announce=False,
        )
        await stack.enter_async_context(index.router.lifespan_context(index))

        @contextlib.asynccontextmanager
        async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
            # The real stores on disk; no feed followers (items are applied below, as the
            # follower applies them) and no bus.
            yield page_runtime(
                console_settings,
                sessions,
                projections=projections,  # type: ignore[arg-type]
                signin=FakeSignIn(),
                sent=Sent(),
                database=database,
                child_keys=console_keys,
                service_tokens=service_tokens(),
            )

        console = console_app(hub, console_settings, runtime=runtime)
        await stack.enter_async_context(console.router.lifespan_context(console))
        audit_settings = AuditSettings(
            database_url=f"sqlite:///{files['audit_index']}",
            token_issuer=identity.issuer,
            jwks_url=identity.jwks_uri,
        )
        audit = audit_app(audit_settings, hub, store=audit_store)
        await stack.enter_async_context(audit.router.lifespan_context(audit))
        # The audit app builds its service-client validator over the network; here the
        # identity provider is in process, so the same validator is given its transport.
        setattr(audit.state, RETRACTION_CLIENTS_STATE, service_tokens())
        http = await stack.enter_async_context(
            httpx.AsyncClient(
                mounts={
                    identity.issuer: to_identity,
                    INDEX: httpx.ASGITransport(app=index),
                    CONSOLE: httpx.ASGITransport(app=console),
                    AUDIT: httpx.ASGITransport(app=audit),
                }
            )
        )

        def credentials(client_id: str, key: Path, scope: str) -> ClientCredentials:
            return ClientCredentials(
                http=http,
                token_endpoint=f"{identity.issuer}/token",
                client_id=client_id,
                private_key_path=key,
                scope=scope,
            )

        yield Hub(
            hub=hub,
            http=http,
            job=ErasureJobSettings(
                childindex_url=INDEX,
                console_url=CONSOLE,
                audit_url=AUDIT,
                token_endpoint=f"{identity.issuer}/token",
                key_path=job_key,
            ),
            eraser=credentials(CLIENT_ID, job_key, CHILD_ERASE_SCOPE),
            adapter=credentials("adapter-health", adapter_key, RESOLVE_CHILDREN_SCOPE),
            audit=audit_store,
            log_key=Ed25519PrivateKey.from_private_bytes(bytes(range(40, 72))),
            console_projection=projections["mash-manager"],
            files=files,
        )


async def _put_child(hub: Hub, child: dict[str, str], *, seed: int, offset: int) -> str:
    """The child in all three stores, keyed the way adapters key children; its key."""
    resolved = await hub.call(hub.adapter, "POST", f"{INDEX}/v1/children/resolve", child)
    assert resolved.status_code == 200, resolved.text
    key = str(resolved.json()["child_key"])
    name, marker = child["given_name"], MARKER[child["given_name"]]
    # The console: what the MASH manager's feed delivered about the child.
    items = [
        entry(
            linkage_key=key,
            given_name=name,
            family_name=child["family_name"],
            summary=f"{marker}; NHS {child['nhs_number']}",
        ),
        entry(linkage_key=key, given_name=name, source_agency="HEALTH", summary=marker),
    ]
    hub.console_projection.apply_all(
        items, topic="feed.mash-manager.v1", partition=0, next_offset=offset + len(items)
    )
    # The audit log: the gateway's decisions about a notice on the child, and an emergency
    # access grant whose justification is the marker.
    notice = notices(seed).notice("SAFEGUARDING_CONTACT")
    notice["subject"].update(
        linkage_key=key,
        nhs_number=child["nhs_number"],
        given_name=name,
        family_name=child["family_name"],
    )
    records = [
        *audit_records(notice),
        grant_record(notice, request_id=f"bg-{name}", justification=marker),
    ]
    hub.audit.append(
        [logged(encode(CATALOG, r), offset=offset + i) for i, r in enumerate(records)],
        appended_at_ms=offset,
    )
    return key


def _needles(child: dict[str, str], key: str) -> list[bytes]:
    return [
        child["nhs_number"].encode(),
        child["given_name"].encode(),
        child["family_name"].encode(),
        MARKER[child["given_name"]].encode(),
        key.encode(),
        bytes.fromhex(key),
    ]


async def _readable(hub: Hub, key: str) -> dict[str, bool]:
    answers = {}
    for store, base in (("child_index", INDEX), ("console_projection", CONSOLE)):
        response = await hub.call(hub.eraser, "GET", f"{base}/v1/children/erasures/{key}")
        assert response.status_code == 200, response.text
        assert response.json()["store"] == store
        answers[store] = bool(response.json()["readable"])
    answers["audit_index"] = hub.audit.child_readable(key)
    return answers


async def test_due_then_run_erases_one_child_everywhere_and_the_log_still_verifies(
    hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    erased = await _put_child(hub, QUORLENNA, seed=31, offset=0)
    kept = await _put_child(hub, SAM, seed=32, offset=100)
    first = sign_now(hub.audit, hub.log_key, at_ms=1_800_000_000_000)
    assert first is not None
    everywhere = {"child_index": True, "console_projection": True, "audit_index": True}
    assert await _readable(hub, erased) == everywhere
    assert await _readable(hub, kept) == everywhere
    # The test reads real data: the console keeps the linkage key in clear beside its items
    # until the child is erased (what it says about the child is sealed).
    assert erased.encode() in hub.raw("console_projection")
    assert erased.encode() in hub.raw("child_index")

    review = tmp_path / "review.json"
    assert await due_report(hub.hub, today=TODAY, out=review, http=hub.http, settings=hub.job) == 0
    plan = json.loads(review.read_text())
    assert {e["child_key"] for e in plan["entries"]} == {erased}  # Sam is not due
    assert all(e["approve"] is False for e in plan["entries"])
    assert "2012-05-17" not in review.read_text()
    for e in plan["entries"]:
        e["approve"] = True
    review.write_text(json.dumps(plan))

    code = await run_review(
        hub.hub, review=review, approved_by=APPROVER, http=hub.http, settings=hub.job
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"{len(plan['entries'])} of {len(plan['entries'])} approved entries" in out.out

    assert await _readable(hub, erased) == dict.fromkeys(everywhere, False)
    assert await _readable(hub, kept) == everywhere  # the other child is untouched
    for store in hub.files:
        raw = hub.raw(store)
        for needle in _needles(QUORLENNA, erased):
            assert needle not in raw, f"{store} still holds {needle!r}"
    assert kept.encode() in hub.raw("console_projection")

    # The log holds intent, deletion, confirmation, in that order, for each approved entry.
    for e in plan["entries"]:
        leaves = [
            hub.audit.leaves_for_entry(f"erasure:{e['erasure_id']}:{phase}")
            for phase in ("intent", "deletion", "confirmation")
        ]
        assert all(len(found) == 1 for found in leaves), e["erasure_id"]
        indices = [found[0].leaf_index for found in leaves]
        assert indices == sorted(set(indices))

    # The partner verifier, after the erasure: the whole log and every checkpoint ...
    assert sign_now(hub.audit, hub.log_key, at_ms=1_900_000_000_000) is not None
    public = hub.log_key.public_key()
    export_log(hub.audit, tmp_path / "export", catalog=CATALOG)
    exported, notes = read_export(tmp_path / "export")
    report = verify_log(entries=exported, notes=notes, public_key=public, catalog=CATALOG)
    assert report.entries == hub.audit.head().size
    assert report.unsigned_entries == 0
    # ... every consistency proof between checkpoints ...
    history = hub.audit.checkpoints()
    assert len(history) == 2
    for i, old in enumerate(history):
        for new in history[i + 1 :]:
            evidence = consistency_evidence(
                hub.audit, old_size=old.checkpoint.tree_size, new_size=new.checkpoint.tree_size
            )
            verify_consistency_files(
                old_note=evidence.old.note,
                new_note=evidence.new.note,
                proof=evidence.proof,
                public_key=public,
            )
    # ... and an inclusion proof for every leaf against the latest checkpoint.
    for index in range(hub.audit.head().size):
        inclusion = inclusion_evidence(hub.audit, leaf_index=index, catalog=CATALOG)
        verify_inclusion_files(
            entry=inclusion.entry,
            proof=inclusion.proof,
            note=inclusion.checkpoint.note,
            public_key=public,
            catalog=CATALOG,
        )
