"""The notice-size backstop (issue 13, defect 1): measuring, refusing, and the pipeline's
handling of a refusal, with a fake publisher (the real broker path is in tests/security)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping
from typing import Any

from services.adapters.ingest.errors import NoticeTooLarge
from services.adapters.ingest.idempotency import Claim, MemoryIdempotencyStore
from services.adapters.ingest.notice_size import (
    NoticeSize,
    NoticeSizeLimits,
    SizeCheckedSink,
    oversize_errors,
    view_json_bytes,
)
from services.adapters.ingest.pipeline import Candidate, IngestPipeline, Status
from services.hubkit.notice import to_json_value
from tests.adapters.helpers import map_native, native

ROOMY = NoticeSizeLimits(max_signed_bytes=10**6, max_view_bytes=10**6)


class FakePublisher:
    """Seals by serialising; records what it was asked to produce."""

    def __init__(self) -> None:
        self.produced: list[bytes] = []

    def seal_notice(self, notice: Mapping[str, Any]) -> bytes:
        return json.dumps(to_json_value(notice), ensure_ascii=False).encode()

    async def enqueue_sealed(self, notice: Mapping[str, Any], value: bytes) -> Awaitable[Any]:
        self.produced.append(value)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _notice(full_account: str | None = None) -> dict[str, Any]:
    records = native(21)
    notice = map_native("POLICE", records.police_ppn(records.child()))
    if full_account is not None:
        notice["narrative"]["full_account"] = full_account
    return notice


def test_view_bytes_count_escaped_non_ascii() -> None:
    ascii_view = view_json_bytes(_notice("a" * 1000))
    assert view_json_bytes(_notice("é" * 1000)) == ascii_view + 5 * 1000  # \u00e9: 6 bytes
    assert view_json_bytes(_notice("\U0001d504" * 1000)) == ascii_view + 11 * 1000  # 12 bytes


def test_oversize_errors_name_each_limit_exceeded() -> None:
    limits = NoticeSizeLimits(max_signed_bytes=100, max_view_bytes=200)
    assert oversize_errors(NoticeSize(100, 200), limits) == []
    (signed,) = oversize_errors(NoticeSize(101, 200), limits)
    assert signed.code == "notice_too_large"
    assert "101 bytes" in signed.message
    assert "MAX_NOTICE_BYTES" in signed.message
    (view,) = oversize_errors(NoticeSize(100, 1_234), limits)
    assert view.code == "notice_view_too_large"
    assert "1,234 bytes" in view.message
    assert "MAX_NOTICE_VIEW_BYTES" in view.message
    assert len(oversize_errors(NoticeSize(101, 201), limits)) == 2


async def test_sink_produces_the_bytes_it_measured() -> None:
    publisher = FakePublisher()
    notice = _notice()
    await SizeCheckedSink(publisher, ROOMY).enqueue(notice)
    assert publisher.produced == [publisher.seal_notice(notice)]


async def test_pipeline_refuses_an_oversize_notice_and_frees_its_reference() -> None:
    publisher = FakePublisher()
    store = MemoryIdempotencyStore()
    small, large = _notice("short"), _notice("x" * 5000)
    assert small["notice_id"] == large["notice_id"]  # the same record, shortened
    limits = NoticeSizeLimits(
        max_signed_bytes=len(publisher.seal_notice(small)) + 100, max_view_bytes=10**6
    )
    pipeline = IngestPipeline(sink=SizeCheckedSink(publisher, limits), store=store)

    (refused,) = await pipeline.submit([Candidate.of(large)])
    assert refused.status is Status.TOO_LARGE
    assert [e.code for e in refused.errors] == ["notice_too_large"]
    assert publisher.produced == []
    assert store.claim(refused.notice_id, content_sha256="any", now=0.0) is Claim.CLAIMED
    store.release(refused.notice_id)

    (published,) = await pipeline.submit([Candidate.of(small)])
    assert published.status is Status.PUBLISHED
    assert len(publisher.produced) == 1


def test_refusal_is_a_413_problem_type() -> None:
    assert NoticeTooLarge.status == 413
    assert NoticeTooLarge.problem_type.endswith("/notice-too-large")
