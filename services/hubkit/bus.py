"""aiokafka factories with the settings that are not optional (ARCHITECTURE.md).

Producers: idempotent, acks=all. Consumers: manual offsets, read_committed, so nothing is
visible before its audit record commits. Each service connects as its own SCRAM principal.
The option builders are pure so a unit test can guard them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from services.hubkit.errors import CredentialsMissing
from services.hubkit.settings import HubSettings

__all__ = [
    "admin_client",
    "consumer_options",
    "make_consumer",
    "make_producer",
    "producer_options",
    "sasl_options",
]


def sasl_options(credentials_dir: Path, principal: str) -> dict[str, Any]:
    path = credentials_dir / f"{principal}.json"
    try:
        credential = json.loads(path.read_text())
    except FileNotFoundError:
        raise CredentialsMissing(principal, str(path)) from None
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": credential.get("mechanism", "SCRAM-SHA-256"),
        "sasl_plain_username": credential["username"],
        "sasl_plain_password": credential["password"],
    }


def producer_options(
    settings: HubSettings, principal: str, *, transactional_id: str | None = None
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "client_id": f"safehub-{principal}",
        "enable_idempotence": True,
        "acks": "all",
        "request_timeout_ms": 30_000,
        **sasl_options(settings.credentials_dir, principal),
    }
    if transactional_id is not None:
        options["transactional_id"] = transactional_id
        options["transaction_timeout_ms"] = 60_000
    return options


def consumer_options(settings: HubSettings, principal: str, *, group_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "client_id": f"safehub-{principal}",
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        **sasl_options(settings.credentials_dir, principal),
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
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"safehub-{principal}",
        **sasl_options(settings.credentials_dir, principal),
    )
