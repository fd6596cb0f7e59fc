"""`safehub adapters`: run the agency adapters and the local identity service; manage clients.

safehub adapters serve [--agency X] [--port N] [--no-identity] [--no-child-index]
    Runs the adapters (all four, or one), the identity service and the child index with
    uvicorn on loopback: police 18201, health 18202, children's services 18203, voluntary
    sector 18204, identity 18205, child index 18207. Each adapter asks the child index for
    children's keys with its own client (adapter-<agency>, scope children:resolve,
    registered here with the local identity service); the adapters never read the linkage
    secret. Needs the local stack (`safehub stack up`).
safehub adapters client-credential --agency X [--client-id ID] [--out DIR]
    Registers a client for an integrator: creates its key pair, stores the public key
    with the identity service, writes the private key (0600) and prints where it is.
safehub adapters client-assertion --client-id ID [--key FILE]
    Prints a fresh, signed client assertion (valid 2 minutes, single use) for the token
    request, e.g. in a curl example.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uvicorn

from services.hubkit.http_server import SignalFreeServer

__all__ = ["ensure_adapter_index_clients", "main", "register"]

_AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")


def register(subparsers: Any) -> None:
    adapters = subparsers.add_parser(
        "adapters", help="run the agency adapters + local identity service; manage clients"
    )
    actions = adapters.add_subparsers(dest="action", required=True, metavar="ACTION")

    serve = actions.add_parser(
        "serve",
        help="run adapters, the identity service and the child index on loopback",
        description=(
            "Ports: POLICE 18201, HEALTH 18202, CHILDRENS_SERVICES 18203, VOLUNTARY_SECTOR "
            "18204, identity 18205, child index 18207. Needs the local stack: `safehub stack "
            "up`."
        ),
    )
    serve.add_argument("--agency", choices=_AGENCIES, help="run only this agency's adapter")
    serve.add_argument("--port", type=int, help="port for the single adapter (needs --agency)")
    serve.add_argument(
        "--no-identity", action="store_true", help="do not run the local identity service"
    )
    serve.add_argument(
        "--no-child-index",
        action="store_true",
        help="do not run the child index here (it runs elsewhere: SAFEHUB_ADAPTER_CHILD_INDEX_URL)",
    )
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    serve.set_defaults(handler=_serve)

    credential = actions.add_parser(
        "client-credential", help="register an integrator's client and create its key pair"
    )
    credential.add_argument("--agency", required=True, choices=_AGENCIES)
    credential.add_argument("--client-id", help="choose the client id (default: generated)")
    credential.add_argument(
        "--out", type=Path, help="where to write the private key (default <data_dir>/integrators)"
    )
    credential.set_defaults(handler=_client_credential)

    assertion = actions.add_parser(
        "client-assertion", help="print a signed client assertion for the token request"
    )
    assertion.add_argument("--client-id", required=True)
    assertion.add_argument(
        "--key", type=Path, help="private key file (default <data_dir>/integrators/<id>.pem)"
    )
    assertion.set_defaults(handler=_client_assertion)


def _serve(args: argparse.Namespace) -> int:
    if args.port is not None and args.agency is None:
        print("safehub: --port needs --agency (each adapter has its own port)", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_all(args))
    except _StartupFailed as failed:
        print(f"safehub: {failed}", file=sys.stderr)
        return 1
    return 0


class _StartupFailed(Exception):
    pass


async def _serve_all(args: argparse.Namespace) -> None:
    from services.adapters.childrens_services.app import create_app as csc_app
    from services.adapters.health.app import create_app as health_app
    from services.adapters.ingest.settings import ADAPTER_PORTS, IDENTITY_PORT, AdapterSettings
    from services.adapters.police.app import create_app as police_app
    from services.adapters.voluntary_sector.app import create_app as vcs_app
    from services.childindex.bootstrap import childindex_app
    from services.childindex.secret import provision_linkage_secret
    from services.childindex.settings import ChildIndexSettings
    from services.hubkit.envelope import provision_keys
    from services.hubkit.settings import HubSettings
    from services.hubkit.tls import server_tls_options
    from services.hubkit.topology import load_topology
    from services.identity.app import create_app as identity_app

    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    chosen = [args.agency] if args.agency else list(_AGENCIES)
    principals = [topology.agency(code).principal for code in chosen]
    # Idempotent: keys the stack has not provisioned yet are created, existing ones kept. A key
    # mounted from a Secret (read-only, as in deploy/k8s) is used as it is: provisioning would
    # touch its folder and fail on the read-only mount.
    if not all((hub.keys_dir / "private" / f"{p}.pem").is_file() for p in principals):
        provision_keys(hub.keys_dir, principals)
    if not args.no_identity:
        ensure_adapter_index_clients(hub, chosen)

    factories = {
        "POLICE": police_app,
        "HEALTH": health_app,
        "CHILDRENS_SERVICES": csc_app,
        "VOLUNTARY_SECTOR": vcs_app,
    }
    apps: list[tuple[str, Any, int]] = []
    if not args.no_identity:
        apps.append(("identity", identity_app(hub), IDENTITY_PORT))
    if not args.no_child_index:
        index = ChildIndexSettings()
        # The index's own secret, read by the index's lifespan only (the adapters' apps
        # never see it; in production the index runs as its own service).
        provision_linkage_secret(index.resolved_secret_path(hub.keys_dir))
        apps.append(("child index", childindex_app(hub, index), index.port))
    adapter = AdapterSettings()
    for code in chosen:
        # A single adapter may take its port from the settings (one adapter per pod).
        configured = adapter.port if args.agency else None
        port = args.port if args.port is not None else configured or ADAPTER_PORTS[code]
        apps.append((code, factories[code](hub), port))

    servers = [
        SignalFreeServer(
            uvicorn.Config(
                app,
                host=adapter.host,
                port=port,
                log_level=args.log_level,
                lifespan="on",
                **server_tls_options(hub),
            )
        )
        for _, app, port in apps
    ]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _stop_all, servers)
    scheme = "https" if server_tls_options(hub) else "http"
    for name, _, port in apps:
        print(f"{name:<20} {scheme}://{adapter.host}:{port}  (OpenAPI: /docs, /openapi.json)")
    results = await asyncio.gather(*(s.serve() for s in servers), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        _stop_all(servers)
        raise _StartupFailed(
            f"a service failed ({type(failures[0]).__name__}: {failures[0]}); is the stack up? "
            "run `safehub stack up`"
        )


def ensure_adapter_index_clients(hub: Any, agencies: Iterable[str]) -> None:
    """Register each adapter's own client for the child index with the local identity
    service (idempotent): client adapter-<agency>, scope children:resolve (and
    audit:retractions, for a retraction's receipts from the audit service), its private key
    where the adapter looks for it (AdapterSettings.child_index_client_key)."""
    from services.adapters.ingest.settings import AdapterSettings
    from services.hubkit.auth import AUDIT_RETRACTIONS_SCOPE, RESOLVE_CHILDREN_SCOPE
    from services.identity.clients import ensure_service_client
    from services.identity.settings import IdentitySettings

    adapter = AdapterSettings()
    state_dir = IdentitySettings().resolved_state_dir(hub.data_dir)
    for agency in agencies:
        client_id = adapter.resolved_child_index_client_id(agency)
        ensure_service_client(
            state_dir=state_dir,
            private_key_path=adapter.resolved_child_index_client_key(hub.data_dir, client_id),
            client_id=client_id,
            agency=agency,
            scopes=(RESOLVE_CHILDREN_SCOPE, AUDIT_RETRACTIONS_SCOPE),
        )


def _stop_all(servers: list[Any]) -> None:
    for server in servers:
        server.should_exit = True


def _client_credential(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings
    from services.identity.clients import register_client
    from services.identity.settings import IdentitySettings

    hub = HubSettings()
    identity = IdentitySettings()
    try:
        client = register_client(
            state_dir=identity.resolved_state_dir(hub.data_dir),
            keys_out_dir=args.out or hub.data_dir / "integrators",
            agency=args.agency,
            client_id=args.client_id,
        )
    except (ValueError, FileExistsError) as error:
        print(f"safehub: cannot register the client: {error}", file=sys.stderr)
        return 1
    print(f"client_id:       {client.registration.client_id}")
    print(f"agency:          {client.registration.agency}")
    print(f"scopes:          {' '.join(client.registration.scopes)}")
    print(f"private key:     {client.private_key_path}  (keep it secret; mode 0600)")
    print(f"registration:    {client.registration_path}")
    print(f"token endpoint:  {identity.token_endpoint}  (auth method: private_key_jwt, ES256)")
    # The assertion command with the key's real path: after --out, client-assertion cannot
    # find the key at its default place without --key.
    key_option = f" --key {client.private_key_path}" if args.out else ""
    print(
        "assertion:       safehub adapters client-assertion "
        f"--client-id {client.registration.client_id}{key_option}"
    )
    return 0


def _client_assertion(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings
    from services.identity.assertions import client_assertion_from_file
    from services.identity.settings import IdentitySettings

    hub = HubSettings()
    identity = IdentitySettings()
    key = args.key or hub.data_dir / "integrators" / f"{args.client_id}.pem"
    try:
        print(
            client_assertion_from_file(
                key, client_id=args.client_id, token_endpoint=identity.token_endpoint
            )
        )
    except FileNotFoundError:
        print(f"safehub: no private key at {key}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m services.cli.adapters ...`: the same commands before `safehub` wires them."""
    parser = argparse.ArgumentParser(prog="safehub")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(["adapters", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
