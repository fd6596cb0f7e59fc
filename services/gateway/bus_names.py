"""The gateway's topic, group and transactional-id names, optionally under a namespace."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from services.hubkit.topology import GATEWAY_GROUP, GATEWAY_TRANSACTIONAL_PREFIX

__all__ = ["BusNames"]


@dataclass(frozen=True, slots=True)
class BusNames:
    """Topic, group and transactional-id names, optionally under a test/benchmark namespace."""

    namespace: str = ""

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    @property
    def group(self) -> str:
        return self.topic(GATEWAY_GROUP)

    def transactional_id(self, tp: TopicPartition) -> str:
        return self.topic(f"{GATEWAY_TRANSACTIONAL_PREFIX}{tp.topic}-{tp.partition}")
