"""The imperative shell every adapter shares: claim -> sign + publish -> record.

Validation and mapping (pure, per adapter) happen before; they produce `Candidate`s. This
module decides, per candidate, whether to publish (idempotency store), hands the notices to
the broker in order (so one child's notices keep their order) and waits for every
acknowledgement before reporting. A candidate is reported PUBLISHED only after the broker
acknowledged it (acks=all).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from services.adapters.ingest.errors import NoticeTooLarge
from services.adapters.ingest.idempotency import Claim, IdempotencyStore
from services.adapters.ingest.mapping import content_fingerprint
from services.adapters.ingest.problems import FieldError
from services.hubkit.errors import CodecError

__all__ = [
    "Candidate",
    "IngestPipeline",
    "NoticeSink",
    "Outcome",
    "Status",
]

_log = logging.getLogger(__name__)


class NoticeSink(Protocol):
    """Port: signs and hands one notice to the broker; the awaitable resolves on ack."""

    async def enqueue(self, notice: Mapping[str, Any]) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """A mapped notice, ready to publish."""

    notice: Mapping[str, Any]
    notice_id: str
    content_sha256: str
    linkage_key: str | None = None
    """The key the notice is published under; the store keeps it for a later retraction."""

    @staticmethod
    def of(notice: Mapping[str, Any]) -> Candidate:
        return Candidate(
            notice,
            str(notice["notice_id"]),
            content_fingerprint(notice),
            str(notice["subject"]["linkage_key"]),
        )


class Status(StrEnum):
    PUBLISHED = "published"
    """Acknowledged by the broker just now."""
    DUPLICATE = "duplicate"
    """Published earlier with the same content; not published again."""
    CONFLICT = "conflict"
    """Published earlier with different content under the same reference; refused."""
    FAILED = "failed"
    """The broker did not acknowledge; nothing recorded, safe to retry."""
    TOO_LARGE = "too_large"
    """The sink refused the notice as over a size limit; nothing produced, nothing recorded."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    notice_id: str
    detail: str | None = None
    errors: tuple[FieldError, ...] = ()


class IngestPipeline:
    """Publishes candidates at most once each (per idempotency store), in order."""

    def __init__(
        self,
        *,
        sink: NoticeSink,
        store: IdempotencyStore,
        clock: Callable[[], float] = time.time,
        in_flight_wait_s: float = 30.0,
        poll_s: float = 0.02,
    ) -> None:
        self._sink = sink
        self._store = store
        self._clock = clock
        self._in_flight_wait_s = in_flight_wait_s
        self._poll_s = poll_s

    async def submit(self, candidates: Sequence[Candidate]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(candidates)
        first_index: dict[str, int] = {}
        repeats: list[int] = []
        to_publish: list[int] = []
        for index, candidate in enumerate(candidates):
            earlier = first_index.get(candidate.notice_id)
            if earlier is not None:
                repeats.append(index)
                continue
            first_index[candidate.notice_id] = index
            claim = await self._claim(candidate)
            if claim is Claim.CLAIMED:
                to_publish.append(index)
            else:
                outcomes[index] = _settled(claim, candidate.notice_id)

        pending: list[tuple[int, Awaitable[Any]]] = []
        for index in to_publish:
            candidate = candidates[index]
            try:
                pending.append((index, await self._sink.enqueue(candidate.notice)))
            except NoticeTooLarge as refused:
                # Refused before it reached the producer: release the claim, so the same
                # reference can be sent again once its text is shorter.
                self._store.release(candidate.notice_id)
                _log.warning("notice %s refused: over a notice size limit", candidate.notice_id)
                outcomes[index] = Outcome(
                    Status.TOO_LARGE, candidate.notice_id, refused.detail, refused.errors
                )
            except CodecError:
                # The mapping produced a notice the schema rejects: an adapter bug, not input.
                _log.exception("notice %s does not encode", candidate.notice_id)
                self._store.release(candidate.notice_id)
                outcomes[index] = Outcome(
                    Status.FAILED,
                    candidate.notice_id,
                    "the adapter could not encode this notice (an adapter defect); report it",
                )
            except Exception as error:  # the producer refused it: nothing was sent
                outcomes[index] = self._failed(candidate.notice_id, error)
        results = await asyncio.gather(*(ack for _, ack in pending), return_exceptions=True)
        for (index, _), result in zip(pending, results, strict=True):
            notice_id = candidates[index].notice_id
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                outcomes[index] = self._failed(notice_id, result)
            else:
                self._store.mark_published(notice_id, now=self._clock())
                outcomes[index] = Outcome(Status.PUBLISHED, notice_id)

        for index in repeats:
            candidate = candidates[index]
            first = candidates[first_index[candidate.notice_id]]
            first_outcome = outcomes[first_index[candidate.notice_id]]
            assert first_outcome is not None
            if first.content_sha256 != candidate.content_sha256:
                outcomes[index] = _settled(Claim.CONFLICT, candidate.notice_id)
            elif first_outcome.status in (Status.PUBLISHED, Status.DUPLICATE):
                outcomes[index] = Outcome(Status.DUPLICATE, candidate.notice_id)
            else:
                outcomes[index] = first_outcome
        return [o for o in outcomes if o is not None]

    async def _claim(self, candidate: Candidate) -> Claim:
        deadline = self._clock() + self._in_flight_wait_s
        while True:
            claim = self._store.claim(
                candidate.notice_id,
                content_sha256=candidate.content_sha256,
                now=self._clock(),
                linkage_key=candidate.linkage_key,
            )
            if claim is not Claim.IN_FLIGHT or self._clock() >= deadline:
                return claim
            await asyncio.sleep(self._poll_s)

    def _failed(self, notice_id: str, error: Exception) -> Outcome:
        self._store.release(notice_id)
        # Only the id and the error class: never notice content (personal data) in logs.
        _log.warning("notice %s not acknowledged: %s", notice_id, type(error).__name__)
        return Outcome(
            Status.FAILED,
            notice_id,
            f"the broker did not acknowledge ({type(error).__name__}); retry the same record",
        )


def _settled(claim: Claim, notice_id: str) -> Outcome:
    match claim:
        case Claim.ALREADY_PUBLISHED:
            return Outcome(Status.DUPLICATE, notice_id)
        case Claim.CONFLICT:
            return Outcome(
                Status.CONFLICT,
                notice_id,
                "this source reference was already published with different content; "
                "send a correction as a new record (a new revision or reference)",
            )
        case _:
            return Outcome(
                Status.FAILED,
                notice_id,
                "another request is still publishing this record; retry shortly",
            )
