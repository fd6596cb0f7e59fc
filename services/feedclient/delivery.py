"""How the feed client treats a webhook's answers (pure).

Each line is POSTed with an `Idempotency-Key` header: the line's `decision_id`, the id of
the audit record committed with the message, unique per feed message. The receiver keeps
the keys it has accepted and answers 2xx to a key it already holds without storing the line
again: the client may re-post a line after a crash or a lost answer, so delivery is
at-least-once and, with the receiver deduplicating by key, effectively once.

2xx: delivered, the position moves past the record. 408, 425, 429 and 5xx (and timeouts,
refused connections): retried with a growing back-off, the position stays. Any other answer
(4xx, or a 3xx: the URL is wrong) is permanent: the line is reported and written to the
rejects file with the status, and the client moves on, so nothing stalls behind one item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

__all__ = ["IDEMPOTENCY_HEADER", "POSITION_HEADER", "Answer", "answer_for", "back_off"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
POSITION_HEADER = "Safehub-Feed-Position"
"""topic/partition@offset of the record the line came from (informational)."""

Answer = Literal["delivered", "retry", "refused"]

_RETRY = frozenset({408, 425, 429})


def answer_for(status: int) -> Answer:
    if 200 <= status < 300:
        return "delivered"
    if status in _RETRY or status >= 500:
        return "retry"
    return "refused"


def back_off(*, first_s: float = 0.5, factor: float = 2.0, cap_s: float = 30.0) -> Iterator[float]:
    """Seconds to wait before each retry: first_s, doubling, never more than cap_s."""
    delay = first_s
    while True:
        yield min(delay, cap_s)
        delay *= factor
