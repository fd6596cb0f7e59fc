"""`safehub childindex`: the child index, which owns the linkage secret and keys children.

safehub childindex serve [--host H] [--port N]
    Runs the child index (default http://127.0.0.1:18207/docs). Creates the linkage secret
    (<keys_dir>/linkage.secret, 0600) if the stack has not. Agency adapters call it with
    their own client credential (scope children:resolve; `safehub adapters serve`
    registers those locally).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

__all__ = ["register", "serve_childindex"]


def register(subparsers: Any) -> None:
    index = subparsers.add_parser(
        "childindex", help="the child index: keys children; the only holder of the secret"
    )
    actions = index.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="run the child index API (needs an identity provider for tokens)",
        description="Runs the child index API (default http://127.0.0.1:18207/docs).",
    )
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 18207)")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    serve.set_defaults(handler=_serve)


async def serve_childindex(hub: Any, settings: Any, *, log_level: str = "info") -> None:
    from services.childindex.bootstrap import childindex_app
    from services.cli.serving import serve_app

    await serve_app(
        childindex_app(hub, settings),
        hub=hub,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
    )


def _serve(args: argparse.Namespace) -> int:
    from services.childindex.errors import ChildIndexError
    from services.childindex.secret import provision_linkage_secret
    from services.childindex.settings import ChildIndexSettings
    from services.cli.serving import listen_overrides
    from services.hubkit.settings import HubSettings

    hub = HubSettings()
    settings = ChildIndexSettings(**listen_overrides(args))
    provision_linkage_secret(settings.resolved_secret_path(hub.keys_dir))
    print(f"childindex  http://{settings.host}:{settings.port}/docs   (stop with Ctrl-C)")
    try:
        asyncio.run(serve_childindex(hub, settings, log_level=args.log_level))
    except ChildIndexError as error:
        print(f"safehub: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
