"""Guards the aiokafka settings that are not optional: idempotent acks=all producers,
read_committed consumers with manual offsets (services/hubkit/bus.py)."""

import json
from pathlib import Path

import pytest

from services.hubkit.bus import consumer_options, make_consumer, make_producer, producer_options
from services.hubkit.errors import CredentialsMissing
from services.hubkit.settings import HubSettings


@pytest.fixture
def settings(tmp_path: Path) -> HubSettings:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "gateway.json").write_text(
        json.dumps({"username": "gateway", "password": "pw", "mechanism": "SCRAM-SHA-256"})
    )
    return HubSettings(data_dir=tmp_path)


def test_producers_are_idempotent_with_acks_all(settings: HubSettings) -> None:
    options = producer_options(settings, "gateway")
    assert options["enable_idempotence"] is True
    assert options["acks"] == "all"
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert "transactional_id" not in options


def test_transactional_producer_keeps_the_id_it_is_given(settings: HubSettings) -> None:
    options = producer_options(settings, "gateway", transactional_id="safehub-gateway-t-0")
    assert options["transactional_id"] == "safehub-gateway-t-0"
    assert options["enable_idempotence"] is True


def test_consumers_read_committed_with_manual_offsets(settings: HubSettings) -> None:
    options = consumer_options(settings, "gateway", group_id="g")
    assert options["enable_auto_commit"] is False
    assert options["isolation_level"] == "read_committed"


async def test_built_clients_carry_the_settings(settings: HubSettings) -> None:
    producer = make_producer(settings, "gateway", transactional_id="safehub-gateway-t-0")
    consumer = make_consumer(settings, "gateway", "t", group_id="g")
    assert producer._txn_manager is not None  # transactional, hence idempotent
    assert consumer._isolation_level == "read_committed"
    assert consumer._enable_auto_commit is False
    await consumer.stop()
    await producer.stop()


def test_missing_credentials_name_the_principal(settings: HubSettings) -> None:
    with pytest.raises(CredentialsMissing, match="adapter-police"):
        producer_options(settings, "adapter-police")
