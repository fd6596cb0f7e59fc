"""Retractions, the pure parts and the store (issue 18): the request's field errors, the rule
deciding 404 / 409 / publish / repeat, the audit answer mapped to the adapter's, the store's
linkage keys (and an old store file migrated), and a broker failure leaving nothing done."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.adapters.ingest.errors import (
    AuditUnavailable,
    NoticeNotFound,
    PublishUnavailable,
    RetractionConflict,
)
from services.adapters.ingest.idempotency import (
    Claim,
    MemoryIdempotencyStore,
    PublishedNotice,
    RecordedRetraction,
    SqliteIdempotencyStore,
)
from services.adapters.ingest.problems import field_errors_from_validation
from services.adapters.ingest.retractions import (
    AlreadyPublished,
    HttpRetractionAudit,
    Publish,
    RetractionDesk,
    RetractionRequest,
    decide_retraction,
    receipts_from_audit,
)
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.notice import notice_id_for
from services.hubkit.retraction import retraction_id_for

AGENCY, ORG = "HEALTH", "RX1"
WHEN = dt.datetime(2026, 11, 19, 9, 0, tzinfo=dt.UTC)
ORIGINAL = notice_id_for(agency=AGENCY, organisation_code=ORG, source_reference="REF-1")
CORRECTION = notice_id_for(agency=AGENCY, organisation_code=ORG, source_reference="REF-2")
KEY = "a" * 64
PUBLISHED = PublishedNotice(ORIGINAL, KEY)


def _pointers(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as raised:
        RetractionRequest.model_validate(document)
    return [
        (e.pointer, e.code) for e in field_errors_from_validation(raised.value.errors(), document)
    ]


def test_request_field_errors() -> None:
    assert _pointers({"source_reference": "REF-1", "reason": "OOPS"}) == [("/reason", "enum")]
    assert _pointers({"source_reference": "", "reason": "WRONG_CHILD"}) == [
        ("/source_reference", "string_too_short")
    ]
    assert _pointers({"source_reference": "REF-1", "reason": "CORRECTED"}) == [
        ("/replaced_by_source_reference", "replacement_missing")
    ]
    assert _pointers(
        {"source_reference": "R", "reason": "WRONG_CHILD", "replaced_by_source_reference": "S"}
    ) == [("/replaced_by_source_reference", "replacement_not_allowed")]
    assert _pointers(
        {"source_reference": "R", "reason": "CORRECTED", "replaced_by_source_reference": "R"}
    ) == [("/replaced_by_source_reference", "replacement_is_original")]
    assert _pointers({"source_reference": "R", "reason": "WRONG_CHILD", "why": "x"}) == [
        ("/why", "unknown_field")
    ]


def _decide(
    request: dict[str, Any],
    *,
    original: PublishedNotice | None = PUBLISHED,
    replacement: PublishedNotice | None = None,
    earlier: RecordedRetraction | None = None,
) -> Any:
    return decide_retraction(
        RetractionRequest.model_validate(request),
        agency=AGENCY,
        organisation_code=ORG,
        original=original,
        replacement=replacement,
        earlier=earlier,
        retracted_at=WHEN,
    )


WRONG_CHILD = {"source_reference": "REF-1", "reason": "WRONG_CHILD"}
CORRECTED = {
    "source_reference": "REF-1",
    "reason": "CORRECTED",
    "replaced_by_source_reference": "REF-2",
}


def test_a_published_notice_is_withdrawn_under_its_linkage_key() -> None:
    decision = _decide(WRONG_CHILD)
    assert isinstance(decision, Publish)
    record = decision.record
    assert record["retracted_notice_id"] == ORIGINAL
    assert record["retraction_id"] == retraction_id_for(ORIGINAL)
    assert record["subject_linkage_key"] == KEY
    assert record["source"]["source_reference"] == "REF-1"
    assert (record["reason"], record["replaced_by_notice_id"]) == ("WRONG_CHILD", None)


def test_refusals() -> None:
    with pytest.raises(NoticeNotFound):
        _decide(WRONG_CHILD, original=None)
    with pytest.raises(RetractionConflict, match="before retractions were supported"):
        _decide(WRONG_CHILD, original=PublishedNotice(ORIGINAL, None))
    with pytest.raises(RetractionConflict, match="send the corrected record first"):
        _decide(CORRECTED)
    earlier = RecordedRetraction(retraction_id_for(ORIGINAL), ORIGINAL, "WRONG_CHILD", None)
    with pytest.raises(RetractionConflict, match="already withdrawn"):
        _decide(CORRECTED, replacement=PublishedNotice(CORRECTION, "b" * 64), earlier=earlier)


def test_a_correction_names_its_replacement_and_a_repeat_is_the_same() -> None:
    decision = _decide(CORRECTED, replacement=PublishedNotice(CORRECTION, "b" * 64))
    assert isinstance(decision, Publish)
    assert decision.record["replaced_by_notice_id"] == CORRECTION
    earlier = RecordedRetraction(retraction_id_for(ORIGINAL), ORIGINAL, "CORRECTED", CORRECTION)
    again = _decide(CORRECTED, replacement=PublishedNotice(CORRECTION, "b" * 64), earlier=earlier)
    assert again == AlreadyPublished(earlier)


RECORDED = RecordedRetraction(retraction_id_for(ORIGINAL), ORIGINAL, "WRONG_CHILD", None)


def test_audit_answer_mapped() -> None:
    body = {
        "notice_id": ORIGINAL,
        "retraction_id": RECORDED.retraction_id,
        "reason": "WRONG_CHILD",
        "delivered": [
            {"subscriber_id": "mash-health", "delivered_at": "2026-11-19T09:01:00+00:00"},
            {"subscriber_id": "mash-police", "delivered_at": "2026-11-19T09:01:00+00:00"},
        ],
        "acknowledged": [
            {
                "subscriber_id": "mash-police",
                "acknowledged_at": "2026-11-19T09:20:00+00:00",
                "role": "MASH_POLICE_OFFICER",
            }
        ],
        "not_acknowledged": ["mash-health"],
    }
    receipts = receipts_from_audit(200, body, RECORDED)
    assert receipts.model_dump(mode="json") == body

    nothing_yet = receipts_from_audit(404, None, RECORDED)
    assert (nothing_yet.delivered, nothing_yet.acknowledged, nothing_yet.not_acknowledged) == (
        [],
        [],
        [],
    )
    assert nothing_yet.reason == "WRONG_CHILD"
    with pytest.raises(AuditUnavailable, match="audit:retractions"):
        receipts_from_audit(403, {"type": "forbidden"}, RECORDED)
    with pytest.raises(AuditUnavailable, match="another retraction"):
        receipts_from_audit(200, {**body, "notice_id": CORRECTION}, RECORDED)
    with pytest.raises(AuditUnavailable, match="not understood"):
        receipts_from_audit(200, {"delivered": "everyone"}, RECORDED)
    with pytest.raises(AuditUnavailable, match="status 500"):
        receipts_from_audit(500, None, RECORDED)


async def test_audit_not_configured_is_a_clear_503(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as http:
        audit = HttpRetractionAudit(
            base_url="",
            http=http,
            credentials=ClientCredentials(
                http=http,
                token_endpoint="http://127.0.0.1:9/token",
                client_id="adapter-health",
                private_key_path=tmp_path / "absent.pem",
            ),
        )
        with pytest.raises(AuditUnavailable, match="SAFEHUB_ADAPTER_AUDIT_URL"):
            await audit.retraction(ORIGINAL)


def test_store_keeps_linkage_keys_and_retractions(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = SqliteIdempotencyStore(path)
    assert store.claim("n1", content_sha256="a", now=1.0, linkage_key=KEY) is Claim.CLAIMED
    assert store.published("n1") is None  # claimed, not yet acknowledged
    store.mark_published("n1", now=2.0)
    store.record_retraction(RECORDED, now=3.0)
    store.record_retraction(RECORDED, now=4.0)  # idempotent
    store.close()

    reopened = SqliteIdempotencyStore(path)
    assert reopened.published("n1") == PublishedNotice("n1", KEY)
    assert reopened.published("n2") is None
    assert reopened.retraction(RECORDED.retraction_id) == RECORDED
    assert reopened.retraction(retraction_id_for(CORRECTION)) is None
    reopened.close()


def test_an_old_store_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE notice_claims (notice_id TEXT PRIMARY KEY, content_sha256 TEXT NOT NULL, "
        "published INTEGER NOT NULL CHECK (published IN (0, 1)), claimed_at REAL NOT NULL, "
        "published_at REAL) WITHOUT ROWID"
    )
    old.execute("INSERT INTO notice_claims VALUES ('old', 'a', 1, 1.0, 2.0)")
    old.commit()
    old.close()

    store = SqliteIdempotencyStore(path)
    assert store.published("old") == PublishedNotice("old", None)
    # The same record sent again (same content) teaches the store its key.
    assert (
        store.claim("old", content_sha256="a", now=3.0, linkage_key=KEY) is Claim.ALREADY_PUBLISHED
    )
    assert store.published("old") == PublishedNotice("old", KEY)
    store.close()


class _Broker:
    """Stands in for NoticePublisher's publish step: refuses while `down`, else records."""

    def __init__(self) -> None:
        self.down = True
        self.published: list[Mapping[str, Any]] = []

    async def publish_retraction(self, retraction: Mapping[str, Any]) -> str:
        if self.down:
            raise TimeoutError("no acknowledgement")
        self.published.append(retraction)
        return str(retraction["retraction_id"])


class _NoAudit:
    async def retraction(self, notice_id: str) -> tuple[int, Any]:
        raise AssertionError("not asked")


async def test_a_broker_failure_records_nothing_and_a_retry_publishes() -> None:
    store = MemoryIdempotencyStore()
    store.claim(ORIGINAL, content_sha256="a", now=1.0, linkage_key=KEY)
    store.mark_published(ORIGINAL, now=2.0)
    broker = _Broker()
    desk = RetractionDesk(
        agency=AGENCY,
        organisation_code=ORG,
        store=store,
        publisher=broker,
        audit=_NoAudit(),
        clock=lambda: WHEN,
    )
    request = RetractionRequest.model_validate(WRONG_CHILD)
    with pytest.raises(PublishUnavailable):
        await desk.retract(request, client_id="health-it")
    assert store.retraction(retraction_id_for(ORIGINAL)) is None

    broker.down = False
    accepted = await desk.retract(request, client_id="health-it")
    again = await desk.retract(request, client_id="health-it")
    assert accepted == again
    assert accepted.retraction_id == retraction_id_for(ORIGINAL)
    assert len(broker.published) == 1
    assert store.retraction(accepted.retraction_id) is not None
