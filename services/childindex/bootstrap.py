"""The child index's one wiring point: settings in, an app out (its FastAPI lifespan reads
the linkage secret and builds the token validator).

What it holds: the linkage secret (read once at start; nothing else in the hub reads it), its
store key (<keys_dir>/childindex/store.key, made on first start; it seals the store's personal
data, sealing.py), the identity provider's JWKS, its store (store.py: records, children,
reviews, child context) with the trained model scoring new records (matcher.py), and a
producer on `childindex.linkage.v1` as principal `childindex` that announces merges and splits
(announcer.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.childindex.announcer import LinkageAnnouncer
from services.childindex.api import IndexRuntime, install
from services.childindex.erasure_routes import install_erasure
from services.childindex.matcher import OnlineMatcher
from services.childindex.matching.thresholds import Thresholds
from services.childindex.secret import load_linkage_secret
from services.childindex.settings import ChildIndexSettings
from services.childindex.store import ChildIndexStore, LinkageEvent
from services.hubkit.auth import JwksSource, RemoteJwks, TokenValidator
from services.hubkit.bus import make_producer
from services.hubkit.child_keys import StoreKeyFile
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client
from services.hubkit.topology import CHILDINDEX_PRINCIPAL, LINKAGE_TOPIC

__all__ = ["childindex_app"]


def childindex_app(
    hub: HubSettings,
    settings: ChildIndexSettings,
    *,
    jwks: JwksSource | None = None,
    announce: bool = True,
) -> FastAPI:
    """The index app; `jwks` replaces the remote key set (tests serving the identity app
    in process); `announce=False` leaves LINKAGE_CHANGED events waiting in the store (tests
    without a broker). Nothing is read until the lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secret = load_linkage_secret(settings.resolved_secret_path(hub.keys_dir))
        store_key = StoreKeyFile(settings.resolved_store_key_path(hub.keys_dir))
        store = ChildIndexStore(
            settings.resolved_store_path(hub.data_dir),
            secret=secret,
            store_key=store_key.store_key(),
            scorer=OnlineMatcher.load(),
            thresholds=Thresholds.load(),
        )
        ready = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(store.close)
            if announce:
                await _start_announcing(stack, hub, settings, store, ready)
            source = jwks
            if source is None:
                client = http_client(hub)
                stack.push_async_callback(client.aclose)
                source = RemoteJwks(settings.resolved_jwks_url(), client=client)
            app.state.index = IndexRuntime(
                store=store,
                outbox_ready=ready,
                validator=TokenValidator(
                    jwks=source,
                    issuer=settings.token_issuer,
                    audience=settings.token_audience,
                    agency_claim=settings.agency_claim,
                ),
                settings=settings,
            )
            yield

    app = FastAPI(
        title="safehub child index",
        description=(
            "Turns the identifiers an agency adapter holds for a child into the child's "
            "pseudonymous linkage key. The hub's linkage secret lives only here. For agency "
            "adapters' own clients (OAuth2 client credentials, scope children:resolve); "
            "the token is checked before the body is read."
        ),
        version="0.1.0",
        lifespan=lifespan,
    )
    install(app)
    # The erasure job's routes (issue 18): erase, readable, retention due.
    install_erasure(app, policies_dir=hub.policies_dir)
    return app


async def _start_announcing(
    stack: contextlib.AsyncExitStack,
    hub: HubSettings,
    settings: ChildIndexSettings,
    store: ChildIndexStore,
    ready: asyncio.Event,
) -> None:
    catalog = SchemaCatalog(hub.schemas_dir)
    producers: list[AIOKafkaProducer] = []

    async def send(event: LinkageEvent) -> None:
        # Started on first use, not at start-up: resolving keys must not wait for the broker.
        if not producers:
            producer = make_producer(hub, CHILDINDEX_PRINCIPAL)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            producers.append(producer)
        value = catalog.encode(MessageType.LINKAGE_CHANGED, event.body)
        await producers[0].send_and_wait(
            LINKAGE_TOPIC, value=value, key=str(event.body["child_key"]).encode()
        )

    async def stop_producer() -> None:
        for producer in producers:
            await producer.stop()

    stack.push_async_callback(stop_producer)
    announcer = LinkageAnnouncer(
        store,
        send,
        ready=ready,
        poll_s=settings.announce_poll_s,
        alert_after_s=settings.announce_alert_after_s,
    )
    task = asyncio.create_task(announcer.run(), name="linkage-announcer")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
