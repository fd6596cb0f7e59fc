"""`safehub identity`: the local OAuth2 / OIDC identity provider on its own.

safehub identity serve [--host H] [--port N]
    Runs the identity provider (default http://127.0.0.1:18205; discovery at
    /.well-known/openid-configuration). Its issuer key, client registrations, password hashes
    and used client assertions live under the identity state dir (default
    <data_dir>/identity). `safehub adapters serve` and the demo run it in their own process;
    this command runs it as a service of its own (as deploy/k8s/base/identity.yaml does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    identity = subparsers.add_parser("identity", help="the local OAuth2 / OIDC identity provider")
    actions = identity.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="run the identity provider",
        description="Runs the identity provider (default http://127.0.0.1:18205).",
    )
    serve.add_argument("--host", help="listen address (default: the issuer URL's host)")
    serve.add_argument("--port", type=int, help="port (default: the issuer URL's port)")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from services.cli.serving import serve_app
    from services.hubkit.settings import HubSettings
    from services.identity.app import create_app
    from services.identity.settings import IdentitySettings

    hub = HubSettings()
    identity = IdentitySettings()
    # The issuer URL is where people and services reach it; by default it listens there too.
    issuer = urlsplit(identity.issuer)
    host = args.host or identity.host or issuer.hostname or "127.0.0.1"
    port = args.port or identity.port or issuer.port or (443 if issuer.scheme == "https" else 80)
    print(f"identity  {identity.issuer}   listening on {host}:{port}   (stop with Ctrl-C)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_app(
                create_app(hub, identity), hub=hub, host=host, port=port, log_level=args.log_level
            )
        )
    return 0
