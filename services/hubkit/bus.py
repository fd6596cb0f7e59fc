"""aiokafka factories with the settings that are not optional (a unit test guards them).

Producers: idempotent, acks=all. Consumers: manual offsets, read_committed, so nothing is
visible before its audit record commits. Each service connects as its own SCRAM principal,
over the transport `HubSettings.kafka_security_protocol` names (SASL_SSL: TLS verified against
the hub's CA; see services/hubkit/tls.py). The option builders only read credential and CA
files, so a unit test can guard them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.hubkit.broker_credentials import read_credential
from services.hubkit.settings import HubSettings
from services.hubkit.tls import kafka_transport_options

__all__ = [
    "TopicReader",
    "admin_client",
    "connection_options",
    "consumer_options",
    "make_consumer",
    "make_producer",
    "producer_options",
    "reader_options",
    "sasl_options",
]


def sasl_options(credentials_dir: Path, principal: str) -> dict[str, Any]:
    """SCRAM options from the principal's credential: the hub's file, or the Strimzi
    KafkaUser Secret mounted as-is (services/hubkit/broker_credentials.py)."""
    credential = read_credential(credentials_dir, principal)
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": credential.mechanism,
        "sasl_plain_username": credential.username,
        "sasl_plain_password": credential.password,
    }


def connection_options(settings: HubSettings, principal: str) -> dict[str, Any]:
    """Bootstrap, transport (SASL_PLAINTEXT or SASL_SSL with the CA) and SCRAM credential:
    the one place every client's connection settings come from."""
    return {
        **sasl_options(settings.credentials_dir, principal),
        **kafka_transport_options(settings),
    }


def producer_options(
    settings: HubSettings, principal: str, *, transactional_id: str | None = None
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "client_id": f"safehub-{principal}",
        "enable_idempotence": True,
        "acks": "all",
        "request_timeout_ms": 30_000,
        **connection_options(settings, principal),
    }
    if transactional_id is not None:
        options["transactional_id"] = transactional_id
        options["transaction_timeout_ms"] = 60_000
    return options


def consumer_options(settings: HubSettings, principal: str, *, group_id: str) -> dict[str, Any]:
    return {
        "client_id": f"safehub-{principal}",
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        **connection_options(settings, principal),
    }


def reader_options(
    settings: HubSettings, principal: str, *, client_id: str | None = None
) -> dict[str, Any]:
    """An observer of topics: no consumer group (it never moves a service's offsets),
    read_committed (it sees only what committed with its audit record), no auto commit."""
    return {
        "client_id": client_id or f"safehub-reader-{principal}",
        "group_id": None,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        **connection_options(settings, principal),
    }


def make_producer(
    settings: HubSettings, principal: str, *, transactional_id: str | None = None
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **producer_options(settings, principal, transactional_id=transactional_id)
    )


def make_consumer(
    settings: HubSettings, principal: str, *topics: str, group_id: str
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **consumer_options(settings, principal, group_id=group_id))


def admin_client(settings: HubSettings, principal: str = "admin") -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        client_id=f"safehub-{principal}", **connection_options(settings, principal)
    )


class TopicReader:
    """Reads one topic as `principal` from its current end (or start), read_committed.

    Manual partition assignment, no consumer group: observers (the demo, tests, a console
    tailing a feed) never disturb the committed offsets of the services they watch.
    """

    def __init__(
        self, settings: HubSettings, principal: str, topic: str, *, partitions: int
    ) -> None:
        self._topic = topic
        self._partitions = partitions
        self._consumer = AIOKafkaConsumer(**reader_options(settings, principal))

    async def start(self, *, from_beginning: bool = False) -> Self:
        await self._consumer.start()
        assigned = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        self._consumer.assign(assigned)
        if from_beginning:
            await self._consumer.seek_to_beginning(*assigned)
        else:
            await self._consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve the lazy seek now, before anything new is produced
            await self._consumer.position(tp)
        return self

    async def read_until(
        self, done: Callable[[list[ConsumerRecord]], bool], *, timeout_s: float = 30.0
    ) -> list[ConsumerRecord]:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not done(records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
        return records

    async def drain(self, *, quiet_s: float = 1.5) -> list[ConsumerRecord]:
        """Everything that arrives until nothing has arrived for quiet_s."""
        records: list[ConsumerRecord] = []
        while True:
            batch = await self._consumer.getmany(timeout_ms=int(quiet_s * 1000))
            if not batch:
                return records
            for partition_records in batch.values():
                records.extend(partition_records)

    async def stop(self) -> None:
        await self._consumer.stop()
