"""Idempotency: the claim rule (pure), the SQLite store, and the pipeline with fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

import pytest

from services.adapters.ingest.idempotency import (
    Claim,
    MemoryIdempotencyStore,
    SqliteIdempotencyStore,
    StoredClaim,
    decide_claim,
)
from services.adapters.ingest.pipeline import Candidate, IngestPipeline, Status
from services.hubkit.errors import MalformedPayload
from tests.adapters.helpers import map_native, native


@pytest.mark.parametrize(
    ("existing", "content", "now", "expected"),
    [
        (None, "a", 0.0, Claim.CLAIMED),
        (StoredClaim("n", "a", True, 0.0), "a", 500.0, Claim.ALREADY_PUBLISHED),
        (StoredClaim("n", "a", True, 0.0), "b", 500.0, Claim.CONFLICT),
        (StoredClaim("n", "a", False, 0.0), "a", 10.0, Claim.IN_FLIGHT),
        (StoredClaim("n", "a", False, 0.0), "b", 10.0, Claim.CONFLICT),
        (StoredClaim("n", "a", False, 0.0), "a", 121.0, Claim.CLAIMED),
        (StoredClaim("n", "a", False, 0.0), "b", 121.0, Claim.CLAIMED),
    ],
)
def test_claim_rule(
    existing: StoredClaim | None, content: str, now: float, expected: Claim
) -> None:
    assert decide_claim(existing, content_sha256=content, now=now, lease_s=120.0) is expected


def test_sqlite_store_is_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = SqliteIdempotencyStore(path)
    assert store.claim("n1", content_sha256="a", now=1.0) is Claim.CLAIMED
    assert store.claim("n1", content_sha256="a", now=2.0) is Claim.IN_FLIGHT
    store.mark_published("n1", now=3.0)
    assert store.claim("n2", content_sha256="x", now=3.0) is Claim.CLAIMED
    store.release("n2")
    store.close()

    reopened = SqliteIdempotencyStore(path)
    assert reopened.claim("n1", content_sha256="a", now=4.0) is Claim.ALREADY_PUBLISHED
    assert reopened.claim("n1", content_sha256="b", now=4.0) is Claim.CONFLICT
    assert reopened.claim("n2", content_sha256="x", now=4.0) is Claim.CLAIMED
    assert reopened.published_count() == 1
    reopened.close()


def test_two_store_handles_on_one_file_serialise_claims(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    first, second = SqliteIdempotencyStore(path), SqliteIdempotencyStore(path)
    assert first.claim("n", content_sha256="a", now=1.0) is Claim.CLAIMED
    assert second.claim("n", content_sha256="a", now=1.5) is Claim.IN_FLIGHT
    first.mark_published("n", now=2.0)
    assert second.claim("n", content_sha256="a", now=2.5) is Claim.ALREADY_PUBLISHED
    first.close()
    second.close()


class FakeSink:
    """Records enqueued notices; acknowledges them, or fails the ones told to."""

    def __init__(self, *, fail: set[str] | None = None, refuse: set[str] | None = None) -> None:
        self.sent: list[str] = []
        self._fail = fail or set()
        self._refuse = refuse or set()

    async def enqueue(self, notice: Mapping[str, Any]) -> Awaitable[Any]:
        notice_id = str(notice["notice_id"])
        if notice_id in self._refuse:
            raise MalformedPayload("refused")
        self.sent.append(notice_id)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if notice_id in self._fail:
            future.set_exception(TimeoutError("no ack"))
        else:
            future.set_result(None)
        return future


def _candidates(count: int) -> list[Candidate]:
    records = native(seed=5)
    return [
        Candidate.of(map_native("POLICE", records.police_ppn(records.child())))
        for _ in range(count)
    ]


async def test_pipeline_publishes_once_and_reports_duplicates() -> None:
    store = MemoryIdempotencyStore()
    sink = FakeSink()
    pipeline = IngestPipeline(sink=sink, store=store)
    batch = _candidates(3)
    first = await pipeline.submit(batch)
    second = await pipeline.submit(batch)
    assert [o.status for o in first] == [Status.PUBLISHED] * 3
    assert [o.status for o in second] == [Status.DUPLICATE] * 3
    assert sink.sent == [c.notice_id for c in batch]  # in order, once each
    assert store.published_ids() == {c.notice_id for c in batch}


async def test_pipeline_repeats_and_conflicts_inside_one_batch() -> None:
    original = _candidates(1)[0]
    changed_notice = {
        **original.notice,
        "narrative": {**original.notice["narrative"], "summary": "x"},
    }
    changed = Candidate.of(changed_notice)
    assert changed.notice_id == original.notice_id
    sink = FakeSink()
    outcomes = await IngestPipeline(sink=sink, store=MemoryIdempotencyStore()).submit(
        [original, original, changed]
    )
    assert [o.status for o in outcomes] == [Status.PUBLISHED, Status.DUPLICATE, Status.CONFLICT]
    assert sink.sent == [original.notice_id]


async def test_pipeline_failure_releases_the_claim_so_a_retry_publishes() -> None:
    batch = _candidates(2)
    store = MemoryIdempotencyStore()
    failing = IngestPipeline(sink=FakeSink(fail={batch[0].notice_id}), store=store)
    outcomes = await failing.submit(batch)
    assert [o.status for o in outcomes] == [Status.FAILED, Status.PUBLISHED]
    assert "retry" in (outcomes[0].detail or "")
    retry = await IngestPipeline(sink=FakeSink(), store=store).submit(batch)
    assert [o.status for o in retry] == [Status.PUBLISHED, Status.DUPLICATE]


async def test_pipeline_encoding_defect_is_failed_not_retried_forever() -> None:
    batch = _candidates(1)
    outcomes = await IngestPipeline(
        sink=FakeSink(refuse={batch[0].notice_id}), store=MemoryIdempotencyStore()
    ).submit(batch)
    assert outcomes[0].status is Status.FAILED
    assert "defect" in (outcomes[0].detail or "")


async def test_concurrent_identical_requests_publish_once() -> None:
    store = MemoryIdempotencyStore()
    sink = FakeSink()
    pipeline = IngestPipeline(sink=sink, store=store, poll_s=0.001)
    candidate = _candidates(1)[0]
    outcomes = await asyncio.gather(*(pipeline.submit([candidate]) for _ in range(5)))
    statuses = sorted(o[0].status.value for o in outcomes)
    assert statuses == ["duplicate"] * 4 + ["published"]
    assert sink.sent == [candidate.notice_id]


async def test_in_flight_claim_times_out_as_failed() -> None:
    store = MemoryIdempotencyStore()
    candidate = _candidates(1)[0]
    assert store.claim(candidate.notice_id, content_sha256=candidate.content_sha256, now=0.0) is (
        Claim.CLAIMED
    )
    clock = iter(float(t) for t in range(1, 100))
    pipeline = IngestPipeline(
        sink=FakeSink(), store=store, clock=lambda: next(clock), in_flight_wait_s=3, poll_s=0
    )
    (outcome,) = await pipeline.submit([candidate])
    assert outcome.status is Status.FAILED
