"""`safehub gateway run`: the policy gateway as a long-running service."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ensure_gateway_index_client", "register"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def register(subparsers: Any) -> None:
    gateway = subparsers.add_parser(
        "gateway", help="run the policy gateway (consume notices, decide, deliver)"
    )
    actions = gateway.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run", help="consume until SIGTERM/SIGINT; /healthz, /readyz, /metrics alongside"
    )
    run.add_argument(
        "--engine", choices=["opa", "regopy"], default=None, help="policy engine (default: opa)"
    )
    run.add_argument("--http-host", default=None, help="ops endpoints address (127.0.0.1)")
    run.add_argument("--http-port", type=int, default=None, help="ops endpoints port (18300)")
    run.add_argument(
        "--no-identity",
        action="store_true",
        help="do not register the gateway's child index client with the local identity "
        "provider (another IdP issues its tokens: SAFEHUB_GATEWAY_TOKEN_ENDPOINT)",
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from services.gateway.bootstrap import serve_gateway
    from services.gateway.logs import configure_json_logging
    from services.gateway.settings import GatewaySettings
    from services.hubkit.settings import HubSettings

    overrides = {
        key: value
        for key, value in (
            ("engine", args.engine),
            ("http_host", args.http_host),
            ("http_port", args.http_port),
        )
        if value is not None
    }
    settings = GatewaySettings(**overrides)
    hub = HubSettings()
    if not args.no_identity:
        ensure_gateway_index_client(hub, settings)
    configure_json_logging()
    asyncio.run(serve_gateway(hub, settings))
    return 0


def ensure_gateway_index_client(hub: Any, settings: Any) -> None:
    """Register the gateway's own client for the child index with the local identity
    provider (idempotent), as the adapters' clients are (services/cli/adapters.py): client
    `gateway-childindex`, scope children:context, its private key where the gateway looks
    for it (GatewaySettings.child_index_client_key). Only for a token endpoint on this
    machine: a real IdP registers the client its own way."""
    from services.hubkit.auth import CHILD_CONTEXT_SCOPE
    from services.identity.clients import ensure_service_client
    from services.identity.settings import IdentitySettings

    if urlsplit(settings.token_endpoint).hostname not in _LOOPBACK:
        return
    ensure_service_client(
        state_dir=IdentitySettings().resolved_state_dir(hub.data_dir),
        private_key_path=settings.resolved_child_index_client_key(hub.data_dir),
        client_id=settings.child_index_client_id,
        agency="MASH",
        scopes=(CHILD_CONTEXT_SCOPE,),
    )
