"""The gateway's one wiring point: settings in, a ready Gateway out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from services.gateway.break_glass import BreakGlassDesk
from services.gateway.bus_names import BusNames
from services.gateway.child_context_client import ChildContextSource, HttpChildContext
from services.gateway.clients import KafkaTransactionalProducer, NoticeConsumer, ProducerFactory
from services.gateway.domain.break_glass import lawful_basis_of
from services.gateway.engines import DecisionEngine, OpaEngine, RegopyEngine, bundle_revision
from services.gateway.http import ops_app
from services.gateway.metrics import GatewayMetrics
from services.gateway.seen_log import SeenLog
from services.gateway.service import Gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.auth import CHILD_CONTEXT_SCOPE
from services.hubkit.break_glass import BREAK_GLASS_DATA, BreakGlassRules
from services.hubkit.bus import make_consumer, producer_options
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.http_server import OpsServer
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client, opa_auth_headers, opa_ssl_context, server_tls_options
from services.hubkit.topology import (
    BREAK_GLASS_GROUP,
    GATEWAY_PRINCIPAL,
    NOTICES_SEEN_TOPIC,
    Topology,
    load_topology,
)

__all__ = [
    "build_break_glass",
    "build_child_context",
    "build_consumer",
    "build_engine",
    "build_gateway",
    "build_producer_factory",
    "load_limits",
    "serve_gateway",
]

log = logging.getLogger("safehub.gateway")


def build_engine(hub: HubSettings, settings: GatewaySettings) -> DecisionEngine:
    if settings.engine == "regopy":
        return RegopyEngine(hub.policies_dir)
    return OpaEngine(
        hub.opa_url,
        timeout_s=settings.decision_timeout_s,
        revision=bundle_revision(hub.policies_dir),
        max_concurrency=settings.decision_concurrency,
        batch_size=settings.decision_batch,
        ssl_context=opa_ssl_context(hub),
        headers=opa_auth_headers(hub),
    )


def build_child_context(hub: HubSettings, settings: GatewaySettings) -> HttpChildContext:
    """The child index as the gateway's own client (scope children:context), over one HTTP
    client trusting the hub's CA, for the token endpoint and the index alike."""
    http = http_client(hub)
    return HttpChildContext(
        base_url=settings.child_index_url,
        http=http,
        credentials=ClientCredentials(
            http=http,
            token_endpoint=settings.token_endpoint,
            client_id=settings.child_index_client_id,
            private_key_path=settings.resolved_child_index_client_key(hub.data_dir),
            scope=CHILD_CONTEXT_SCOPE,
            timeout_s=settings.child_index_timeout_s,
        ),
        timeout_s=settings.child_index_timeout_s,
        owns_http=True,
    )


def load_limits(policies_dir: Path, topology: Topology) -> DisclosureLimits:
    """The IG ceilings, silent paths and agency contacts (CeilingsInvalid when a file cannot
    be enforced as written: the gateway does not start)."""
    limits = DisclosureLimits.load(policies_dir)
    for subscriber in topology.subscribers:
        if subscriber.role not in limits.ceilings.roles:
            # Allowed (fail closed), but an operator should know before the first notice.
            log.warning(
                "subscriber's role has no disclosure ceiling: it will receive nothing",
                extra={"subscriber_id": subscriber.subscriber_id, "role": subscriber.role},
            )
    return limits


def build_consumer(hub: HubSettings, settings: GatewaySettings) -> NoticeConsumer:
    """The gateway group's consumer: read_committed, offsets committed only in transactions."""
    consumer: NoticeConsumer = make_consumer(
        hub, settings.kafka_principal, group_id=BusNames(settings.namespace).group
    )
    return consumer


def build_producer_factory(hub: HubSettings, settings: GatewaySettings) -> ProducerFactory:
    """Per input partition, a producer with the partition's stable transactional id
    (idempotent, acks=all)."""

    def new_producer(transactional_id: str) -> KafkaTransactionalProducer:
        return KafkaTransactionalProducer(
            producer_options(hub, settings.kafka_principal, transactional_id=transactional_id)
        )

    return new_producer


