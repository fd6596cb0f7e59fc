"""`safehub witness serve|key`: the witness a partner agency runs (services/witness/README.md).

safehub witness serve [--host H] [--port P]   POST /add-checkpoint (C2SP tlog-witness)
safehub witness key                           print the witness's verifier key (vkey)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

__all__ = ["main", "register"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> None:
    witness = subparsers.add_parser(
        "witness", help="a C2SP tlog-witness that cosigns the hub's audit checkpoints"
    )
    actions = witness.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve POST /add-checkpoint")
    serve.add_argument("--host", default="", help="address to bind (SAFEHUB_WITNESS_HOST)")
    serve.add_argument("--port", type=int, default=0, help="port (SAFEHUB_WITNESS_PORT)")
    actions.add_parser("key", help="print the witness's verifier key (made on first use)")
    witness.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from services.cli.serving import listen_overrides, serve_app
    from services.hubkit.errors import NoteMalformed
    from services.hubkit.settings import HubSettings
    from services.witness.app import create_app, witness_verifier_key
    from services.witness.settings import WitnessSettings

    hub = HubSettings()
    if args.action == "key":
        print(witness_verifier_key(WitnessSettings(), hub).encode())
        return EXIT_OK
    settings = WitnessSettings(**listen_overrides(args))
    try:
        app = create_app(settings, hub)
    except NoteMalformed as error:
        print(f"safehub witness: error: {error.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    logging.getLogger("safehub.witness").setLevel(logging.INFO)
    logs = ", ".join(sorted(app.state.witness.logs)) or "none (set SAFEHUB_WITNESS_LOGS_FILE)"
    print(f"witness {settings.name} on {settings.host}:{settings.port}; witnessing: {logs}")
    asyncio.run(serve_app(app, hub=hub, host=settings.host, port=settings.port))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`python -m services.cli.witness ...`: the same commands without the `safehub` wrapper."""
    parser = argparse.ArgumentParser(prog="safehub")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(["witness", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
