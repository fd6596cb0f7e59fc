"""`safehub identity`: the local OAuth2 / OIDC identity provider on its own.

safehub identity serve [--host H] [--port N]
    Runs the identity provider (default http://127.0.0.1:18205; discovery at
    /.well-known/openid-configuration). Its issuer key, client registrations, password hashes
    and used client assertions live under the identity state dir (default
    <data_dir>/identity). `safehub adapters serve` and the demo run it in their own process;
    this command runs it as a service of its own (as deploy/k8s/base/identity.yaml does).

safehub identity clients render [--keys DIR] [--json] [--name NAME]
    Prints the declared client registry of the hub's own services (public keys only) as a
    ConfigMap for the provider's SAFEHUB_IDENTITY_CLIENTS_FILE (services/identity/
    client_registry.py): ids, grants, scopes, APIs and redirect URIs from the services'
    settings in this environment, each key from <DIR>/<client_id>.pem (private or public
    PEM; default: where its service reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
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
    clients = actions.add_parser("clients", help="the declared client registry (a cluster's)")
    client_actions = clients.add_subparsers(dest="clients_action", required=True, metavar="ACTION")
    render = client_actions.add_parser(
        "render",
        help="print the hub's clients as a ConfigMap for SAFEHUB_IDENTITY_CLIENTS_FILE",
        description="Renders the registry of the hub's own OAuth clients from their settings "
        "(set the production environment first: redirect URIs follow each service's public "
        "URL) and their keys, public halves only.",
    )
    render.add_argument(
        "--keys",
        type=Path,
        default=None,
        help="folder of <client_id>.pem keys (default: where each service reads its key)",
    )
    render.add_argument("--json", action="store_true", help="the registry alone, as JSON")
    render.add_argument("--name", default="identity-clients", help="the ConfigMap's name")
    render.set_defaults(handler=_render_clients)


def _serve(args: argparse.Namespace) -> int:
    from services.cli.serving import serve_app
    from services.hubkit.settings import HubSettings
    from services.identity.app import create_app
    from services.identity.errors import ClientRegistryInvalid
    from services.identity.settings import IdentitySettings

    hub = HubSettings()
    identity = IdentitySettings()
    try:
        app = create_app(hub, identity)
    except ClientRegistryInvalid as error:
        print(f"safehub identity: {error.reason}", file=sys.stderr)
        return 2
    # The issuer URL is where people and services reach it; by default it listens there too.
    issuer = urlsplit(identity.issuer)
    host = args.host or identity.host or issuer.hostname or "127.0.0.1"
    port = args.port or identity.port or issuer.port or (443 if issuer.scheme == "https" else 80)
    print(f"identity  {identity.issuer}   listening on {host}:{port}   (stop with Ctrl-C)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_app(app, hub=hub, host=host, port=port, log_level=args.log_level))
    return 0


def render_configmap(registry_json: str, *, name: str) -> str:
    """A ConfigMap holding the registry as `clients.json` (mounted for the provider)."""
    body = "".join(f"    {line}\n" if line else "\n" for line in registry_json.splitlines())
    return (
        "# Rendered by `safehub identity clients render`: the hub's OAuth clients, public keys\n"
        "# only. The identity provider loads it at start (SAFEHUB_IDENTITY_CLIENTS_FILE).\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  labels:\n"
        "    app.kubernetes.io/name: identity\n"
        "    app.kubernetes.io/part-of: safehub\n"
        "data:\n"
        "  clients.json: |\n"
        f"{body}"
    )


def _render_clients(args: argparse.Namespace) -> int:
    from joserfc.errors import JoseError

    from services.cli.hub_clients import hub_clients, key_file, missing_keys, registration_for
    from services.hubkit.jwt_keys import load_key, public_jwks
    from services.hubkit.settings import HubSettings
    from services.identity.client_registry import render_client_registry

    clients = hub_clients(HubSettings())
    missing = missing_keys(clients, args.keys)
    if missing:
        print(
            "safehub identity: no key for " + "; ".join(missing) + " (each client's key, as its "
            "service's Secret holds it; pass --keys DIR with <client_id>.pem files)",
            file=sys.stderr,
        )
        return 2
    registrations = []
    for client in clients:
        path = key_file(client, args.keys)
        try:
            jwks = public_jwks(load_key(path)) if path is not None else {"keys": []}
        except (ValueError, JoseError) as error:
            print(f"safehub identity: {path} is not an EC P-256 key ({error})", file=sys.stderr)
            return 2
        registrations.append(registration_for(client, jwks))
    registry = render_client_registry(registrations)
    print(registry if args.json else render_configmap(registry, name=args.name), end="")
    return 0
