"""Sign and publish notices as one agency: encode, seal with the agency's key, produce.

Shared by everything that publishes notices on an agency's behalf (the agency adapters, the
console's MASH decisions, the CP-IS lookup's access notifications), so the sign-and-publish
step is the same everywhere. `publish` returns only after the broker acknowledged the write
(acks=all, idempotent producer), so a caller can report success knowing nothing will be
lost.

Every notice is sealed with its per-field provenance (hubkit.field_provenance): the agency's
SD-JWT over each field of the notice, signed with the same key at the same time as the
envelope, so a recipient of a redacted view can check each field it holds against the
agency's own signature. Retractions carry none: they have no fields to redact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from services.hubkit import field_provenance
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import SigningKey, seal
from services.hubkit.notice import encode_notice, to_json_value
from services.hubkit.retraction import encode_retraction
from services.hubkit.topology import AgencyEntry

__all__ = ["NoticePublisher"]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NoticePublisher:
    """Publishes one agency's notices to that agency's topic, keyed by linkage key."""

    def __init__(
        self,
        *,
        producer: AIOKafkaProducer,
        catalog: SchemaCatalog,
        agency: AgencyEntry,
        signing_key: SigningKey,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._producer = producer
        self._catalog = catalog
        self._agency = agency
        self._key = signing_key
        self._clock = clock

    def seal_notice(self, notice: Mapping[str, Any]) -> bytes:
        if notice["source"]["agency"] != self._agency.code:
            raise ValueError(
                f"{self._agency.code} publisher cannot publish a notice from "
                f"{notice['source']['agency']}"
            )
        payload = encode_notice(self._catalog, notice)
        signed_at = self._clock()
        # The fields are signed as the gateway reads them back (the decoded payload as JSON
        # values), not as this dict holds them: the two differ (times, ids, defaults), and
        # the gateway refuses field signatures that do not match its notice.
        notice_json = to_json_value(self._catalog.decode(payload, MessageType.NOTICE))
        provenance = field_provenance.issue(notice_json, self._key, signed_at)
        return seal(self._catalog, payload, self._key, signed_at, field_provenance=provenance)

    async def enqueue(self, notice: Mapping[str, Any]) -> asyncio.Future[Any]:
        """Seal and hand the notice to the producer; the returned future resolves when the
        broker acknowledged (acks=all). Notices enqueued in order stay in order per child."""
        return await self.enqueue_sealed(notice, self.seal_notice(notice))

    async def enqueue_sealed(self, notice: Mapping[str, Any], value: bytes) -> asyncio.Future[Any]:
        """`enqueue` for a notice already sealed by `seal_notice`, so a caller can look at the
        signed bytes (the adapters check their size) without sealing twice."""
        key = str(notice["subject"]["linkage_key"]).encode()
        future: asyncio.Future[Any] = await self._producer.send(
            self._agency.topic, value=value, key=key
        )
        return future

    def seal_retraction(self, retraction: Mapping[str, Any]) -> bytes:
        """A NoticeRetraction sealed with the agency's key, exactly as its notices are."""
        if retraction["source"]["agency"] != self._agency.code:
            raise ValueError(
                f"{self._agency.code} publisher cannot retract a notice from "
                f"{retraction['source']['agency']}"
            )
        payload = encode_retraction(self._catalog, retraction)
        return seal(self._catalog, payload, self._key, self._clock())

    async def publish_retraction(self, retraction: Mapping[str, Any]) -> str:
        """Publish a retraction on the agency's notice topic keyed by the original notice's
        linkage key (the original's partition, so it follows the original); returns after
        the broker acknowledged."""
        value = self.seal_retraction(retraction)
        key = str(retraction["subject_linkage_key"]).encode()
        await self._producer.send_and_wait(self._agency.topic, value=value, key=key)
        return str(retraction["retraction_id"])

    async def publish(self, notice: Mapping[str, Any]) -> str:
        value = self.seal_notice(notice)
        key = str(notice["subject"]["linkage_key"]).encode()
        await self._producer.send_and_wait(self._agency.topic, value=value, key=key)
        return str(notice["notice_id"])
