"""The demo's hub in one process, shared by `safehub demo` and `safehub demo --once`: every
service wired with its clients registered locally, started together, stopped together (the
real servers, broker and OPA run in `safehub demo --once` itself)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from services.adapters.ingest.settings import ADAPTER_PORTS, IDENTITY_PORT
from services.audit.settings import AuditSettings
from services.childindex.settings import ChildIndexSettings
from services.cli.demo import (
    HubNotStarted,
    HubService,
    Workers,
    decision_summary,
    hub_services,
    prepare_hub,
    serve_hub,
)
from services.cli.demo_witnesses import DEMO_WITNESS_PORTS
from services.console.settings import ConsoleSettings
from services.cpis.settings import CpisSettings
from services.gateway.metrics import GatewayMetrics
from services.gateway.settings import GatewaySettings
from services.hubkit.settings import HubSettings


@pytest.fixture(autouse=True)
def _local_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SAFEHUB_IDENTITY_ISSUER",
        "SAFEHUB_IDENTITY_STATE_DIR",
        "SAFEHUB_AUDIT_TOKEN_ISSUER",
    ):
        monkeypatch.delenv(name, raising=False)


class _Server:
    """Listens after a moment and serves until told to exit, as uvicorn's server does; or
    cannot listen, as uvicorn reports a port in use (it exits the process)."""

    def __init__(self, service: HubService, *, port_in_use: bool = False) -> None:
        self.service = service
        self.port_in_use = port_in_use
        self.started = False
        self.stopped = False
        self._exit = asyncio.Event()

    @property
    def should_exit(self) -> bool:
        return self._exit.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit.set()

    async def serve(self) -> None:
        await asyncio.sleep(0.01)
        if self.port_in_use:
            raise SystemExit(3)
        self.started = True
        await self._exit.wait()
        self.stopped = True


class _Gateway:
    def __init__(self, *, fails: bool = False) -> None:
        self.fails = fails
        self._stop = asyncio.Event()
        self.stopped = False

    async def run(self) -> None:
        if self.fails:
            raise ConnectionError("no broker")
        await self._stop.wait()
        self.stopped = True

    def stop(self) -> None:
        self._stop.set()


SERVICES = [HubService("identity", object(), 18205), HubService("police adapter", object(), 18201)]


def _servers(port_in_use: str = "") -> tuple[list[_Server], Callable[[HubService], _Server]]:
    made: list[_Server] = []

    def new_server(service: HubService) -> _Server:
        made.append(_Server(service, port_in_use=service.name == port_in_use))
        return made[-1]

    return made, new_server


async def test_the_hub_is_up_when_every_server_listens_and_stops_as_one() -> None:
    servers, new_server = _servers()
    gateway = _Gateway()
    running = await serve_hub(SERVICES, gateway, new_server=new_server)
    assert [s.service for s in servers] == SERVICES
    assert all(s.started for s in servers)
    assert running.services == tuple(SERVICES)
    assert running.ended() == []
    await running.stop()
    assert all(s.stopped for s in servers)
    assert gateway.stopped
    await running.stop()  # twice is harmless


async def test_a_server_that_cannot_listen_stops_the_rest_and_is_named() -> None:
    servers, new_server = _servers(port_in_use="police adapter")
    gateway = _Gateway()
    with pytest.raises(HubNotStarted, match=r"could not start police adapter;.*18201") as failed:
        await serve_hub(SERVICES, gateway, new_server=new_server)
    assert "identity" not in str(failed.value).split(";")[0]
    assert servers[0].stopped
    assert gateway.stopped


async def test_a_gateway_that_fails_at_start_stops_the_servers() -> None:
    servers, new_server = _servers()
    with pytest.raises(HubNotStarted, match=r"gateway \(ConnectionError\)"):
        await serve_hub(SERVICES, _Gateway(fails=True), new_server=new_server)
    assert all(s.should_exit for s in servers)


async def test_cancelled_while_starting_stops_everything() -> None:
    gateway = _Gateway()
    made: list[_Server] = []

    class _Slow(_Server):
        async def serve(self) -> None:  # never listens: the hub is still starting
            await self._exit.wait()
            self.stopped = True

    def new_server(service: HubService) -> _Server:
        made.append(_Slow(service))
        return made[-1]

    starting = asyncio.create_task(serve_hub(SERVICES, gateway, new_server=new_server))
    await asyncio.sleep(0.05)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert all(s.stopped for s in made)
    assert gateway.stopped


def test_every_service_is_wired_with_its_clients_registered_locally(tmp_path: Path) -> None:
    hub = HubSettings(data_dir=tmp_path)
    services = prepare_hub(hub)
    assert {s.name: s.port for s in services} == {
        "identity": IDENTITY_PORT,
        "police adapter": ADAPTER_PORTS["POLICE"],
        "health adapter": ADAPTER_PORTS["HEALTH"],
        "children's services adapter": ADAPTER_PORTS["CHILDRENS_SERVICES"],
        "voluntary sector adapter": ADAPTER_PORTS["VOLUNTARY_SECTOR"],
        "console": ConsoleSettings().port,
        "CP-IS lookup": CpisSettings().port,
        "child index": ChildIndexSettings().port,
        "audit IG API": AuditSettings().api_port,
        "council witness": DEMO_WITNESS_PORTS["council"],
        "police witness": DEMO_WITNESS_PORTS["police"],
    }
    assert len({s.port for s in services}) == len(services)
    clients = tmp_path / "identity" / "clients"
    scopes = {p.stem: json.loads(p.read_text())["scopes"] for p in clients.glob("*.json")}
    # The gateway asks the index for each poll's child context (fail closed without it).
    assert scopes["gateway-childindex"] == ["children:context"]
    assert GatewaySettings().resolved_child_index_client_key(tmp_path).exists()
    assert scopes["console-childindex"] == [
        "children:review",
        "children:keys",
        "children:search",
    ]
    assert "safehub-console" in scopes
    # The IG officer's ways into the audit API: the CLI's device grant, the browser sign-in.
    grants = {p.stem: json.loads(p.read_text())["grant_types"] for p in clients.glob("*.json")}
    assert grants["safehub-ig-cli"] == ["urn:ietf:params:oauth:grant-type:device_code"]
    assert grants["safehub-audit-web"] == ["authorization_code"]
    for agency in ("police", "health", "childrens-services", "voluntary-sector"):
        assert scopes[f"adapter-{agency}"] == ["children:resolve", "audit:retractions"]
    # The index's own secret, provisioned once and kept.
    secret = ChildIndexSettings().resolved_secret_path(hub.keys_dir)
    before = secret.read_bytes()
    prepare_hub(hub)
    assert secret.read_bytes() == before


def test_the_batch_summary_counts_notices_children_rejections_and_outcomes() -> None:
    def decision(notice: str, child: str, outcome: str) -> dict[str, str | None]:
        return {
            "event": "SHARING_DECISION",
            "notice_id": notice,
            "subject_linkage_key": child,
            "outcome": outcome,
            "reason_code": None,
        }

    records: list[dict[str, str | None]] = [
        decision("n1", "c1", "PERMIT"),
        decision("n1", "c1", "DENY"),
        decision("n2", "c1", "PERMIT"),
        decision("n3", "c2", "PARTIAL"),
        {
            "event": "NOTICE_REJECTED",
            "notice_id": "n4",
            "subject_linkage_key": "c3",
            "outcome": None,
            "reason_code": "DUPLICATE_NOTICE",
        },
    ]
    assert decision_summary(records) == (
        "decided 3 notices about 2 children, rejected 1 (DUPLICATE_NOTICE 1); "
        "outcomes {'DENY': 1, 'PARTIAL': 1, 'PERMIT': 2}"
    )


async def test_workers_run_and_stop_as_one_and_a_failure_stops_the_other() -> None:
    gateway, indexer = _Gateway(), _Gateway()
    workers = Workers(gateway, indexer)
    running = asyncio.create_task(workers.run())
    await asyncio.sleep(0.01)
    workers.stop()
    await running
    assert gateway.stopped
    assert indexer.stopped
    healthy = _Gateway()
    with pytest.raises(ConnectionError):
        await Workers(healthy, _Gateway(fails=True)).run()
    assert healthy.stopped


class _RunningGateway:
    """What the ops endpoints read of a running gateway."""

    def __init__(self) -> None:
        self.metrics = GatewayMetrics()

    def health(self) -> None:  # not called: the endpoints are only built here
        raise AssertionError("health read while building the services")


def _readme_demo_ports() -> dict[int, str]:
    """The ports README's "Services started by `safehub demo`" paragraph names, each with the
    words before it (ranges like 18201-18204 count every port)."""
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    start = readme.index("Services started by `safehub demo`")
    paragraph = readme[start : readme.index("\n\n", start)]
    ports: dict[int, str] = {}
    for match in re.finditer(r"(\d{5})`?(?:-`?(\d{5}))?", paragraph):
        first, last = int(match[1]), int(match[2] or match[1])
        for port in range(first, last + 1):
            ports[port] = paragraph[max(0, match.start() - 40) : match.start()]
    return ports


def test_the_readme_lists_exactly_what_the_demo_serves(tmp_path: Path) -> None:
    """Issue 21 item 7: the README listed gateway ops endpoints the demo never started."""
    services = hub_services(HubSettings(data_dir=tmp_path), _RunningGateway(), GatewaySettings())
    served = {s.port: s.name for s in services}
    assert served[GatewaySettings().http_port] == "gateway ops"
    listed = _readme_demo_ports()
    assert sorted(listed) == sorted(served), (
        f"README lists {sorted(set(listed) - set(served))} not served; "
        f"serves {sorted(set(served) - set(listed))} not listed"
    )
