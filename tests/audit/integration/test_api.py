"""The IG query API over a real SQLite store, with access tokens checked against a JWKS served
over HTTP: authentication, the IG role, every query audited in the log, the queries, the
subject access report (over every key a merged child has), the record of processing and proofs
a partner can verify."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from services.audit.api import ACCESS_LEAF_HEADER, create_app
from services.audit.errors import StorageError, TokenIssuerMissing
from services.audit.indexer import EntryKind, LogEntry, SourcePosition, decode_access
from services.audit.linkage import MODEL_DECIDER
from services.audit.settings import AuditSettings
from services.audit.storage import AppendResult
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.verify import verify_consistency_files, verify_inclusion_files
from services.hubkit.settings import HubSettings
from services.hubkit.topology import LINKAGE_TOPIC
from tests.audit.jwks import AUDIENCE, ISSUER, LocalIdp
from tests.audit.linkage_changes import merge, split
from tests.audit.logs import build_log, decision_entries
from tests.audit.serve import serve
from tests.factories import FIXED_NOW, catalog

CATALOG = catalog()


@pytest.fixture
def log_url(tmp_path: Path, log_key: Ed25519PrivateKey) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    build_log(store, log_key, entries=decision_entries(4, seed=31))  # 24 leaves
    store.close()
    return url


def _settings(idp: LocalIdp, url: str) -> AuditSettings:
    return AuditSettings(
        database_url=url, jwks_url=idp.jwks_url, token_issuer=ISSUER, token_audience=AUDIENCE
    )


@pytest.fixture
def client(idp: LocalIdp, log_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    app = create_app(_settings(idp, log_url), HubSettings(data_dir=tmp_path))
    with serve(app) as http:
        yield http


def _get(client: httpx.Client, idp: LocalIdp, path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {idp.token()}"})
    assert response.status_code == 200, response.text
    return response


def _leaves(log_url: str) -> Any:
    store = open_store(log_url)
    try:
        return store.leaves(0, 10_000)
    finally:
        store.close()


# -- authentication and authorisation ---------------------------------------------------------


def test_queries_need_a_valid_token(client: httpx.Client, idp: LocalIdp, log_url: str) -> None:
    response = client.get("/v1/decisions")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    stranger = OKPKey.generate_key("Ed25519", parameters={"kid": "test-idp-1"})
    for token in (
        "not-a-jwt",
        idp.token(expires_in=-120),
        idp.token(audience="another-service"),
        idp.token(issuer="https://evil.test"),
        idp.token(key=stranger),
        # An ID token (typ JWT) carrying the IG role is not an access token (RFC 9068).
        idp.token(typ="JWT"),
    ):
        response = client.get("/v1/decisions", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
    # Nobody was authenticated, so nothing was appended.
    assert len(_leaves(log_url)) == 24
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_caller_without_the_ig_role_is_refused_and_the_attempt_logged(
    client: httpx.Client, idp: LocalIdp, log_url: str
) -> None:
    token = idp.token(subject="duty-sw-9", roles=["SOCIAL_WORKER"])
    response = client.get(
        "/v1/subjects/LK-x/access-report", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert "IG_OFFICER" in response.json()["detail"]
    leaf = _leaves(log_url)[-1]
    assert leaf.kind is EntryKind.ACCESS
    assert leaf.columns.event == "IG_QUERY_REFUSED"
    access = decode_access(leaf.data)
    assert access["actor"] == "duty-sw-9"
    assert access["allowed"] is False
    assert access["action"] == "subject_access_report"
    # Not the form of a linkage key: logged as a digest, never as the text sent.
    assert access["parameters"] == {
        "subject_linkage_key": "sha256:" + hashlib.sha256(b"LK-x").hexdigest()
    }


def test_every_query_is_audited_before_it_answers(
    client: httpx.Client, idp: LocalIdp, log_url: str
) -> None:
    first_notice = _leaves(log_url)[0].columns.notice_id
    response = _get(client, idp, f"/v1/notices/{first_notice}/decisions", outcome="DENY")
    leaves = _leaves(log_url)
    assert len(leaves) == 25
    assert response.headers[ACCESS_LEAF_HEADER] == "24"
    access = decode_access(leaves[24].data)
    assert access["actor"] == "ig-officer-1"
    assert access["action"] == "notice_decisions"
    assert access["parameters"] == {"notice_id": first_notice, "outcome": "DENY"}
    assert leaves[24].columns.notice_id == first_notice
    # IG queries never show up as decisions.
    assert [d["leaf_index"] for d in response.json()["items"]] == [4]


class _AppendFails:
    """The real store, except that appending fails (a full disk, a lost database)."""

    def __init__(self, store: SqlAuditStore) -> None:
        self._store = store

    def append(self, entries: Sequence[LogEntry], *, appended_at_ms: int) -> AppendResult:
        raise StorageError("disk full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_no_audit_entry_no_answer(idp: LocalIdp, log_url: str, tmp_path: Path) -> None:
    store = open_store(log_url)
    app = create_app(
        _settings(idp, log_url),
        HubSettings(data_dir=tmp_path),
        store=_AppendFails(store),
    )
    with serve(app) as http:
        response = http.get("/v1/decisions", headers={"Authorization": f"Bearer {idp.token()}"})
    assert response.status_code == 503
    assert "items" not in response.json()
    store.close()


# -- queries ----------------------------------------------------------------------------------


def test_decisions_by_subject_recipient_time_outcome_and_rule(
    client: httpx.Client, idp: LocalIdp, log_url: str
) -> None:
    leaves = _leaves(log_url)
    subject = leaves[6].columns.subject_linkage_key

    def indices(path: str, **params: Any) -> list[int]:
        return [d["leaf_index"] for d in _get(client, idp, path, **params).json()["items"]]

    assert indices(f"/v1/subjects/{subject}/decisions") == [6, 7, 8, 9, 10, 11]
    assert indices(f"/v1/subjects/{subject}/decisions", outcome="PARTIAL") == [9]
    assert indices("/v1/recipients/school-dsl/decisions") == [5, 11, 17, 23]
    assert indices("/v1/recipients/school-dsl/decisions", rule_id="R9", limit=2) == [5, 11]
    window = {
        "decided_from": (FIXED_NOW + dt.timedelta(hours=2)).isoformat(),
        "decided_to": (FIXED_NOW + dt.timedelta(hours=3)).isoformat(),
    }
    assert indices("/v1/decisions", **window) == list(range(12, 18))
    assert indices("/v1/decisions", **window, outcome="FLAG_ONLY", rule_id="R14") == [17]
    item = _get(client, idp, "/v1/recipients/responsible-la/decisions").json()["items"][0]
    assert item["recipient"]["organisation"] == "LA-E09000099"
    assert item["lawful_basis"]["statutory_gateway"] == "Children Act 2004 s11"
    assert "referrer" in item["fields_withheld"]
    bad = client.get(
        "/v1/decisions",
        params={"outcome": "MAYBE"},
        headers={"Authorization": f"Bearer {idp.token()}"},
    )
    assert bad.status_code == 422


def test_subject_access_report_json_and_html(
    client: httpx.Client, idp: LocalIdp, log_url: str
) -> None:
    subject = _leaves(log_url)[0].columns.subject_linkage_key
    report = _get(client, idp, f"/v1/subjects/{subject}/access-report").json()
    assert report["subject_linkage_key"] == subject
    assert len(report["disclosures"]) == 5
    assert len(report["not_shared"]) == 1
    assert report["log"]["checkpoint_tree_size"] == 24
    assert {d["recipient_role"] for d in report["disclosures"]} == {
        "MASH_MANAGER",
        "HEALTH_NAVIGATOR",
        "POLICE_RESEARCHER",
        "SOCIAL_WORKER",
        "DESIGNATED_SAFEGUARDING_LEAD",
    }
    assert "Synthetic Referrer" not in json.dumps(report)
    page = _get(client, idp, f"/v1/subjects/{subject}/access-report.html")
    assert page.headers["content-type"].startswith("text/html")
    assert ACCESS_LEAF_HEADER in page.headers
    assert "Who your information was shared with" in page.text


def test_subject_access_report_covers_every_key_the_child_has(
    client: httpx.Client, idp: LocalIdp, log_url: str
) -> None:
    leaves = _leaves(log_url)
    first, second, third = (leaves[i].columns.subject_linkage_key for i in (0, 6, 12))
    assert len({first, second, third}) == 3
    # The child index merged the second child's key into the first (a MASH manager decided
    # on review), the model merged the third in, and a review split the third off again.
    by_staff = dataclasses.replace(
        merge(first, second), decided_by="mash-manager-1", review_id="rv-0042"
    )
    history = [
        by_staff,
        dataclasses.replace(merge(first, third), decided_by=MODEL_DECIDER),
        split(first, third),
    ]
    store = open_store(log_url)
    store.append_linkage(
        [
            dataclasses.replace(c, source=SourcePosition(LINKAGE_TOPIC, 0, n))
            for n, c in enumerate(history)
        ],
        appended_at_ms=1,
    )
    store.close()

    def covered(report: dict[str, Any]) -> set[int]:
        return {d["leaf_index"] for d in report["disclosures"] + report["not_shared"]}

    report = _get(client, idp, f"/v1/subjects/{second}/access-report").json()
    assert report["subject_linkage_key"] == second
    assert report["subject_keys"] == [second, first]
    assert covered(report) == set(range(12))  # both children's six decisions each
    assert {d["subject_linkage_key"] for d in report["disclosures"]} == {first, second}
    changes = report["linkage_changes"]
    assert [(c["kind"], c["references"], c["other_references"]) for c in changes] == [
        ("MERGE", [first, second], 0),
        ("MERGE", [first], 1),
        ("SPLIT", [first], 1),
    ]
    assert [c["staff_id"] for c in changes] == ["mash-manager-1", None, "mash-manager-1"]
    assert changes[0]["review_id"] == "rv-0042"
    assert third not in json.dumps(report)  # another child's key, never shown

    # Asked with the other key: the same keys, decisions and changes.
    again = _get(client, idp, f"/v1/subjects/{first}/access-report").json()
    assert again["subject_keys"] == [first, second]
    assert covered(again) == covered(report)
    assert again["linkage_changes"] == changes
    # The split-off key's report is its own.
    theirs = _get(client, idp, f"/v1/subjects/{third}/access-report").json()
    assert theirs["subject_keys"] == [third]
    assert covered(theirs) == set(range(12, 18))

    page = _get(client, idp, f"/v1/subjects/{second}/access-report.html").text
    assert "Records joined or separated" in page
    assert f"<code>{first}</code>" in page
    assert "staff id mash-manager-1" in page
    assert third not in page


def test_record_of_processing(client: httpx.Client, idp: LocalIdp) -> None:
    summary = _get(
        client,
        idp,
        "/v1/record-of-processing",
        decided_from=FIXED_NOW.isoformat(),
        decided_to=(FIXED_NOW + dt.timedelta(hours=2)).isoformat(),
    ).json()
    rows = {(r["purpose"], r["recipient_subscriber_id"]): r for r in summary["rows"]}
    assert rows[("OPERATION_ENCOMPASS", "school-dsl")]["outcomes"]["FLAG_ONLY"] == 2
    assert rows[(None, "return-interview-provider")]["disclosures"] == 0
    assert summary["totals"] == {"PERMIT": 6, "PARTIAL": 2, "FLAG_ONLY": 2, "DENY": 2}


# -- proofs for partners ----------------------------------------------------------------------


def test_inclusion_proof_endpoint_verifies_with_the_public_key(
    client: httpx.Client, idp: LocalIdp, log_url: str, log_key: Ed25519PrivateKey
) -> None:
    decision_id = _leaves(log_url)[13].entry_id
    body = _get(client, idp, f"/v1/decisions/{decision_id}/inclusion-proof").json()
    assert [p["leaf_index"] for p in body["proofs"]] == [13]
    report = verify_inclusion_files(
        entry=json.dumps(body["proofs"][0]["entry"]).encode(),
        proof=json.dumps(body["proofs"][0]["proof"]).encode(),
        note=body["checkpoint"].encode(),
        public_key=log_key.public_key(),
        catalog=CATALOG,
    )
    assert report.leaf_index == 13
    missing = client.get(
        "/v1/decisions/00000000-0000-0000-0000-000000000000/inclusion-proof",
        headers={"Authorization": f"Bearer {idp.token()}"},
    )
    assert missing.status_code == 404


def test_a_decision_after_the_latest_checkpoint_is_not_provable_yet(
    client: httpx.Client, idp: LocalIdp, log_url: str
) -> None:
    store = open_store(log_url)
    late = decision_entries(1, seed=77)
    store.append(late, appended_at_ms=5)
    store.close()
    response = client.get(
        f"/v1/decisions/{late[0].entry_id}/inclusion-proof",
        headers={"Authorization": f"Bearer {idp.token()}"},
    )
    assert response.status_code == 409
    assert "next checkpoint" in response.json()["detail"]


def test_checkpoint_and_consistency_endpoints(
    client: httpx.Client, idp: LocalIdp, log_key: Ed25519PrivateKey
) -> None:
    note = _get(client, idp, "/v1/checkpoints/latest").text
    assert note.splitlines()[1] == "24"
    body = _get(client, idp, "/v1/checkpoints/consistency", old_size=7).json()
    report = verify_consistency_files(
        old_note=body["old_checkpoint"].encode(),
        new_note=body["new_checkpoint"].encode(),
        proof=json.dumps(body["proof"]).encode(),
        public_key=log_key.public_key(),
    )
    assert (report.old.tree_size, report.new.tree_size) == (7, 24)
    unknown = client.get(
        "/v1/checkpoints/consistency",
        params={"old_size": 5},
        headers={"Authorization": f"Bearer {idp.token()}"},
    )
    assert unknown.status_code == 404


def test_the_api_refuses_to_start_without_a_token_issuer(log_url: str) -> None:
    # Unset, it is the local identity provider (tests/cli/unit/test_audit_serve_errors.py);
    # set empty, nobody could be checked, so the API does not start.
    with pytest.raises(TokenIssuerMissing, match="SAFEHUB_AUDIT_TOKEN_ISSUER"):
        create_app(AuditSettings(database_url=log_url, token_issuer=""))


def test_the_latest_checkpoint_carries_the_witnesses_cosignatures(
    client: httpx.Client, idp: LocalIdp, log_url: str, log_key: Ed25519PrivateKey
) -> None:
    # Issue 19: a cosignature stored beside the checkpoint is served after the log's signature.
    from services.audit.cosignatures import CosignatureStore
    from services.audit.verify import verify_note
    from services.hubkit.cosignature import cosign, cosigner_verifier_key, verify_cosignature
    from services.hubkit.signed_note import decode_note

    store = open_store(log_url)
    latest = store.latest_checkpoint()
    assert latest is not None
    witness = Ed25519PrivateKey.generate()
    text = decode_note(latest.note).text
    CosignatureStore(store.engine).add(
        24, cosign(text, name="witness.council.example", private_key=witness, timestamp=5)
    )
    store.close()
    served = _get(client, idp, "/v1/checkpoints/latest").text.encode()
    note = decode_note(served)
    assert [s.key_name for s in note.signatures] == [
        "safehub.audit.test",
        "witness.council.example",
    ]
    assert verify_note(served, log_key.public_key()).tree_size == 24
    key = cosigner_verifier_key("witness.council.example", witness.public_key())
    assert verify_cosignature(note.text, note.signatures[1], key).timestamp == 5
