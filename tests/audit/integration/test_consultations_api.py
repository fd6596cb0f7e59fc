"""The IG API's subject access report lists who looked at the child's records in the console
(CHILD_VIEWED / NOTICE_VIEWED), over every key of the child, from the real SQLite store, with
access tokens checked against a JWKS served over HTTP (issue 16, item 7)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.api import create_app
from services.audit.indexer import SourcePosition
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, LINKAGE_TOPIC
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.linkage_changes import merge
from tests.audit.logs import build_log, decision_entries
from tests.audit.records import logged
from tests.audit.serve import serve
from tests.audit.unit.test_console_consultations import sealed_notice_view


def test_the_report_says_who_viewed_the_child_under_any_of_its_keys(
    idp: LocalIdp, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    entries = decision_entries(1, seed=7)
    child = next(e.columns.subject_linkage_key for e in entries if e.columns.subject_linkage_key)
    assert child is not None
    merged = "c" * 64  # a key the child index later merged into the same child
    views = [sealed_notice_view(child), sealed_notice_view(merged), sealed_notice_view("d" * 64)]
    build_log(
        store,
        log_key,
        entries=[
            *entries,
            *(logged(v, topic=AUDIT_ACCESS_TOPIC, offset=n) for n, v in enumerate(views)),
        ],
    )
    store.append_linkage(
        [dataclasses.replace(merge(child, merged), source=SourcePosition(LINKAGE_TOPIC, 0, 0))],
        appended_at_ms=1,
    )
    store.close()
    settings = AuditSettings(
        database_url=url, jwks_url=idp.jwks_url, token_issuer=ISSUER, token_audience=AUDIENCE
    )
    with serve(create_app(settings, HubSettings(data_dir=tmp_path))) as http:
        headers = {"Authorization": f"Bearer {idp.token()}"}
        report = http.get(f"/v1/subjects/{child}/access-report", headers=headers)
        assert report.status_code == 200, report.text
        consulted = report.json()["consulted"]
        assert [c["subject_linkage_key"] for c in consulted] == [child, merged]
        assert all(c["staff_id"] == "u-researcher-7" for c in consulted)
        page = http.get(f"/v1/subjects/{child}/access-report.html", headers=headers)
        assert "Who looked at your records" in page.text
        assert isinstance(http, httpx.Client)
