"""The decision budget (services/gateway/domain/budget.py): doubled after a timeout up to its
cap, and back down only once the engine answers well within the smaller budget."""

from __future__ import annotations

import pytest

from services.gateway.domain.budget import (
    decision_budget,
    next_budget_level,
    top_budget_level,
)
from services.gateway.settings import GatewaySettings


@pytest.mark.parametrize(
    ("level", "budget_s"),
    [(0, 2.0), (1, 4.0), (2, 8.0), (3, 16.0), (4, 30.0), (5, 30.0), (10_000, 30.0)],
)
def test_the_budget_doubles_with_each_level_up_to_its_cap(level: int, budget_s: float) -> None:
    assert decision_budget(level=level, base_s=2.0, max_s=30.0) == budget_s


def test_a_cap_equal_to_the_base_is_a_fixed_budget() -> None:
    assert {decision_budget(level=n, base_s=2.0, max_s=2.0) for n in range(8)} == {2.0}


def test_a_level_below_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="starts at 0"):
        decision_budget(level=-1, base_s=2.0, max_s=30.0)


@pytest.mark.parametrize(
    ("base_s", "max_s", "top"), [(2.0, 30.0, 4), (2.0, 32.0, 4), (2.0, 2.0, 0), (0.05, 0.4, 3)]
)
def test_the_top_level_is_the_first_whose_budget_is_the_cap(
    base_s: float, max_s: float, top: int
) -> None:
    assert top_budget_level(base_s=base_s, max_s=max_s) == top
    assert decision_budget(level=top, base_s=base_s, max_s=max_s) == max_s
    if top:
        assert decision_budget(level=top - 1, base_s=base_s, max_s=max_s) < max_s


def _next(level: int, *, timed_out: bool = False, slowest_s: float | None = None) -> int:
    return next_budget_level(
        level=level, timed_out=timed_out, slowest_s=slowest_s, base_s=2.0, max_s=30.0
    )


def test_a_timeout_raises_the_level_one_step_and_never_past_the_cap() -> None:
    levels = [0]
    for _ in range(8):
        levels.append(_next(levels[-1], timed_out=True))
    assert levels == [0, 1, 2, 3, 4, 4, 4, 4, 4]


def test_the_level_comes_down_only_when_the_slowest_answer_fits_half_the_smaller_budget() -> None:
    # At level 2 (8 s) the next budget down is 4 s: answers under 2 s bring it down.
    assert _next(2, slowest_s=1.9) == 1
    assert _next(2, slowest_s=2.0) == 2
    assert _next(2, slowest_s=7.0) == 2
    # One step at a time, and never below the base.
    assert _next(1, slowest_s=0.01) == 0
    assert _next(0, slowest_s=0.01) == 0


def test_a_poll_with_no_answer_and_no_timeout_says_nothing_about_speed() -> None:
    # E.g. OPA unreachable: refused at once, which is no reason to shrink the budget.
    assert _next(3, slowest_s=None) == 3
    assert _next(0, slowest_s=None) == 0


def test_a_timeout_outweighs_fast_answers_in_the_same_poll() -> None:
    assert _next(1, timed_out=True, slowest_s=0.01) == 2


def test_the_settings_refuse_a_cap_below_the_base_or_not_below_the_liveness_limit() -> None:
    with pytest.raises(ValueError, match="at least decision_timeout_s"):
        GatewaySettings(decision_timeout_s=5.0, decision_timeout_max_s=4.0)
    with pytest.raises(ValueError, match="below stall_after_s"):
        GatewaySettings(decision_timeout_max_s=60.0, stall_after_s=60.0)
    fixed = GatewaySettings(decision_timeout_s=3.0, decision_timeout_max_s=3.0)
    assert fixed.decision_timeout_max_s == fixed.decision_timeout_s
