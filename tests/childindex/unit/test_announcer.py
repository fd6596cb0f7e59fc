"""The LINKAGE_CHANGED outbox loop: in order, marked sent only once sent, retried after a
failure with one alert per outage (a real store file; the send is a function, so the broker
is not under test here: tests/childindex/integration reads the real topic)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from services.childindex.announcer import LinkageAnnouncer
from services.childindex.store import ChildIndexStore, LinkageEvent
from tests.childindex.unit.test_store import _store, child


def _two_merges(store: ChildIndexStore) -> None:
    store.resolve("POLICE", child())
    store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    store.resolve("VCS", child(given_name="Alex"))
    for review in store.reviews(status="open", limit=10):
        store.decide(review["review_id"], same_child=True, decided_by="u-1", rationale="same")


async def test_events_are_sent_in_order_and_marked(tmp_path: Path) -> None:
    store = _store(tmp_path / "index.sqlite")
    _two_merges(store)
    sent: list[LinkageEvent] = []

    async def send(event: LinkageEvent) -> None:
        sent.append(event)

    waiting = [e.event_id for e in store.unpublished_events()]
    announcer = LinkageAnnouncer(store, send, ready=asyncio.Event())
    assert await announcer.announce_waiting() == 2
    assert [e.event_id for e in sent] == waiting  # the order the store committed them
    assert store.unpublished_events() == []
    assert await announcer.announce_waiting() == 0


async def test_a_failed_send_keeps_the_event_and_alerts_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path / "index.sqlite")
    _two_merges(store)
    now = [0.0]
    failures = [3]
    sent: list[str] = []

    async def send(event: LinkageEvent) -> None:
        if failures[0] > 0:
            failures[0] -= 1
            now[0] += 40.0
            raise ConnectionError("broker down")
        sent.append(event.event_id)

    ready = asyncio.Event()
    announcer = LinkageAnnouncer(
        store, send, ready=ready, retry_s=0.0, poll_s=0.01, alert_after_s=60.0, clock=lambda: now[0]
    )
    waiting = [e.event_id for e in store.unpublished_events()]
    with caplog.at_level(logging.WARNING, logger="safehub.childindex.announcer"):
        task = asyncio.create_task(announcer.run())
        # Each pass reads and marks the store in a worker thread: on a loaded machine (CI
        # runs the broker, OPA and image builds beside it) one second was not always enough.
        for _ in range(3000):
            await asyncio.sleep(0.005)
            if len(sent) == 2 and announcer.stalled_since is None:
                break
        task.cancel()
    assert sent == waiting
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(alerts) == 1
    assert "unannounced" in alerts[0].getMessage()
    assert announcer.stalled_since is None
