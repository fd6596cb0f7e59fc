"""How long to wait before a notice that could not be decided is tried again. Pure."""

from __future__ import annotations

__all__ = ["backoff_delay"]


def backoff_delay(*, attempt: int, initial_s: float, max_s: float) -> float:
    """Exponential backoff: `initial_s` after the first failure, doubling, capped at `max_s`.

    `attempt` counts consecutive failures of the same partition, starting at 1.
    """
    if attempt < 1:
        raise ValueError("attempt counts failures and starts at 1")
    # Cap the exponent so a long outage cannot overflow the float.
    return float(min(max_s, initial_s * 2 ** min(attempt - 1, 62)))
