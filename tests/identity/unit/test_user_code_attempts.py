"""The limit on wrong user codes (RFC 8628 5.1), as pure rules over plain data."""

from __future__ import annotations

from services.identity.user_code_attempts import (
    UserCodeAttempts,
    UserCodeLimits,
    after_sign_in,
    after_wrong_code,
    refusal,
)

LIMITS = UserCodeLimits(per_address=5, overall=50, window_s=300)
T0 = 1_800_000_000.0


def _wrong(
    attempts: UserCodeAttempts, address: str, times: int, *, at: float = T0, step: float = 1
) -> UserCodeAttempts:
    for i in range(times):
        attempts = after_wrong_code(attempts, address=address, now=at + i * step, limits=LIMITS)
    return attempts


def test_five_wrong_codes_from_one_address_then_the_sixth_is_refused() -> None:
    four = _wrong(UserCodeAttempts(), "10.0.0.1", 4)
    assert refusal(four, address="10.0.0.1", now=T0 + 10, limits=LIMITS) is None
    five = _wrong(four, "10.0.0.1", 1, at=T0 + 4)
    refused = refusal(five, address="10.0.0.1", now=T0 + 10, limits=LIMITS)
    assert refused is not None
    assert refused.scope == "address"
    assert (refused.from_address, refused.overall) == (5, 5)
    # Room again when the oldest failure (at T0) leaves the 300 s window.
    assert refused.retry_after_s == 290
    assert "Wait 5 minutes" in refused.message
    assert refusal(five, address="10.0.0.2", now=T0 + 10, limits=LIMITS) is None


def test_the_window_slides() -> None:
    five = _wrong(UserCodeAttempts(), "10.0.0.1", 5, step=60)  # T0, T0+60, ..., T0+240
    assert refusal(five, address="10.0.0.1", now=T0 + 299, limits=LIMITS) is not None
    assert refusal(five, address="10.0.0.1", now=T0 + 300, limits=LIMITS) is None
    # Old failures are dropped when the next is counted: memory stays bounded.
    later = after_wrong_code(five, address="10.0.0.1", now=T0 + 400, limits=LIMITS)
    assert [f.at for f in later.failures] == [T0 + 120, T0 + 180, T0 + 240, T0 + 400]


def test_many_addresses_together_reach_the_overall_limit() -> None:
    attempts = UserCodeAttempts()
    for n in range(25):
        attempts = _wrong(attempts, f"10.0.1.{n}", 2, at=T0 + n)
    refused = refusal(attempts, address="10.9.9.9", now=T0 + 30, limits=LIMITS)
    assert refused is not None
    assert refused.scope == "overall"
    assert (refused.from_address, refused.overall) == (0, 50)
    assert refused.retry_after_s == 270  # the oldest of the 50 was at T0
    assert "on this service" in refused.message


def test_signing_in_starts_the_address_afresh_but_not_the_overall_count() -> None:
    five = _wrong(UserCodeAttempts(), "10.0.0.1", 5)
    signed_in = after_sign_in(five, address="10.0.0.1", now=T0 + 20, limits=LIMITS)
    assert refusal(signed_in, address="10.0.0.1", now=T0 + 21, limits=LIMITS) is None
    assert len(signed_in.failures) == 5  # still counted overall
    # Failures after the sign-in count again.
    again = _wrong(signed_in, "10.0.0.1", 5, at=T0 + 30)
    refused = refusal(again, address="10.0.0.1", now=T0 + 40, limits=LIMITS)
    assert refused is not None
    assert (refused.from_address, refused.overall) == (5, 10)


def test_one_address_signing_in_leaves_anothers_count_alone() -> None:
    attempts = _wrong(_wrong(UserCodeAttempts(), "10.0.0.1", 5), "10.0.0.2", 5)
    attempts = after_sign_in(attempts, address="10.0.0.2", now=T0 + 20, limits=LIMITS)
    assert refusal(attempts, address="10.0.0.1", now=T0 + 21, limits=LIMITS) is not None
    assert refusal(attempts, address="10.0.0.2", now=T0 + 21, limits=LIMITS) is None


def test_limits_come_from_the_caller() -> None:
    strict = UserCodeLimits(per_address=1, overall=2, window_s=60)
    one = after_wrong_code(UserCodeAttempts(), address="a", now=T0, limits=strict)
    refused = refusal(one, address="a", now=T0 + 1, limits=strict)
    assert refused is not None
    assert refused.retry_after_s == 59
    assert "Wait 1 minute," in refused.message
    two = after_wrong_code(one, address="b", now=T0 + 2, limits=strict)
    refused_c = refusal(two, address="c", now=T0 + 3, limits=strict)
    assert refused_c is not None
    assert refused_c.scope == "overall"
