"""LINKAGE_CHANGED on the bus: the store's outbox, sent in order, marked sent once acknowledged.

A merge or split commits with its outbox event in one SQLite transaction (store.py); this loop
sends what is waiting to `childindex.linkage.v1` (an idempotent producer, acks=all) and marks
it sent. A crash between sending and marking sends the event again: consumers apply an event
id once. A broker that stays unreachable does not stop matching or review decisions; it
delays the announcement, and after `alert_after_s` the loop logs an ERROR (`linkage events
unannounced`) once per outage and counts it in `stalled_since` for /healthz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from services.childindex.store import ChildIndexStore, LinkageEvent

__all__ = ["LinkageAnnouncer"]

log = logging.getLogger("safehub.childindex.announcer")

Send = Callable[[LinkageEvent], Awaitable[None]]


class LinkageAnnouncer:
    def __init__(
        self,
        store: ChildIndexStore,
        send: Send,
        *,
        ready: asyncio.Event,
        poll_s: float = 5.0,
        retry_s: float = 1.0,
        alert_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._send = send
        self._ready = ready
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._alert_after_s = alert_after_s
        self._clock = clock
        self.stalled_since: float | None = None
        self._alerted = False

    async def announce_waiting(self) -> int:
        """Send every waiting event in order; how many were sent. Raises on the first failure
        (the rest wait: order matters to consumers)."""
        sent = 0
        while events := await asyncio.to_thread(self._store.unpublished_events):
            for event in events:
                await self._send(event)
                await asyncio.to_thread(self._store.mark_published, [event.event_id])
                sent += 1
        return sent

    async def run(self) -> None:
        while True:
            self._ready.clear()
            try:
                await self.announce_waiting()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._failed(error)
                await asyncio.sleep(self._retry_s)
                continue
            self._recovered()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=self._poll_s)

    def _failed(self, error: Exception) -> None:
        now = self._clock()
        if self.stalled_since is None:
            self.stalled_since = now
        log.warning("linkage event not announced yet (%s); retrying", type(error).__name__)
        if not self._alerted and now - self.stalled_since >= self._alert_after_s:
            self._alerted = True
            log.error(
                "linkage events unannounced for %.0f s: consoles and the audit service do "
                "not see merges and splits; check the broker and the childindex credential",
                now - self.stalled_since,
            )

    def _recovered(self) -> None:
        if self.stalled_since is not None:
            log.info("linkage events announced again")
        self.stalled_since = None
        self._alerted = False
