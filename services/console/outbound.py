"""What the console writes to the bus, behind two small ports (fakes in unit tests):

- `DecisionSender`: a triage decision, as a MASH_DECISION notice signed with the MASH's
  agency key and produced to `notices.mash.v1` as `adapter-mash`, so the gateway verifies,
  decides, audits and routes it exactly like a notice from any agency.
- `RefusalRecorder`: a console access event (ACCESS_REFUSED, or LINKAGE_DECIDED for a review
  decision), sealed with the console's own signing key and produced to `audit.access.v1` as
  the `console` principal, whose only right is to write that topic (it cannot write
  `audit.decisions.v1`, and the audit log accepts nothing on the access topic that the
  console's key did not sign).

- `BreakGlassSender`: a person's request for emergency access (issue 18), a BreakGlassRequest
  sealed with the console's own signing key and produced to `breakglass.requests.v1` as the
  `console` principal, keyed by the child's linkage key; the gateway alone reads it.

All wait for the broker's acknowledgement (idempotent producer, acks=all) before the
person is told anything happened.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from services.hubkit.audit_trail import ACCESS_STREAM, seal_audit_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import SigningKey, seal
from services.hubkit.publisher import NoticePublisher
from services.hubkit.topology import BREAK_GLASS_TOPIC

__all__ = [
    "AuditRefusalRecorder",
    "BreakGlassSender",
    "DecisionSender",
    "HubBreakGlassSender",
    "HubDecisionSender",
    "KeptAccessEvents",
    "RefusalRecorder",
]


class DecisionSender(Protocol):
    async def send(self, notice: Mapping[str, Any]) -> str: ...


class RefusalRecorder(Protocol):
    async def record(self, record: Mapping[str, Any]) -> None: ...


class BreakGlassSender(Protocol):
    async def request_break_glass(self, request: Mapping[str, Any]) -> None: ...


class KeptAccessEvents:
    """Access events kept in memory, in order: the consultation log of a runtime built
    without a broker (unit tests); `running_console` wires the audit topic instead."""

    def __init__(self) -> None:
        self.recorded: list[Mapping[str, Any]] = []

    async def record(self, record: Mapping[str, Any]) -> None:
        self.recorded.append(record)


class HubDecisionSender:
    def __init__(self, publisher: NoticePublisher, *, timeout_s: float = 15.0) -> None:
        self._publisher = publisher
        self._timeout_s = timeout_s

    async def send(self, notice: Mapping[str, Any]) -> str:
        return await asyncio.wait_for(self._publisher.publish(notice), timeout=self._timeout_s)


class AuditRefusalRecorder:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        catalog: SchemaCatalog,
        signing_key: SigningKey,
        *,
        clock: Callable[[], dt.datetime],
        timeout_s: float = 10.0,
    ) -> None:
        self._producer = producer
        self._catalog = catalog
        self._key = signing_key
        self._clock = clock
        self._timeout_s = timeout_s

    async def record(self, record: Mapping[str, Any]) -> None:
        """Seal a ConsoleAccess event with the console's key and produce it."""
        value = seal_audit_record(self._catalog, ACCESS_STREAM, record, self._key, self._clock())
        key = str(record["access_id"]).encode()
        await asyncio.wait_for(
            self._producer.send_and_wait(ACCESS_STREAM.topic, value=value, key=key),
            timeout=self._timeout_s,
        )


class HubBreakGlassSender:
    """Emergency access requests onto the bus, signed as the console (see the module note)."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        catalog: SchemaCatalog,
        signing_key: SigningKey,
        *,
        clock: Callable[[], dt.datetime],
        timeout_s: float = 10.0,
    ) -> None:
        self._producer = producer
        self._catalog = catalog
        self._key = signing_key
        self._clock = clock
        self._timeout_s = timeout_s

    def seal_request(self, request: Mapping[str, Any]) -> bytes:
        payload = self._catalog.encode(MessageType.BREAK_GLASS_REQUEST, request)
        return seal(self._catalog, payload, self._key, self._clock())

    async def request_break_glass(self, request: Mapping[str, Any]) -> None:
        value = self.seal_request(request)
        key = str(request["subject_linkage_key"]).encode()
        await asyncio.wait_for(
            self._producer.send_and_wait(BREAK_GLASS_TOPIC, value=value, key=key),
            timeout=self._timeout_s,
        )
