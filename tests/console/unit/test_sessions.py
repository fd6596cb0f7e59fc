"""The console's session store: signing-in sessions (anyone can start one) and signed-in
sessions live in separate bounded pools, so a flood of the first never evicts the second."""

from __future__ import annotations

from services.console.domain.people import SessionPolicy
from services.console.sessions import SIGNED_IN_KEY, SessionStore


def _store(clock: list[float]) -> SessionStore:
    return SessionStore(SessionPolicy(), clock=lambda: clock[0], max_sessions=2, max_signing_in=3)


def test_signing_in_sessions_never_evict_a_signed_in_one() -> None:
    clock = [1_000.0]
    store = _store(clock)
    manager = store.create({SIGNED_IN_KEY: {"subject": "s-1"}})
    clock[0] += 1
    visitors = [store.create({"_state_x": "pending"}) for _ in range(50)]
    assert store.load(manager, touch=False) is not None
    assert len(store) == 1 + 3  # the signing-in pool stays bounded
    assert store.load(visitors[0], touch=False) is None  # the oldest sign-ins went first
    assert store.load(visitors[-1], touch=False) is not None


def test_an_unfinished_sign_in_expires_long_before_a_session_would() -> None:
    clock = [1_000.0]
    store = _store(clock)
    visitor = store.create({"_state_x": "pending"})
    manager = store.create({SIGNED_IN_KEY: {"subject": "s-1"}})
    clock[0] += 601
    assert store.load(manager, touch=True) is not None
    assert store.load(visitor, touch=False) is None
