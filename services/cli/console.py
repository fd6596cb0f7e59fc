"""`safehub console`: the MASH triage console.

safehub console serve [--port N] [--host H]
    Runs the console (default http://127.0.0.1:18400). Needs the local stack (`safehub
    stack up`) and an identity provider: `safehub adapters serve` runs the local one on
    18205. With the local provider, the console registers itself as its OIDC client
    (authorization code + PKCE, private_key_jwt) on start, and its own client for the child
    index's review queue and search (`console-childindex`, client credentials).
safehub console users
    Lists the synthetic sign-in users and says which file (0600) holds their generated
    development passwords; the passwords themselves are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

__all__ = ["print_users", "register", "register_local_client", "serve_console"]


def register(subparsers: Any) -> None:
    console = subparsers.add_parser("console", help="the MASH triage console (web app)")
    actions = console.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="run the console (needs the stack and an identity provider)",
        description="Runs the MASH triage console. Sign-in users: `safehub console users`.",
    )
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 18400)")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    serve.set_defaults(handler=_serve)
    users = actions.add_parser(
        "users", help="list the synthetic sign-in users and where their passwords are"
    )
    users.set_defaults(handler=_users)


def register_local_client(hub: Any, console: Any) -> None:
    """Register the console with the LOCAL identity provider's state (development only): its
    sign-in client, and its own client-credentials client for the child index's review queue
    and search (`console-childindex`, scopes ConsoleSettings.child_index_scopes: children:review,
    children:keys and children:search; its private key where
    ConsoleSettings.child_index_client_key says)."""
    from services.cli.hub_clients import registers_locally
    from services.identity.clients import ensure_service_client, ensure_signin_client
    from services.identity.settings import IdentitySettings

    identity = IdentitySettings()
    if identity.issuer != console.issuer or not registers_locally(console.issuer):
        # Another IdP, or one in another pod: its administrator registers the console there
        # (`safehub identity clients render` for the hub's own provider).
        return
    state_dir = identity.resolved_state_dir(hub.data_dir)
    ensure_signin_client(
        state_dir=state_dir,
        private_key_path=console.resolved_client_key_path(hub.data_dir),
        client_id=console.client_id,
        agency="MASH",
        redirect_uris=(console.redirect_uri,),
        resources=(console.token_audience,),
    )
    ensure_service_client(
        state_dir=state_dir,
        private_key_path=console.resolved_child_index_client_key(hub.data_dir),
        client_id=console.child_index_client_id,
        agency="MASH",
        scopes=tuple(console.child_index_scopes),
    )


def print_users(hub: Any, *, indent: str = "  ") -> None:
    from services.identity.settings import IdentitySettings
    from services.identity.users import (
        DEFAULT_USERS_FILE,
        UserDirectory,
        provision_credentials,
    )

    identity = IdentitySettings()
    state_dir = identity.resolved_state_dir(hub.data_dir)
    directory = UserDirectory.load(identity.users_file or DEFAULT_USERS_FILE)
    # Passwords never go to stdout (terminal scrollback, CI logs, screen shares): the
    # developer reads them from the handout file, which only they can read.
    path = provision_credentials(state_dir, directory)
    print(f"{indent}Synthetic sign-in users (passwords: in {path}, readable only by you):")
    for user in directory:
        print(f"{indent}  {user.username:<20} {', '.join(user.roles)}")


async def serve_console(hub: Any, console: Any, *, log_level: str = "info") -> None:
    from services.cli.serving import serve_app
    from services.console.app import create_app

    await serve_app(
        create_app(hub, console),
        hub=hub,
        host=console.host,
        port=console.port,
        log_level=log_level,
        timeout_graceful_shutdown=3,  # open pages hold event streams; do not wait on them
    )


def _serve(args: argparse.Namespace) -> int:
    from services.cli.hub_clients import registers_locally
    from services.cli.serving import listen_overrides
    from services.console.settings import ConsoleSettings
    from services.hubkit.errors import CredentialsMissing, StoreKeyInvalid
    from services.hubkit.settings import HubSettings

    hub = HubSettings()
    overrides = listen_overrides(args)
    if args.port:
        overrides["base_url"] = f"http://{args.host or '127.0.0.1'}:{args.port}"
    console = ConsoleSettings(**overrides)
    register_local_client(hub, console)
    print(f"console   {console.base_url}   (stop with Ctrl-C)")
    if registers_locally(console.issuer):  # the synthetic users live with the local provider
        print_users(hub)
    try:
        asyncio.run(serve_console(hub, console, log_level=args.log_level))
    except CredentialsMissing as error:
        print(f"safehub: {error}; run `safehub stack up` first", file=sys.stderr)
        return 1
    except StoreKeyInvalid as error:  # the console's store key file (issue 18)
        print(f"safehub: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _users(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings

    print_users(HubSettings(), indent="")
    return 0
