"""The aiokafka settings that are not optional, as the gateway builds its clients, and the
settings' own validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from pydantic import ValidationError

from services.gateway.bootstrap import build_consumer, build_producer_factory
from services.gateway.bus_names import BusNames
from services.gateway.clients import KafkaTransactionalProducer
from services.gateway.service import Gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology
from tests.factories import POLICIES, SCHEMAS, catalog
from tests.gateway.loop_fakes import (
    FakeBroker,
    FakeChildContext,
    FakeConsumer,
    FakeEngine,
    FakeSeenLog,
)


def _hub(tmp_path: Path) -> HubSettings:
    credentials = tmp_path / "credentials"
    credentials.mkdir(parents=True)
    for principal in ("gateway", "admin"):
        (credentials / f"{principal}.json").write_text(
            json.dumps({"username": principal, "password": "test-only"})
        )
    return HubSettings(data_dir=tmp_path, policies_dir=POLICIES, schemas_dir=SCHEMAS)


def _producer(tmp_path: Path, tp: TopicPartition, **settings: object) -> KafkaTransactionalProducer:
    """The producer the wiring point gives the gateway for `tp`."""
    gateway_settings = GatewaySettings.model_validate(settings)
    new_producer = build_producer_factory(_hub(tmp_path), gateway_settings)
    producer = new_producer(BusNames(gateway_settings.namespace).transactional_id(tp))
    assert isinstance(producer, KafkaTransactionalProducer)
    return producer


async def _close(*clients: object) -> None:
    for client in clients:
        await client.stop()  # type: ignore[attr-defined]


async def test_producers_are_idempotent_transactional_with_stable_ids(tmp_path: Path) -> None:
    tp = TopicPartition("notices.police.v1", 2)
    producer = _producer(tmp_path / "a", tp).kafka_producer
    again = _producer(tmp_path / "b", tp).kafka_producer
    try:
        assert producer._txn_manager.transactional_id == "safehub-gateway-notices.police.v1-2"
        assert again._txn_manager.transactional_id == producer._txn_manager.transactional_id
        assert producer.client._sasl_plain_username == "gateway"
        assert producer._txn_manager is not None  # transactional implies idempotent
        assert producer._sender._acks == -1  # acks="all"
    finally:
        await _close(producer, again)


async def test_the_consumer_reads_committed_with_manual_offsets(tmp_path: Path) -> None:
    consumer: Any = build_consumer(_hub(tmp_path), GatewaySettings())
    try:
        assert consumer._isolation_level == "read_committed"
        assert consumer._enable_auto_commit is False
        assert consumer._group_id == "safehub-gateway"
    finally:
        await _close(consumer)


async def test_a_namespace_prefixes_topics_group_and_transactional_ids(tmp_path: Path) -> None:
    names = BusNames("bench-1")
    assert names.group == "bench-1.safehub-gateway"
    assert names.topic("feed.school-dsl.v1") == "bench-1.feed.school-dsl.v1"
    tp = TopicPartition("bench-1.notices.police.v1", 0)
    settings = {"namespace": "bench-1", "kafka_principal": "admin"}
    producer = _producer(tmp_path / "a", tp, **settings).kafka_producer
    consumer: Any = build_consumer(_hub(tmp_path / "b"), GatewaySettings.model_validate(settings))
    try:
        assert producer._txn_manager.transactional_id.startswith("bench-1.safehub-gateway-")
        assert consumer._group_id == "bench-1.safehub-gateway"
    finally:
        await _close(producer, consumer)


async def test_health_before_running_is_not_ready() -> None:
    broker = FakeBroker()
    gateway = Gateway(
        settings=GatewaySettings(),
        topology=load_topology(POLICIES),
        limits=DisclosureLimits.load(POLICIES),
        catalog=catalog(),
        agency_keys=KeyDirectory.of([]),
        hub_key=SigningKey.generate("gateway"),
        engine=FakeEngine([]),
        child_context=FakeChildContext(),
        seen_log=FakeSeenLog(),
        consumer=FakeConsumer(broker),
        producer_factory=broker.new_producer,
    )
    health = gateway.health()
    assert not health.alive
    assert not health.ready


@pytest.mark.parametrize(
    "values",
    [
        {"retry_backoff_initial_s": 2.0, "retry_backoff_max_s": 1.0},
        {"namespace": "a.b"},
        {"namespace": "a b"},
        {"decision_timeout_s": 0},
        {"max_batch": 0},
        {"decision_batch": 0},
    ],
)
def test_invalid_settings_fail_early(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings.model_validate(values)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEHUB_GATEWAY_ENGINE", "regopy")
    monkeypatch.setenv("SAFEHUB_GATEWAY_COMMIT_INTERVAL_MS", "50")
    settings = GatewaySettings()
    assert settings.engine == "regopy"
    assert settings.commit_interval_ms == 50
