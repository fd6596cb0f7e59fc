"""Reading the record of decided notices (`gateway.notices-seen.v1`) into DecidedNotices.

The gateway writes a NoticeSeen record into each decision's transaction; this module only
reads them back, read_committed, before the gateway decides anything on a partition it has
just been given (services/gateway/domain/replay.py says why that is enough).

Reading "to the end" must include every transaction the partition's previous owner
committed. The caller fences that owner first (InitProducerId on the partition's
transactional id), so all its transactions are settled; but under read_committed the end
offsets are the *last stable* offsets, which stop at the first transaction still open on the
topic, and another gateway's open transaction may sit before the fenced owner's committed
ones. So a catch-up reads until its position reaches the *high watermark* seen by its first
fetch, which lies beyond every record written before the catch-up began: it waits (at most
the transaction timeout) for transactions open at that moment to finish.

One catch-up serves every caller that asked before it started (a rebalance prepares many
partitions at once); positions are kept, so a later catch-up reads only what is new. The
first reads the whole compacted topic: one record per decided notice, about 200 bytes each.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.gateway.domain.replay import DecidedNotices, decided_copy_of
from services.hubkit.bus import reader_options
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError
from services.hubkit.settings import HubSettings

__all__ = ["SeenLog"]

log = logging.getLogger("safehub.gateway")

_FETCH_WAIT_MS = 50
"""A catch-up usually ends at the partition's end: do not wait the default 500 ms there."""
_MAX_RECORDS = 10_000


class SeenLog:
    """Catches `notices` up with the topic of decided notices."""

    def __init__(
        self,
        *,
        hub: HubSettings,
        principal: str,
        topic: str,
        partitions: int,
        catalog: SchemaCatalog,
        timeout_s: float,
        notices: DecidedNotices | None = None,
    ) -> None:
        self._hub = hub
        self._principal = principal
        self._topic = topic
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._catalog = catalog
        self._timeout_s = timeout_s
        self.notices = notices if notices is not None else DecidedNotices()
        self._positions: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()
        self._requested = 0
        self._served = 0
        """Catch-ups asked for so far, and how many of them the last finished one served."""

    @property
    def topic(self) -> str:
        return self._topic

    async def catch_up(self) -> None:
        """Return once every NoticeSeen record committed before this call has been read.

        Raises KafkaError (or TimeoutError after `timeout_s`): the caller must not decide on
        the partition it is preparing, and tries again later.
        """
        self._requested += 1
        ticket = self._requested
        async with self._lock:
            if self._served >= ticket:
                return  # a catch-up that started after this call was made has finished
            serves = self._requested
            async with asyncio.timeout(self._timeout_s):
                await self._read_to_end()
            self._served = serves

    async def _read_to_end(self) -> None:
        started = time.perf_counter()
        read = 0
        consumer = AIOKafkaConsumer(
            **reader_options(self._hub, self._principal, client_id="safehub-gateway-seen"),
            fetch_max_wait_ms=_FETCH_WAIT_MS,
        )
        await consumer.start()
        try:
            consumer.assign(self._partitions)
            for tp in self._partitions:
                if tp in self._positions:
                    consumer.seek(tp, self._positions[tp])
                else:
                    await consumer.seek_to_beginning(tp)
            # A fresh consumer: every fetch, so every high watermark, is from after the call.
            targets: dict[TopicPartition, int] = {}
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=_MAX_RECORDS)
                for records in batches.values():
                    for record in records:
                        self._remember(record.value, record.offset)
                        read += 1
                done = True
                for tp in self._partitions:
                    if tp not in targets:
                        highwater = consumer.highwater(tp)
                        if highwater is None:
                            done = False
                            continue
                        targets[tp] = highwater
                    position = await consumer.position(tp)
                    self._positions[tp] = position
                    done = done and position >= targets[tp]
                if done:
                    break
        finally:
            await consumer.stop()
        log.info(
            "decided notices read",
            extra={  # names the JSON log keeps (services/gateway/logs.py)
                "topic": self._topic,
                "messages": read,
                "notices": len(self.notices),
                "elapsed_ms": round((time.perf_counter() - started) * 1000),
            },
        )

    def _remember(self, value: bytes | None, offset: int) -> None:
        try:
            if value is None:
                raise CodecError("no value")
            notice_id, copy = decided_copy_of(self._catalog.decode(value, MessageType.NOTICE_SEEN))
        except CodecError as error:
            # Only the gateway can write this topic; a record it cannot read is a bug to look
            # at, not a reason to stop deciding (the notice it names is then not remembered).
            log.error(
                "unreadable record of a decided notice skipped",
                extra={"topic": self._topic, "offset": offset, "error": type(error).__name__},
            )
            return
        self.notices.remember(notice_id, copy)
