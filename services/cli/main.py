"""`safehub`: the project's command line.

Each command lives in its own module exposing `register(subparsers)`, which adds a subparser
and sets `handler` (args -> exit code). Only the chosen command's module is imported, so a
quick `safehub stack status` does not pay for the gateway's imports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main"]

# name -> module with `register(subparsers)`; add new commands here.
COMMANDS: dict[str, str] = {
    "stack": "services.cli.main",  # registered below, see `register`
    "demo": "services.cli.demo",
    "adapters": "services.cli.adapters",
    "policy": "services.cli.policy",
    "audit": "services.cli.audit",
    "gateway": "services.cli.gateway",
    "console": "services.cli.console",
    "cpis": "services.cli.cpis",
    "childindex": "services.cli.childindex",
    "identity": "services.cli.identity",
    "ig": "services.cli.ig",
    "retention": "services.cli.retention",
    "erasure": "services.cli.erasure",
    "witness": "services.cli.witness",
    "feed": "services.cli.feed",
    "images": "services.cli.images",
}


def register(subparsers: Any) -> None:
    """`safehub stack up|down|status`: the local Kafka + OPA stack."""
    stack = subparsers.add_parser("stack", help="run the local Kafka + OPA stack on loopback")
    actions = stack.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="download once, start and provision (idempotent)")
    up.add_argument("--fresh", action="store_true", help="wipe Kafka state and credentials first")
    actions.add_parser("down", help="stop the processes this stack started")
    actions.add_parser("status", help="one line per component; non-zero exit if any is down")
    stack.set_defaults(handler=_stack)


def _stack(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings
    from services.stack import StackError, StackRunner

    # The runner reports connection failures itself, with context; aiokafka's own error logs
    # during broker start-up would only be noise.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    runner = StackRunner(HubSettings(), progress=lambda line: print(line, file=sys.stderr))
    try:
        if args.action == "up":
            report = runner.up(fresh=args.fresh)
            status = runner.status()
            verb = "up" if report.changed else "already up"
            print(
                f"stack {verb} in {report.total_s:.1f}s; credentials in "
                f"{runner.layout.credentials_dir}"
            )
        elif args.action == "down":
            for line in runner.down():
                print(line)
            return 0
        else:
            status = runner.status()
    except StackError as error:
        print(
            f"safehub: {error}" if not str(error).startswith("safehub:") else str(error),
            file=sys.stderr,
        )
        return 1
    for component in status.components:
        print(component.line())
    return 0 if status.healthy else 1


# Everything a safehub command writes (stores, logs, broker data, keys) holds personal data or
# secrets: readable by the service's own user only, whatever umask the shell had.
PRIVATE_UMASK = 0o077


def parser_for(args_in: Sequence[str]) -> argparse.ArgumentParser:
    """The command line parser, with only the named command's module loaded (all of them
    when none is named, so `safehub --help` lists everything)."""
    parser = argparse.ArgumentParser(prog="safehub", description="safehub command line")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = args_in[0] if args_in and args_in[0] in COMMANDS else None
    for name, module in COMMANDS.items():
        if chosen is None or chosen == name:
            importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args_in = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser_for(args_in).parse_args(args_in)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
