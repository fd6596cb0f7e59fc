"""The family report against the real child index, and approvals kept across a restart
(issue 17). The lookup: the IG API calls the child index (in process, with the identity
provider in process) as its own client `audit-childindex`, registered exactly as `safehub
audit api` and `safehub demo` register it (services/cli/ig.py `register_ig_clients`), and finds
the child an adapter's record keyed. Approvals: an approved report and its PDF survive a
restart of the IG API; a draft never becomes a PDF."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader

from services.audit.api import create_app
from services.audit.child_lookup import (
    CLIENT_ID,
    ChildLookupSettings,
    HttpChildLookup,
    NoChildLookup,
    child_lookup_from_settings,
)
from services.audit.family_approvals import SqliteFamilyApprovals
from services.audit.family_report import Audience, apply_review, family_report
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.childindex.secret import provision_linkage_secret
from services.cli.ig import register_ig_clients
from services.hubkit.auth import RESOLVE_CHILDREN_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_service_client
from services.identity.settings import IdentitySettings
from tests.audit.family import decisions_about
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.logs import build_log
from tests.audit.serve import serve
from tests.audit.unit.test_family_report import SAR
from tests.childindex.inprocess import index_and_identity

INDEX = "http://childindex.test"
AUDIT = "http://audit.test"
NHS = "9434765919"  # modulus-11 valid, synthetic
CHILD = {
    "nhs_number": NHS,
    "given_name": "Robin",
    "family_name": "Testfield",
    "date_of_birth": "2012-05-17",
    "postcode": "ZZ1 1AA",
}


def _settings(idp: LocalIdp, tmp_path: Path) -> AuditSettings:
    return AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        jwks_url=idp.jwks_url,
        token_issuer=ISSUER,
        token_audience=AUDIENCE,
    )


def _log(tmp_path: Path, log_key: Ed25519PrivateKey, child_key: str) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        build_log(store, log_key, entries=decisions_about(child_key, 3))
    finally:
        store.close()


async def test_the_ig_officer_finds_the_child_through_the_real_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idp: LocalIdp, log_key: Ed25519PrivateKey
) -> None:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(hub.keys_dir / "linkage.secret")
    identity = IdentitySettings()
    # As `safehub audit api` does with the local identity provider.
    register_ig_clients(hub, AuditSettings(token_issuer=identity.issuer))
    lookup_settings = ChildLookupSettings(url=INDEX)
    assert lookup_settings.resolved_key_path(hub) == tmp_path / "audit" / f"{CLIENT_ID}.pem"
    health_key = tmp_path / "adapters" / "adapter-health.pem"
    ensure_service_client(
        state_dir=identity.resolved_state_dir(tmp_path),
        private_key_path=health_key,
        client_id="adapter-health",
        agency="HEALTH",
        scopes=(RESOLVE_CHILDREN_SCOPE,),
    )
    async with index_and_identity(
        hub, store_path=tmp_path / "index.sqlite", index_url=INDEX
    ) as http:
        health = ClientCredentials(
            http=http,
            token_endpoint=f"{identity.issuer}/token",
            client_id="adapter-health",
            private_key_path=health_key,
            scope=RESOLVE_CHILDREN_SCOPE,
        )
        resolved = await http.post(
            f"{INDEX}/v1/children/resolve",
            json=CHILD,
            headers={"Authorization": f"Bearer {await health.token()}"},
        )
        assert resolved.status_code == 200, resolved.text
        child_key = resolved.json()["child_key"]
        _log(tmp_path, log_key, child_key)
        lookup = child_lookup_from_settings(
            lookup_settings, hub, token_issuer=identity.issuer, http=http
        )
        assert isinstance(lookup, HttpChildLookup)
        app = create_app(_settings(idp, tmp_path), hub, child_lookup=lookup)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=AUDIT) as audit,
        ):
            audit.headers["Authorization"] = f"Bearer {idp.token()}"
            form = {
                "sar_reference": "SAR-2026-0117",
                "given_name": "Robin",
                "family_name": "Testfield",
                "date_of_birth": "2012-05-17",
                "nhs_number": NHS,
            }
            found = await audit.post("/v1/children/find", data=form)
            assert found.status_code == 200, found.text
            assert "Children found" in found.text
            assert f"/v1/subjects/{child_key}/family-report.html?audience=parent" in found.text
            draft = await audit.get(
                f"/v1/subjects/{child_key}/family-report.html", params={"audience": "parent"}
            )
            assert draft.status_code == 200, draft.text
            nobody = await audit.post(
                "/v1/children/find",
                data={
                    "sar_reference": "SAR-2026-0118",
                    "given_name": "Nobody",
                    "family_name": "Elsewhere",
                    "date_of_birth": "2010-01-01",
                },
            )
            assert nobody.status_code == 200, nobody.text
            assert "No child found" in nobody.text


def test_without_the_clients_key_the_lookup_says_so(idp: LocalIdp, tmp_path: Path) -> None:
    hub = HubSettings(data_dir=tmp_path)
    lookup = child_lookup_from_settings(ChildLookupSettings(), hub, token_issuer=ISSUER)
    assert isinstance(lookup, HttpChildLookup)  # the local defaults
    assert isinstance(
        child_lookup_from_settings(ChildLookupSettings(url=""), hub, token_issuer=ISSUER),
        NoChildLookup,
    )
    with serve(create_app(_settings(idp, tmp_path), hub)) as http:
        answer = http.post(
            "/v1/children/find",
            data={"sar_reference": "r", "nhs_number": NHS},
            headers={"Authorization": f"Bearer {idp.token()}"},
        )
    assert answer.status_code == 503
    assert "audit-childindex" in answer.text


@pytest.fixture
def logged_child(tmp_path: Path, log_key: Ed25519PrivateKey) -> str:
    key = "c7" * 32
    _log(tmp_path, log_key, key)
    return key


@contextmanager
def _running(idp: LocalIdp, tmp_path: Path) -> Iterator[httpx.Client]:
    app = create_app(
        _settings(idp, tmp_path), HubSettings(data_dir=tmp_path), child_lookup=NoChildLookup()
    )
    with serve(app) as http:
        http.headers["Authorization"] = f"Bearer {idp.token()}"
        yield http


def test_an_approval_survives_a_restart(idp: LocalIdp, tmp_path: Path, logged_child: str) -> None:
    base = f"/v1/subjects/{logged_child}/family-report"
    with _running(idp, tmp_path) as http:
        draft = http.get(f"{base}.html", params={"audience": "parent"})
        row = draft.text.split('name="leave_out" value="', 1)[1].split('"', 1)[0]
        approved = http.post(
            f"{base}/approve",
            params={"audience": "parent"},
            data={"leave_out": row, f"reason-{row}": "another person's information"},
        )
        assert approved.status_code == 303, approved.text
    assert (tmp_path / "audit" / "family-approvals.sqlite").stat().st_mode & 0o077 == 0
    with _running(idp, tmp_path) as http:  # a new process over the same data directory
        page = http.get(f"{base}/approved.html", params={"audience": "parent"})
        assert page.status_code == 200, page.text
        assert row not in page.text
        pdf = http.get(f"{base}.pdf", params={"audience": "parent"})
        assert pdf.status_code == 200
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert (
            "another person's information" not in text
        )  # the reason is for the file, not the family
        # The child's version was never approved: still no PDF for it.
        assert http.get(f"{base}.pdf", params={"audience": "child"}).status_code == 409


def test_the_latest_approval_is_served_after_a_reopen(tmp_path: Path, logged_child: str) -> None:
    path = tmp_path / "approvals.sqlite"
    store = SqliteFamilyApprovals(path)
    assert store.approved(logged_child, Audience.CHILD) is None
    draft = family_report(SAR, audience=Audience.CHILD)
    first = apply_review(
        draft, left_out={}, approved_by="ig-1", approved_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    second = apply_review(
        draft,
        left_out={draft.row_ids()[0]: "third party"},
        approved_by="ig-2",
        approved_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
    )
    store.approve(logged_child, Audience.CHILD, first)
    store.approve(logged_child, Audience.CHILD, second)
    with pytest.raises(ValueError, match="reviewed"):
        store.approve(logged_child, Audience.CHILD, draft)
    store.close()
    reopened = SqliteFamilyApprovals(path)
    try:
        assert reopened.approved(logged_child, Audience.CHILD) == second
        assert reopened.approved(logged_child, Audience.PARENT) is None
    finally:
        reopened.close()
