"""The console's Kafka edge for linkage: follow `childindex.linkage.v1` (LINKAGE_CHANGED,
written by the child index alone) into the alias map (domain/linkage.py), so a child's page
shows the notices of every key the index has merged into that child.

The reading is hubkit.feed_follower's, as for the console's feeds: connected as the
`console` principal (READ on this topic, nothing else of it), no consumer group, the single
partition read from the beginning at every start and after every reconnect: the alias map is
in memory, and applying is idempotent by event id, so a replay changes nothing.

Every record gets an explicit outcome: applied, unchanged (a repeat), or skipped with a log
line (topic, partition, offset, error class; never a key) when it does not decode as a
LinkageChanged or names no key to change. Skipping is right for a reader: the index and the
audit log are the record of what was decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import ConsumerRecord

from services.console.domain.linkage import ChildAliases, linkage_change_from_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import HubError
from services.hubkit.feed_follower import FeedFollower, FollowerStats
from services.hubkit.settings import HubSettings
from services.hubkit.topology import CONSOLE_PRINCIPAL, LINKAGE_TOPIC

__all__ = ["LinkageFollower"]

log = logging.getLogger("safehub.console.linkage")


class LinkageFollower:
    def __init__(
        self,
        *,
        hub: HubSettings,
        catalog: SchemaCatalog,
        aliases: ChildAliases,
        partitions: int,
        on_change: Callable[[frozenset[str]], None],
        retry_s: float = 2.0,
    ) -> None:
        self._catalog = catalog
        self.aliases = aliases
        self._on_change = on_change
        self.stats = FollowerStats()
        self._follower = FeedFollower(
            hub=hub,
            topic=LINKAGE_TOPIC,
            principal=CONSOLE_PRINCIPAL,
            partitions=partitions,
            client_id="safehub-console-linkage",
            apply_batch=self._apply_batch,
            max_records=500,
            on_caught_up=self._log_caught_up,
            on_interrupted=self._log_interrupted,
            retry_s=retry_s,
        )
        self.caught_up = self._follower.caught_up
        """Set once every change on the topic before start-up has been applied."""

    async def run(self) -> None:
        """Follow the topic until stop(); reconnects after broker errors."""
        await self._follower.run()

    def stop(self) -> None:
        self._follower.stop()

    async def _apply_batch(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._apply(record)

    def _log_caught_up(self) -> None:
        log.info("linkage caught up", extra={"changes": len(self.aliases)})

    def _log_interrupted(self, error: Exception) -> None:
        log.warning(
            "linkage follower lost the broker, retrying",
            extra={"topic": LINKAGE_TOPIC, "error": type(error).__name__},
        )

    def _apply(self, record: ConsumerRecord) -> None:
        try:
            decoded = self._catalog.decode(record.value or b"", MessageType.LINKAGE_CHANGED)
            change = linkage_change_from_record(decoded)
        except (HubError, KeyError, TypeError, ValueError) as error:
            self.stats.skipped += 1
            log.error(
                "linkage change skipped",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error": type(error).__name__,
                },
            )
            return
        regrouped = self.aliases.apply(change)
        if regrouped:
            self.stats.applied += 1
            self._on_change(regrouped)
        else:
            self.stats.unchanged += 1
