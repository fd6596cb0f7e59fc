"""Delivering access notifications: every recorded access reaches the owning LA, even when
the broker is down at the moment of the lookup.

A lookup writes its notifications to the store's outbox in the same transaction as the
access itself (so an access is never recorded without its notification, nor the other way
round), then asks `deliver` to publish them at once. The clinician's answer does not wait
on the broker beyond `timeout_s` per notice, and does not depend on it: the flag is shown either way
(the child in front of the clinician comes first), and what was not acknowledged stays in
the outbox, where `run` retries it until the broker acknowledges. A notice is re-sent under
the same notice id, so a retry after a lost acknowledgement is not a second notification.

Publishing signs each notice with the CPIS agency key and produces it to notices.cpis.v1 as
`adapter-cpis` (`services.hubkit.publisher.NoticePublisher`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from services.cpis.store import OutboxItem, RegisterStore
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError

__all__ = ["AccessNotifier", "NoticeSink"]

log = logging.getLogger("safehub.cpis.notifier")


class NoticeSink(Protocol):
    """Port: sign and publish one notice; returns once the broker acknowledged."""

    async def publish(self, notice: Mapping[str, Any]) -> str: ...


class AccessNotifier:
    def __init__(
        self,
        *,
        sink: NoticeSink,
        store: RegisterStore,
        catalog: SchemaCatalog,
        timeout_s: float = 3.0,
        retry_s: float = 5.0,
        batch: int = 100,
    ) -> None:
        self._sink = sink
        self._store = store
        self._catalog = catalog
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._batch = batch
        # Never publish one notice from two tasks at once, nor again once acknowledged (the
        # retry loop may hold a snapshot of the outbox taken just before a lookup's send).
        self._in_flight: set[str] = set()
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._stopping = asyncio.Event()
        self.sent = 0
        self.failed = 0

    async def deliver(self, items: Sequence[OutboxItem]) -> bool:
        """Publish one lookup's notifications now (each waits at most `timeout_s`). True when
        all were acknowledged; the others stay in the outbox for `run`. Independent of the
        retry loop, so a backlog never delays a clinician's answer."""
        results = [await self._publish(notice_id, payload) for notice_id, payload in items]
        return all(results)

    async def retry_pending(self) -> None:
        """One pass over what the outbox still holds."""
        pending = await asyncio.to_thread(self._store.pending_notifications, limit=self._batch)
        for notice_id, payload in pending:
            await self._publish(notice_id, payload)

    async def _publish(self, notice_id: str, payload: bytes) -> bool:
        if notice_id in self._in_flight:
            return False
        if notice_id in self._sent:
            return True
        self._in_flight.add(notice_id)
        try:
            return await self._send(notice_id, payload)
        finally:
            self._in_flight.discard(notice_id)

    async def _send(self, notice_id: str, payload: bytes) -> bool:
        try:
            notice = self._catalog.decode(payload, MessageType.NOTICE)
            await asyncio.wait_for(self._sink.publish(notice), timeout=self._timeout_s)
        except Exception as error:
            self.failed += 1
            # The notice id and the error class only: never the notice (personal data).
            log.log(
                # A notice that does not decode or encode is a defect, not an outage: it
                # stays pending (never dropped) and says so loudly.
                logging.ERROR if isinstance(error, CodecError) else logging.WARNING,
                "access notification %s not acknowledged (%s); will retry",
                notice_id,
                type(error).__name__,
                extra={"notice_id": notice_id, "error": type(error).__name__},
            )
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._store.notification_failed, notice_id)
            return False
        self._sent[notice_id] = None
        while len(self._sent) > 10_000:
            self._sent.popitem(last=False)
        self.sent += 1
        log.info("access notification %s sent", notice_id, extra={"notice_id": notice_id})
        # Acknowledged: a failure to clear the outbox only means one harmless re-send later
        # (same notice id), so it does not turn this into a failure.
        try:
            await asyncio.to_thread(self._store.notification_sent, notice_id)
        except Exception as error:
            log.error(
                "access notification %s sent but still in the outbox (%s)",
                notice_id,
                type(error).__name__,
            )
        return True

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Retry what is pending every `retry_s` until stop()."""
        while not self._stopping.is_set():
            try:
                await self.retry_pending()
            except Exception as error:  # the store is down: try again next round
                log.error(
                    "access notifications could not be read from the register (%s)",
                    type(error).__name__,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._retry_s)
