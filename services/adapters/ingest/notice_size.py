"""The notice-size backstop: what an adapter publishes must fit what the hub can carry.

Two sizes are measured once the notice is mapped and sealed, before anything is produced:

    signed bytes  the Avro envelope written to notices.<agency>.v1, as sealed: with the
                  agency's per-field signatures (hubkit.field_provenance, about 1.4 times the
                  notice again), so the limit counts what is sent (the gateway copies it
                  into a dead letter when it cannot process it)
    view bytes    the whole notice as compact JSON with every non-ASCII character escaped:
                  an upper bound of any subscriber's view (the gateway writes views as UTF-8
                  JSON, services/gateway/domain/records.py, never larger than escaped). No
                  view holds more than the whole notice, so this bounds every feed item's
                  largest field; escaping is what once made a 360 KB notice a >1 MiB feed
                  record (issue 13)

The field limits of the native models keep every valid record well under both (the worst case
is worked out in docs/integrators.md, "Field and notice size limits", and recomputed by
tests/security/test_field_limits.py); this check catches what they cannot foresee (a new
field, a changed mapping) and refuses with 413 notice-too-large instead of publishing a notice
that would block the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.adapters.ingest.errors import NoticeTooLarge
from services.adapters.ingest.problems import FieldError
from services.hubkit.notice import to_json_value

__all__ = [
    "NoticeSize",
    "NoticeSizeLimits",
    "SealingPublisher",
    "SizeCheckedSink",
    "measure_notice",
    "oversize_errors",
    "view_json_bytes",
]


@dataclass(frozen=True, slots=True)
class NoticeSizeLimits:
    """The adapter's limits, in bytes (settings max_notice_bytes, max_notice_view_bytes)."""

    max_signed_bytes: int
    max_view_bytes: int


@dataclass(frozen=True, slots=True)
class NoticeSize:
    signed_bytes: int
    view_bytes: int


def view_json_bytes(notice: Mapping[str, Any]) -> int:
    """Bytes of the fullest view there is (the whole notice), escaped: an upper bound.

    json.dumps escapes every non-ASCII character (ensure_ascii): 6 bytes for a character of
    the Basic Multilingual Plane, 12 for one beyond it, never fewer than its UTF-8 bytes, so
    the gateway's UTF-8 view of the same notice is at most this long.
    """
    return len(json.dumps(to_json_value(notice), sort_keys=True, separators=(",", ":")))


def measure_notice(notice: Mapping[str, Any], sealed: bytes) -> NoticeSize:
    return NoticeSize(signed_bytes=len(sealed), view_bytes=view_json_bytes(notice))


def oversize_errors(size: NoticeSize, limits: NoticeSizeLimits) -> list[FieldError]:
    """One error per limit the notice is over; empty when it fits. Sizes only, never content."""
    errors: list[FieldError] = []
    if size.signed_bytes > limits.max_signed_bytes:
        errors.append(
            FieldError(
                pointer="",
                code="notice_too_large",
                message=(
                    f"the signed notice would be {size.signed_bytes:,} bytes, over the "
                    f"adapter's limit of {limits.max_signed_bytes:,} "
                    "(SAFEHUB_ADAPTER_MAX_NOTICE_BYTES); shorten the free-text fields"
                ),
            )
        )
    if size.view_bytes > limits.max_view_bytes:
        errors.append(
            FieldError(
                pointer="",
                code="notice_view_too_large",
                message=(
                    f"the notice as recipients' views render it (JSON, non-ASCII characters "
                    f"escaped) would be {size.view_bytes:,} bytes, over the adapter's limit of "
                    f"{limits.max_view_bytes:,} (SAFEHUB_ADAPTER_MAX_NOTICE_VIEW_BYTES); "
                    "shorten the free-text fields"
                ),
            )
        )
    return errors


class SealingPublisher(Protocol):
    """Port: the parts of hubkit's NoticePublisher the size check needs."""

    def seal_notice(self, notice: Mapping[str, Any]) -> bytes: ...

    async def enqueue_sealed(self, notice: Mapping[str, Any], value: bytes) -> Awaitable[Any]: ...


class SizeCheckedSink:
    """The pipeline's NoticeSink: seals the notice, refuses it (NoticeTooLarge) when it is over
    a limit, and only then hands the very same signed bytes to the producer."""

    def __init__(self, publisher: SealingPublisher, limits: NoticeSizeLimits) -> None:
        self._publisher = publisher
        self._limits = limits

    async def enqueue(self, notice: Mapping[str, Any]) -> Awaitable[Any]:
        sealed = self._publisher.seal_notice(notice)
        errors = oversize_errors(measure_notice(notice, sealed), self._limits)
        if errors:
            raise NoticeTooLarge(
                "the notice this record maps to is over the adapter's notice size limit; "
                "nothing was published",
                errors=errors,
                notice_id=str(notice["notice_id"]),
            )
        return await self._publisher.enqueue_sealed(notice, sealed)
