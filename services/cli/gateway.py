"""`safehub gateway run`: the policy gateway as a long-running service."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

__all__ = ["register"]


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
    configure_json_logging()
    asyncio.run(serve_gateway(HubSettings(), settings))
    return 0
