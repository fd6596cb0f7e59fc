"""How long a policy query may take: the decision budget, grown while the engine is slow. Pure.

A fixed budget collapses under load (bench/scale_out.py): once queries outlive it, every
retry is abandoned at the same point while the abandoned queries still cost the engine its
CPU, so more gateways only means more wasted work and nothing is decided. Instead the budget
is a level: `base_s * 2**level`, capped at `max_s`. A query that times out raises the level
for the next poll; the level comes down one step only when the slowest query of a poll would
have fitted comfortably (in half) within the smaller budget, so a loaded engine is not asked
again and again with the budget it just missed.

The number of queries in flight (`decision_concurrency`) stays as it is meanwhile: OPA's
throughput on its cores does not rise with fewer queries at once, and a query waiting for a
slot in the gateway instead of in OPA's queue would only have moved where it waits, since
the budget starts when a query is sent. What stopped progress was abandoned work, which a
budget the engine can meet removes.
"""

from __future__ import annotations

__all__ = ["decision_budget", "next_budget_level", "top_budget_level"]


def decision_budget(*, level: int, base_s: float, max_s: float) -> float:
    """`base_s` at level 0, doubling with each level, capped at `max_s` (never below `base_s`)."""
    if level < 0:
        raise ValueError("a budget level counts doublings and starts at 0")
    # Cap the exponent so a long outage cannot overflow the float.
    return float(max(base_s, min(max_s, base_s * 2 ** min(level, 62))))


def top_budget_level(*, base_s: float, max_s: float) -> int:
    """The lowest level whose budget is the cap: the level never goes above it."""
    level = 0
    while base_s * 2**level < max_s and level < 62:
        level += 1
    return level


def next_budget_level(
    *, level: int, timed_out: bool, slowest_s: float | None, base_s: float, max_s: float
) -> int:
    """The level for the next poll, after a poll at `level`.

    `timed_out`: a query of the poll got no answer within its budget (one step up, to the
    cap). Otherwise `slowest_s`, the longest any query of the poll took to answer (None when
    none answered, e.g. the engine unreachable: the level stays, that says nothing about its
    speed): one step down when it is under half the budget one step down.
    """
    if timed_out:
        return min(level + 1, top_budget_level(base_s=base_s, max_s=max_s))
    if level > 0 and slowest_s is not None:
        lower = decision_budget(level=level - 1, base_s=base_s, max_s=max_s)
        if slowest_s < lower / 2:
            return level - 1
    return level
