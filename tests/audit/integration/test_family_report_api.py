"""From a family's request to the report they can read, over the IG API (issue 17): finding
the child by identifiers (the lookup audited, never what was typed), a bogus key refused, the
review and approval (audited), and the PDF only once approved."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader

from services.audit.api import create_app
from services.audit.child_lookup import ChildFound, NoChildLookup
from services.audit.indexer import EntryKind, decode_access
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.keyed_digest import keyed_digest
from services.hubkit.linkage import ChildIdentifiers
from services.hubkit.settings import HubSettings
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.logs import build_log, decision_entries
from tests.audit.serve import serve

NHS_NUMBER = "9434765919"  # passes the modulus-11 check; a test range number


class FakeIndex:
    """The child index's search: one child, found by its NHS number."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.asked: list[ChildIdentifiers] = []

    async def search(self, identifiers: ChildIdentifiers) -> list[ChildFound]:
        self.asked.append(identifiers)
        if identifiers.nhs_number == NHS_NUMBER:
            return [ChildFound(child_key=self.key, keys=(self.key,), strength="strong")]
        return []


@pytest.fixture
def log_url(tmp_path: Path, log_key: Ed25519PrivateKey) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    build_log(store, log_key, entries=decision_entries(2, seed=17))
    store.close()
    return url


def _leaves(url: str) -> Any:
    store = open_store(url)
    try:
        return store.leaves(0, 10_000)
    finally:
        store.close()


def _client(idp: LocalIdp, url: str, tmp_path: Path, lookup: Any) -> Any:
    settings = AuditSettings(
        database_url=url, jwks_url=idp.jwks_url, token_issuer=ISSUER, token_audience=AUDIENCE
    )
    app = create_app(settings, HubSettings(data_dir=tmp_path), child_lookup=lookup)
    return serve(app)


@pytest.fixture
def child_key(log_url: str) -> str:
    return str(_leaves(log_url)[0].columns.subject_linkage_key)


@pytest.fixture
def index(child_key: str) -> FakeIndex:
    return FakeIndex(child_key)


@pytest.fixture
def client(idp: LocalIdp, log_url: str, tmp_path: Path, index: FakeIndex) -> Iterator[httpx.Client]:
    with _client(idp, log_url, tmp_path, index) as http:
        http.headers["Authorization"] = f"Bearer {idp.token()}"
        yield http


def test_a_bogus_key_is_no_such_child_never_an_empty_report(client: httpx.Client) -> None:
    for path in (
        "/v1/subjects/{k}/access-report",
        "/v1/subjects/{k}/access-report.html",
        "/v1/subjects/{k}/family-report.html",
    ):
        response = client.get(path.format(k="ab" * 32))
        assert response.status_code == 404, path
        assert "no child with this reference" in response.text


def test_finding_a_child_is_audited_with_kinds_and_count_never_what_was_typed(
    client: httpx.Client, index: FakeIndex, log_url: str, child_key: str, tmp_path: Path
) -> None:
    form = {
        "sar_reference": "SAR-2026-0042",
        "given_name": "Synthia",
        "family_name": "Testchild",
        "date_of_birth": "2014-03-09",
        "nhs_number": NHS_NUMBER,
    }
    response = client.post("/v1/children/find", data=form)
    assert response.status_code == 200, response.text
    assert f"/v1/subjects/{child_key}/family-report.html" in response.text
    assert index.asked[0].family_name == "Testchild"
    leaves = _leaves(log_url)
    done = decode_access(leaves[-1].data)
    assert leaves[-1].kind is EntryKind.ACCESS
    assert done["action"] == "child_lookup_done"
    assert done["parameters"]["identifiers_used"] == (
        "GIVEN_NAME,FAMILY_NAME,DATE_OF_BIRTH,NHS_NUMBER"
    )
    assert done["parameters"]["index_matches"] == "1"
    # Keyed (a reference is guessable from a plain hash), under the service's own key.
    key = (tmp_path / "audit" / "digest.key").read_bytes()
    assert (tmp_path / "audit" / "digest.key").stat().st_mode & 0o777 == 0o600
    assert done["parameters"]["sar_reference"] == keyed_digest(key, "SAR-2026-0042")
    # The route itself was logged before it ran; nothing typed is anywhere in the log.
    assert decode_access(leaves[-2].data)["action"] == "child_find"
    raw = b"".join(leaf.data for leaf in leaves[-2:])
    for typed in ("Synthia", "Testchild", "2014-03-09", NHS_NUMBER, "SAR-2026-0042"):
        assert typed.encode() not in raw


def test_too_few_identifiers_or_no_index_say_so(
    idp: LocalIdp, log_url: str, tmp_path: Path, client: httpx.Client
) -> None:
    response = client.post("/v1/children/find", data={"sar_reference": "r", "family_name": "X"})
    assert response.status_code == 422
    assert "NHS number" in response.text
    with _client(idp, log_url, tmp_path, NoChildLookup()) as http:
        response = http.post(
            "/v1/children/find",
            data={"sar_reference": "r", "nhs_number": NHS_NUMBER},
            headers={"Authorization": f"Bearer {idp.token()}"},
        )
    assert response.status_code == 503
    assert "no child index is configured" in response.text


def test_review_approve_and_download_the_pdf(
    client: httpx.Client, child_key: str, log_url: str
) -> None:
    base = f"/v1/subjects/{child_key}/family-report"
    # No PDF before approval.
    assert client.get(f"{base}.pdf", params={"audience": "child"}).status_code == 409
    draft = client.get(f"{base}.html", params={"audience": "child"})
    assert draft.status_code == 200
    assert "Draft for review" in draft.text
    row = draft.text.split('name="leave_out" value="', 1)[1].split('"', 1)[0]
    # A row left out needs a reason.
    refused = client.post(f"{base}/approve", params={"audience": "child"}, data={"leave_out": row})
    assert refused.status_code == 422
    approved = client.post(
        f"{base}/approve",
        params={"audience": "child"},
        data={"leave_out": row, f"reason-{row}": "third party"},
    )
    assert approved.status_code == 303
    entry = decode_access(_leaves(log_url)[-1].data)
    assert entry["action"] == "family_report_approved"
    assert entry["parameters"]["rows_left_out"] == "1"
    page = client.get(approved.headers["location"])
    assert "Download the PDF" in page.text
    assert row not in page.text
    pdf = client.get(f"{base}.pdf", params={"audience": "child"})
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Your information: who saw it and why" in text
    # The parent's version was not approved: no PDF for it.
    assert client.get(f"{base}.pdf", params={"audience": "parent"}).status_code == 409
