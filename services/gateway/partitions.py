"""What the gateway loop keeps about one input partition it owns, in one place.

A partition's state lives from its first use until the partition is revoked, when all of it
goes at once (service.py, `_on_revoked`).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.clients import TransactionalProducer
from services.gateway.deciding import Outcome

__all__ = ["PartitionState", "PendingBatch"]


@dataclass
class PendingBatch:
    """Decided notices of a partition waiting for their transaction."""

    outcomes: list[Outcome]
    next_offset: int
    """The offset to commit: one past the last notice in the batch."""
    since: float
    """When the first of them was queued (monotonic): the batch commits `commit_interval_ms`
    later at the latest."""


@dataclass
class PartitionState:
    producer: TransactionalProducer | None = None
    """The partition's transactional producer, once initialised (it fenced its predecessor)."""
    pending: PendingBatch | None = None
    expected: int | None = None
    """The next offset to handle: records below it were handled already. None until the
    partition has been positioned at its committed offset."""
    needs_reset: bool = False
    """Preparing the partition failed: prepare it again before reading anything from it."""
    attempts: int = 0
    """Consecutive retries without progress (for the backoff)."""
    resume_at: float | None = None
    """Paused until then (monotonic), waiting to retry."""
    stalled_since: float | None = None
    """While retrying, when the partition last made progress (monotonic)."""
    stall_alerted: bool = False
    one_by_one_until: int | None = None
    """After the broker refused a record of a batch: below this offset, one notice per
    transaction, to find the notice behind it."""
    refused: tuple[int, str] | None = None
    """The offset whose records the broker refused on their own, and the error: the notice
    there is dead-lettered as BROKER_REFUSED when it is read again."""
    lag_reported: bool = False
    """A consumer-lag gauge exists for the partition (removed when it is revoked)."""