def build_gateway(
    hub: HubSettings,
    settings: GatewaySettings,
    engine: DecisionEngine | None = None,
    child_context: ChildContextSource | None = None,
) -> Gateway:
    topology = load_topology(hub.policies_dir)
    catalog = SchemaCatalog(hub.schemas_dir)
    return Gateway(
        settings=settings,
        topology=topology,
        limits=load_limits(hub.policies_dir, topology),
        catalog=catalog,
        agency_keys=KeyDirectory.load(hub.keys_dir / "trusted"),
        hub_key=load_signing_key(hub.keys_dir, GATEWAY_PRINCIPAL),
        engine=engine or build_engine(hub, settings),
        child_context=child_context or build_child_context(hub, settings),
        seen_log=SeenLog(
            hub=hub,
            principal=settings.kafka_principal,
            topic=BusNames(settings.namespace).topic(NOTICES_SEEN_TOPIC),
            partitions=topology.partitions(NOTICES_SEEN_TOPIC),
            catalog=catalog,
            timeout_s=settings.seen_load_timeout_s,
        ),
        consumer=build_consumer(hub, settings),
        producer_factory=build_producer_factory(hub, settings),
    )


def build_break_glass(
    hub: HubSettings, settings: GatewaySettings, metrics: GatewayMetrics | None = None
) -> BreakGlassDesk:
    """The emergency access component (break_glass.py): its own consumer group, its own
    read of the decided notices, the IG break-glass rules (BreakGlassRulesInvalid when they
    cannot be enforced as written: the gateway does not start)."""
    topology = load_topology(hub.policies_dir)
    catalog = SchemaCatalog(hub.schemas_dir)
    names = BusNames(settings.namespace)
    data = json.loads((hub.policies_dir / BREAK_GLASS_DATA).read_text(encoding="utf-8"))
    consumer: NoticeConsumer = make_consumer(
        hub, settings.kafka_principal, group_id=names.topic(BREAK_GLASS_GROUP)
    )
    return BreakGlassDesk(
        hub=hub,
        settings=settings,
        topology=topology,
        limits=DisclosureLimits.load(hub.policies_dir),
        rules=BreakGlassRules.load(hub.policies_dir),
        lawful_basis=lawful_basis_of(data),
        catalog=catalog,
        keys=KeyDirectory.load(hub.keys_dir / "trusted"),
        hub_key=load_signing_key(hub.keys_dir, GATEWAY_PRINCIPAL),
        seen_log=SeenLog(
            hub=hub,
            principal=settings.kafka_principal,
            topic=names.topic(NOTICES_SEEN_TOPIC),
            partitions=topology.partitions(NOTICES_SEEN_TOPIC),
            catalog=catalog,
            timeout_s=settings.seen_load_timeout_s,
        ),
        consumer=consumer,
        producer_factory=build_producer_factory(hub, settings),
        metrics=metrics or GatewayMetrics(),
    )


async def serve_gateway(
    hub: HubSettings,
    settings: GatewaySettings,
    *,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Run the gateway and its ops endpoints until SIGTERM/SIGINT, then stop cleanly."""
    gateway = build_gateway(hub, settings)
    # Beside the main loop, sharing its metrics (so the ops endpoint shows its counter).
    break_glass = build_break_glass(hub, settings, gateway.metrics)
    ops = OpsServer(
        ops_app(gateway.health, gateway.metrics),
        host=settings.http_host,
        port=settings.http_port,
        tls=server_tls_options(hub),
    )
    loop = asyncio.get_running_loop()

    def stop() -> None:
        gateway.stop()
        break_glass.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    serving = asyncio.create_task(ops.serve())
    log.info(
        "ops endpoints listening",
        extra={"http": f"{settings.http_host}:{ops.port}", "engine": settings.engine},
    )
    if on_listening is not None:
        on_listening(ops.port)
    tasks = [asyncio.create_task(gateway.run()), asyncio.create_task(break_glass.run())]
    try:
        # Either ending stops both: a gateway that cannot answer emergency access requests
        # exits (and is restarted) rather than leaving them unanswered without a word.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()
        await asyncio.gather(*tasks)
    finally:
        stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        ops.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
