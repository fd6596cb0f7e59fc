"""The real thing, in process: the identity app, the child index and the four adapter apps,
wired to the real broker (their lifespans start real idempotent producers), called through
httpx's ASGI transport. Adapters fetch the JWKS and their own token from the identity app,
and children's keys from the child index, over those transports too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI

from services.adapters.childrens_services.app import create_app as csc_app
from services.adapters.health.app import create_app as health_app
from services.adapters.ingest.settings import AdapterSettings
from services.adapters.police.app import create_app as police_app
from services.adapters.voluntary_sector.app import create_app as vcs_app
from services.childindex.domain import LinkageKeyer
from services.childindex.secret import provision_linkage_secret
from services.hubkit.auth import JwksSource, RemoteJwks
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope, provision_keys
from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology
from services.identity.app import create_app as identity_app
from services.identity.clients import RegisteredClient
from services.identity.settings import IdentitySettings
from services.synthetic.native import NativeRecords
from tests.adapters.clients import (
    adapter_outbound,
    adapter_settings,
    client_credentials_token,
    register_adapter_index_clients,
    register_agency_clients,
    start_child_index,
)
from tests.adapters.helpers import AGENCIES
from tests.factories import FIXED_NOW
from tests.integration.bus import TopicReader

# A fresh reference space per test session: the broker outlives test runs.
RUN = f"T{time.time_ns() % 10**10:010d}"
READER = "gateway"  # least privilege that can read every notice topic

FACTORIES: dict[str, Callable[..., FastAPI]] = {
    "POLICE": police_app,
    "HEALTH": health_app,
    "CHILDRENS_SERVICES": csc_app,
    "VOLUNTARY_SECTOR": vcs_app,
}


@dataclass
class Hub:
    """Handles on the running apps, the broker and the keys a test needs."""

    settings: HubSettings
    topology: Topology
    identity_settings: IdentitySettings
    identity: httpx.AsyncClient
    clients: dict[str, RegisteredClient]
    adapters: dict[str, httpx.AsyncClient]
    catalog: SchemaCatalog
    keyer: LinkageKeyer
    """The child index's keying with the stack's secret: what notices must carry."""
    state_dir: Path
    jwks: JwksSource
    outbound: httpx.AsyncClient
    """What the adapters reach the identity app and the child index with."""
    _tokens: dict[str, str] = field(default_factory=dict)

    async def token(self, agency: str) -> str:
        if agency not in self._tokens:
            self._tokens[agency] = await client_credentials_token(
                self.identity, self.identity_settings, self.clients[agency]
            )
        return self._tokens[agency]

    async def headers(self, agency: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(agency)}"}

    async def reader(self, agency: str) -> TopicReader:
        topic = self.topology.agency(agency).topic
        return await TopicReader(self.settings, READER, topic).start()

    def open(self, record: ConsumerRecord) -> tuple[dict[str, Any], str]:
        """Verify the signature and decode the notice; returns (notice, signer)."""
        verified = open_envelope(
            self.catalog, record.value, KeyDirectory.load(self.settings.keys_dir / "trusted")
        )
        notice = self.catalog.decode(verified.payload, MessageType.NOTICE)
        notice["notice_id"] = str(notice["notice_id"])  # the uuid logical type decodes to UUID
        return notice, verified.owner

    def records(self, seed: int) -> NativeRecords:
        return NativeRecords(seed=seed, now=FIXED_NOW, run=RUN)

    def adapter_settings(self) -> AdapterSettings:
        return adapter_settings(self.state_dir, self.identity_settings)


def notice_ids(hub: Hub, records: list[ConsumerRecord]) -> list[str]:
    return [str(hub.open(r)[0]["notice_id"]) for r in records]


@pytest.fixture(scope="session")
async def hub(
    stack: HubSettings, topology: Topology, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hub]:
    state = tmp_path_factory.mktemp("adapters")
    async with running_hub(stack, topology, state, issuer="http://identity.test") as started:
        yield started


@asynccontextmanager
async def running_hub(
    settings: HubSettings, topology: Topology, state: Path, *, issuer: str
) -> AsyncIterator[Hub]:
    """The identity app (issuer `issuer`, its state under `state`), the child index and the
    four adapters, in process, wired to the real broker."""
    provision_keys(settings.keys_dir, [topology.agency(a).principal for a in AGENCIES])
    provision_linkage_secret(settings.keys_dir / "linkage.secret")
    identity_settings = IdentitySettings(issuer=issuer, state_dir=state / "identity")
    clients = register_agency_clients(state, AGENCIES, suffix="it")
    async with AsyncExitStack() as stack_:
        identity = identity_app(settings, identity_settings)
        await stack_.enter_async_context(identity.router.lifespan_context(identity))
        identity_http = await stack_.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=identity), base_url=identity_settings.issuer
            )
        )
        jwks = RemoteJwks(identity_settings.jwks_uri, client=identity_http)
        adapters_settings = adapter_settings(state, identity_settings)
        register_adapter_index_clients(state, AGENCIES, adapters_settings)
        index = await start_child_index(settings, identity_settings, jwks, stack_)
        outbound = await stack_.enter_async_context(
            adapter_outbound(identity, identity_settings, index)
        )
        adapters: dict[str, httpx.AsyncClient] = {}
        for agency, factory in FACTORIES.items():
            app = factory(settings, adapters_settings, jwks=jwks, http=outbound)
            await stack_.enter_async_context(app.router.lifespan_context(app))
            adapters[agency] = await stack_.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url=f"http://{agency.lower()}.test",
                    timeout=60,
                )
            )
        yield Hub(
            settings=settings,
            topology=topology,
            identity_settings=identity_settings,
            identity=identity_http,
            clients=clients,
            adapters=adapters,
            catalog=SchemaCatalog(settings.schemas_dir),
            keyer=LinkageKeyer((settings.keys_dir / "linkage.secret").read_bytes()),
            state_dir=state,
            jwks=jwks,
            outbound=outbound,
        )
