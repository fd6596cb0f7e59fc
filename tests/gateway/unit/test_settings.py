"""The aiokafka settings that are not optional, as the gateway builds its clients, and the
settings' own validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from pydantic import ValidationError

from services.gateway.engines import EngineAnswer
from services.gateway.seen_log import SeenLog
from services.gateway.service import BusNames, Gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.settings import HubSettings
from services.hubkit.topology import NOTICES_SEEN_TOPIC, load_topology
from tests.factories import POLICIES, SCHEMAS, catalog


class _NeverEngine:
    name = "never"
    max_concurrency = 1
    batch_size = 1

    async def evaluate(self, policy_input: dict) -> EngineAnswer:
        raise AssertionError("not called")

    async def evaluate_many(self, notices: list[dict]) -> list[EngineAnswer]:
        raise AssertionError("not called")

    async def close(self) -> None:
        return None


def _hub(tmp_path: Path) -> HubSettings:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for principal in ("gateway", "admin"):
        (credentials / f"{principal}.json").write_text(
            json.dumps({"username": principal, "password": "test-only"})
        )
    return HubSettings(data_dir=tmp_path, policies_dir=POLICIES, schemas_dir=SCHEMAS)


def _gateway(tmp_path: Path, **settings: object) -> Gateway:
    hub = _hub(tmp_path)
    return Gateway(
        hub=hub,
        settings=GatewaySettings.model_validate(settings),
        topology=load_topology(POLICIES),
        limits=DisclosureLimits.load(POLICIES),
        catalog=catalog(),
        agency_keys=KeyDirectory.of([]),
        hub_key=SigningKey.generate("gateway"),
        engine=_NeverEngine(),
        seen_log=SeenLog(
            hub=hub,
            principal="gateway",
            topic=NOTICES_SEEN_TOPIC,
            partitions=1,
            catalog=catalog(),
            timeout_s=1.0,
        ),
    )


async def _close(*clients: object) -> None:
    for client in clients:
        await client.stop()  # type: ignore[attr-defined]


async def test_producers_are_idempotent_transactional_with_stable_ids(tmp_path: Path) -> None:
    gateway = _gateway(tmp_path)
    tp = TopicPartition("notices.police.v1", 2)
    producer = gateway._new_producer(tp)
    again = gateway._new_producer(tp)
    try:
        assert producer._txn_manager.transactional_id == "safehub-gateway-notices.police.v1-2"
        assert again._txn_manager.transactional_id == producer._txn_manager.transactional_id
        assert producer.client._sasl_plain_username == "gateway"
        assert producer._txn_manager is not None  # transactional implies idempotent
        assert producer._sender._acks == -1  # acks="all"
    finally:
        await _close(producer, again, gateway._consumer)


async def test_the_consumer_reads_committed_with_manual_offsets(tmp_path: Path) -> None:
    consumer = _gateway(tmp_path)._consumer
    try:
        assert consumer._isolation_level == "read_committed"
        assert consumer._enable_auto_commit is False
        assert consumer._group_id == "safehub-gateway"
    finally:
        await _close(consumer)


async def test_a_namespace_prefixes_topics_group_and_transactional_ids(tmp_path: Path) -> None:
    gateway = _gateway(tmp_path, namespace="bench-1", kafka_principal="admin")
    names = BusNames("bench-1")
    assert names.group == "bench-1.safehub-gateway"
    assert names.topic("feed.school-dsl.v1") == "bench-1.feed.school-dsl.v1"
    producer = gateway._new_producer(TopicPartition("bench-1.notices.police.v1", 0))
    try:
        assert producer._txn_manager.transactional_id.startswith("bench-1.safehub-gateway-")
        assert gateway._consumer._group_id == "bench-1.safehub-gateway"
    finally:
        await _close(producer, gateway._consumer)


async def test_health_before_running_is_not_ready(tmp_path: Path) -> None:
    gateway = _gateway(tmp_path)
    health = gateway.health()
    await _close(gateway._consumer)
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
