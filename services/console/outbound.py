"""What the console writes to the bus, behind two small ports (fakes in unit tests):

- `DecisionSender`: a triage decision, as a MASH_DECISION notice signed with the MASH's
  agency key and produced to `notices.mash.v1` as `adapter-mash`, so the gateway verifies,
  decides, audits and routes it exactly like a notice from any agency.
- `RefusalRecorder`: an ACCESS_REFUSED audit record, produced to `audit.decisions.v1` as
  the `console` principal, whose only right is to write that topic.

Both wait for the broker's acknowledgement (idempotent producer, acks=all) before the
person is told anything happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.publisher import NoticePublisher
from services.hubkit.topology import AUDIT_TOPIC

__all__ = ["AuditRefusalRecorder", "DecisionSender", "HubDecisionSender", "RefusalRecorder"]


class DecisionSender(Protocol):
    async def send(self, notice: Mapping[str, Any]) -> str: ...


class RefusalRecorder(Protocol):
    async def record(self, record: Mapping[str, Any]) -> None: ...


class HubDecisionSender:
    def __init__(self, publisher: NoticePublisher, *, timeout_s: float = 15.0) -> None:
        self._publisher = publisher
        self._timeout_s = timeout_s

    async def send(self, notice: Mapping[str, Any]) -> str:
        return await asyncio.wait_for(self._publisher.publish(notice), timeout=self._timeout_s)


class AuditRefusalRecorder:
    def __init__(
        self, producer: AIOKafkaProducer, catalog: SchemaCatalog, *, timeout_s: float = 10.0
    ) -> None:
        self._producer = producer
        self._catalog = catalog
        self._timeout_s = timeout_s

    async def record(self, record: Mapping[str, Any]) -> None:
        value = self._catalog.encode(MessageType.AUDIT_RECORD, record)
        key = str(record.get("notice_id") or record["decision_id"]).encode()
        await asyncio.wait_for(
            self._producer.send_and_wait(AUDIT_TOPIC, value=value, key=key),
            timeout=self._timeout_s,
        )
