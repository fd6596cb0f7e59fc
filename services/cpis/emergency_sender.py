"""What emergency access (issue 18) writes to the bus, behind one small port (a fake in unit
tests), as the CP-IS agency's principal (`adapter-cpis`) with the key CP-IS already signs its
access notifications with:

- a clinician's request, a BreakGlassRequest sealed with that key, to
  `breakglass.requests.v1` keyed by the child's linkage key (the gateway alone reads it);
- every view of granted content, a ConsoleAccess NOTICE_VIEWED event naming the grant, sealed
  with that key, to `audit.access.v1` keyed by its access id. The audit log accepts a
  CP-IS-signed event there only when it is exactly that (services/hubkit/audit_trail.py,
  `delegated_problem`); `check_console_access` and that rule are applied here first
  (`seal_emergency_view`), so an event the log would reject fails before it is sent.

Both wait for the broker's acknowledgement (idempotent producer, acks=all): the clinician is
told a request was sent, or shown content, only after it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from services.hubkit.audit_trail import ACCESS_STREAM, check_console_access, seal_audit_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import SigningKey, seal
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, BREAK_GLASS_TOPIC

__all__ = [
    "EmergencySender",
    "HubEmergencySender",
    "seal_emergency_request",
    "seal_emergency_view",
]


def seal_emergency_request(
    catalog: SchemaCatalog, request: Mapping[str, Any], key: SigningKey, at: dt.datetime
) -> bytes:
    """A BreakGlassRequest in a SignedEnvelope sealed with `key` (CP-IS's)."""
    return seal(catalog, catalog.encode(MessageType.BREAK_GLASS_REQUEST, request), key, at)


def seal_emergency_view(
    catalog: SchemaCatalog, event: Mapping[str, Any], key: SigningKey, at: dt.datetime
) -> bytes:
    """A view's ConsoleAccess event sealed with `key` for the access topic; raises
    AuditRecordRejected (a value not in its bounded form) or ValueError (an event the log
    takes from the console only) before anything is sealed."""
    check_console_access(event)
    return seal_audit_record(catalog, ACCESS_STREAM, event, key, at)


class EmergencySender(Protocol):
    async def request_break_glass(self, request: Mapping[str, Any]) -> None: ...

    async def record_view(self, event: Mapping[str, Any]) -> None: ...


class HubEmergencySender:
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

    async def request_break_glass(self, request: Mapping[str, Any]) -> None:
        value = seal_emergency_request(self._catalog, request, self._key, self._clock())
        await self._send(BREAK_GLASS_TOPIC, value, str(request["subject_linkage_key"]))

    async def record_view(self, event: Mapping[str, Any]) -> None:
        value = seal_emergency_view(self._catalog, event, self._key, self._clock())
        await self._send(AUDIT_ACCESS_TOPIC, value, str(event["access_id"]))

    async def _send(self, topic: str, value: bytes, key: str) -> None:
        await asyncio.wait_for(
            self._producer.send_and_wait(topic, value=value, key=key.encode()),
            timeout=self._timeout_s,
        )
