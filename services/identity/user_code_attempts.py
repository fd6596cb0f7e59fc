"""How many wrong user codes the device verification page takes before it stops looking codes
up (RFC 8628 section 5.1: the user code is short enough to guess, so the server must limit
attempts).

Two sliding windows over the failed entries: per client address (one caller guessing) and
over the whole server (many addresses guessing together). Once either is full, the page
answers 429 with Retry-After *before* looking the code up, so even the right code is refused
until the window moves on.

A person's address starts afresh only when they sign in and approve on the page (password
checked): a code that merely matched does not count as a fresh start, or anyone could start
their own device sign-in (the endpoint is public) and type its code between guesses. The
overall count is never reset; it also bounds memory (no more than `overall` failures are kept).

Pure: plain frozen data in and out, `now` from the caller. `UserCodeAttemptsLog` at the end is
the in-memory holder the page uses (one process, like the pending device sign-ins).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "TooManyWrongCodes",
    "UserCodeAttempts",
    "UserCodeAttemptsLog",
    "UserCodeLimits",
    "WrongUserCode",
    "after_sign_in",
    "after_wrong_code",
    "refusal",
]


@dataclass(frozen=True, slots=True)
class UserCodeLimits:
    """Failed entries allowed within `window_s`: from one address, and in total."""

    per_address: int = 5
    overall: int = 50
    window_s: float = 300.0


@dataclass(frozen=True, slots=True)
class WrongUserCode:
    """One failed entry: unknown, expired or already used. The code itself is never kept."""

    address: str
    at: float


@dataclass(frozen=True, slots=True)
class UserCodeAttempts:
    """The failed entries still inside the window, oldest first, and when each address last
    signed in (its failures before then no longer count against it)."""

    failures: tuple[WrongUserCode, ...] = ()
    fresh_start: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class TooManyWrongCodes:
    """The page's answer once a window is full: 429 with `retry_after_s`."""

    scope: Literal["address", "overall"]
    retry_after_s: int
    from_address: int
    overall: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after_s / 60))
        wait = f"Wait {minutes} minute{'s' if minutes != 1 else ''}, then try again."
        if self.scope == "address":
            return f"Too many codes that were not right were entered from here. {wait}"
        return f"Too many codes that were not right were entered on this service. {wait}"


def _recent(attempts: UserCodeAttempts, *, now: float, window_s: float) -> UserCodeAttempts:
    since = now - window_s
    return UserCodeAttempts(
        failures=tuple(f for f in attempts.failures if f.at > since),
        fresh_start=tuple((a, t) for a, t in attempts.fresh_start if t > since),
    )


def _counted_against(attempts: UserCodeAttempts, address: str) -> list[float]:
    started = dict(attempts.fresh_start).get(address, -math.inf)
    return [f.at for f in attempts.failures if f.address == address and f.at > started]


def _retry_after(times: list[float], *, limit: int, now: float, window_s: float) -> int:
    """Seconds until fewer than `limit` of `times` (oldest first) are inside the window."""
    leaving = times[len(times) - limit]  # the oldest that must leave to make room for one more
    return max(1, math.ceil(leaving + window_s - now))


def refusal(
    attempts: UserCodeAttempts, *, address: str, now: float, limits: UserCodeLimits
) -> TooManyWrongCodes | None:
    """None when an entry from `address` may be looked up now; else the 429 to answer."""
    recent = _recent(attempts, now=now, window_s=limits.window_s)
    everyone = [f.at for f in recent.failures]
    mine = _counted_against(recent, address)
    checks: tuple[tuple[Literal["address", "overall"], list[float], int], ...] = (
        ("address", mine, limits.per_address),
        ("overall", everyone, limits.overall),
    )
    for scope, times, limit in checks:
        if len(times) >= limit:
            return TooManyWrongCodes(
                scope=scope,
                retry_after_s=_retry_after(times, limit=limit, now=now, window_s=limits.window_s),
                from_address=len(mine),
                overall=len(everyone),
            )
    return None


def after_wrong_code(
    attempts: UserCodeAttempts, *, address: str, now: float, limits: UserCodeLimits
) -> UserCodeAttempts:
    """The attempts with one more failed entry from `address` at `now` (old ones dropped)."""
    recent = _recent(attempts, now=now, window_s=limits.window_s)
    return UserCodeAttempts(
        failures=(*recent.failures, WrongUserCode(address=address, at=now)),
        fresh_start=recent.fresh_start,
    )


def after_sign_in(
    attempts: UserCodeAttempts, *, address: str, now: float, limits: UserCodeLimits
) -> UserCodeAttempts:
    """The attempts once a person at `address` signed in and approved: their address starts
    afresh; the overall count is unchanged."""
    recent = _recent(attempts, now=now, window_s=limits.window_s)
    others = tuple((a, t) for a, t in recent.fresh_start if a != address)
    return UserCodeAttempts(failures=recent.failures, fresh_start=(*others, (address, now)))


class UserCodeAttemptsLog:
    """The current attempts, in memory, replaced whole under a lock (the edge's holder)."""

    def __init__(self, limits: UserCodeLimits) -> None:
        self.limits = limits
        self._attempts = UserCodeAttempts()
        self._lock = threading.Lock()

    def refusal(self, address: str, now: float) -> TooManyWrongCodes | None:
        with self._lock:
            return refusal(self._attempts, address=address, now=now, limits=self.limits)

    def wrong_code(self, address: str, now: float) -> None:
        with self._lock:
            self._attempts = after_wrong_code(
                self._attempts, address=address, now=now, limits=self.limits
            )

    def signed_in(self, address: str, now: float) -> None:
        with self._lock:
            self._attempts = after_sign_in(
                self._attempts, address=address, now=now, limits=self.limits
            )
