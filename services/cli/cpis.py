"""`safehub cpis`: the CP-IS lookup (rule R13).

safehub cpis serve [--port N] [--host H]
    Runs the lookup API (default http://127.0.0.1:18206, OpenAPI page at /docs). Needs the
    local stack (`safehub stack up`: the feed-cpis-register and adapter-cpis credentials, the
    CPIS signing key) and an identity provider for tokens (`safehub adapters serve` or
    `safehub demo` run the local one on 18205).
safehub cpis token [--username ed.clinician]
    DEVELOPMENT ONLY, local identity provider only: signs a synthetic user in (authorization
    code + PKCE, as the clinician's own system would) and prints their access token, so the
    API can be tried with curl:
        TOKEN=$(safehub cpis token)
        curl -H "Authorization: Bearer $TOKEN" \\
          'http://127.0.0.1:18206/cpis/children/9990000018?setting=ED'
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import secrets
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["DEV_CLIENT_ID", "register", "serve_cpis", "sign_in"]

# The local sign-in client `safehub cpis token` uses (stands in for an ED system).
DEV_CLIENT_ID = "safehub-cpis-dev"
DEV_USERNAME = "ed.clinician"


def register(subparsers: Any) -> None:
    cpis = subparsers.add_parser("cpis", help="the CP-IS lookup for unscheduled care (R13)")
    actions = cpis.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="run the lookup API (needs the stack and an identity provider)",
        description="Runs the CP-IS lookup API (default http://127.0.0.1:18206/docs).",
    )
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 18206)")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    serve.set_defaults(handler=_serve)
    token = actions.add_parser(
        "token",
        help="development: sign a synthetic user in at the local identity provider and "
        "print the access token",
    )
    token.add_argument("--username", default=DEV_USERNAME, help=f"default {DEV_USERNAME}")
    token.set_defaults(handler=_token)


async def serve_cpis(hub: Any, settings: Any, *, log_level: str = "info") -> None:
    from services.cli.serving import serve_app
    from services.cpis.bootstrap import cpis_app

    await serve_app(
        cpis_app(hub, settings),
        hub=hub,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
    )


def _serve(args: argparse.Namespace) -> int:
    from services.cli.serving import listen_overrides
    from services.cpis.errors import CpisError
    from services.cpis.settings import CpisSettings
    from services.hubkit.errors import CredentialsMissing
    from services.hubkit.settings import HubSettings

    settings = CpisSettings(**listen_overrides(args))
    print(f"cpis      http://{settings.host}:{settings.port}/docs   (stop with Ctrl-C)")
    try:
        asyncio.run(serve_cpis(HubSettings(), settings, log_level=args.log_level))
    except (CredentialsMissing, CpisError) as error:
        print(f"safehub: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def sign_in(
    http: Any,
    *,
    issuer: str,
    client_id: str,
    client_key: Any,
    redirect_uri: str,
    username: str,
    password: str,
) -> str:
    """A person's access token from the local identity provider: the sign-in form, the
    code, and the token request authenticated with `private_key_jwt`. `http` is an
    httpx.AsyncClient that reaches the provider (keeping its cookie)."""
    from services.identity.assertions import client_assertion
    from services.identity.domain import CLIENT_ASSERTION_TYPE

    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    form = await http.get(
        f"{issuer}/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile roles",
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    txn = re.search(r'name="txn" value="([^"]+)"', form.text)
    if form.status_code != 200 or txn is None:
        raise RuntimeError(
            f"the identity provider did not show its sign-in form ({form.status_code})"
        )
    answer = await http.post(
        f"{issuer}/authorize",
        data={"txn": txn.group(1), "username": username, "password": password},
    )
    query = parse_qs(urlsplit(answer.headers.get("location", "")).query)
    if answer.status_code != 303 or query.get("state") != [state] or "code" not in query:
        raise RuntimeError(f"sign-in as {username} failed ({answer.status_code})")
    token = await http.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion(
                key=client_key, client_id=client_id, token_endpoint=f"{issuer}/token"
            ),
        },
    )
    if token.status_code != 200:
        raise RuntimeError(f"the token request failed ({token.status_code}): {token.text}")
    access_token: str = token.json()["access_token"]
    return access_token


def _token(args: argparse.Namespace) -> int:
    import httpx

    from services.cpis.settings import CpisSettings
    from services.hubkit.jwt_keys import load_key
    from services.hubkit.settings import HubSettings
    from services.hubkit.tls import http_client
    from services.identity.clients import ensure_signin_client
    from services.identity.settings import IdentitySettings
    from services.identity.users import (
        DEFAULT_USERS_FILE,
        UserDirectory,
        load_dev_passwords,
        provision_credentials,
    )

    hub, identity, cpis = HubSettings(), IdentitySettings(), CpisSettings()
    if identity.issuer != cpis.token_issuer:
        print(
            "safehub: `cpis token` signs in at the local identity provider only; get tokens "
            f"for {cpis.token_issuer} from that provider",
            file=sys.stderr,
        )
        return 1
    state_dir = identity.resolved_state_dir(hub.data_dir)
    key_path = hub.data_dir / "cpis" / f"{DEV_CLIENT_ID}.pem"
    redirect_uri = f"http://{cpis.host}:{cpis.port}/dev/callback"
    ensure_signin_client(
        state_dir=state_dir,
        private_key_path=key_path,
        client_id=DEV_CLIENT_ID,
        agency="HEALTH",
        redirect_uris=(redirect_uri,),
        resources=(cpis.token_audience,),
    )
    provision_credentials(state_dir, UserDirectory.load(identity.users_file or DEFAULT_USERS_FILE))
    password = load_dev_passwords(state_dir).get(args.username)
    if password is None:
        print(f"safehub: no synthetic user {args.username!r}", file=sys.stderr)
        return 1

    async def fetch() -> str:
        async with http_client(hub, timeout=15) as http:
            return await sign_in(
                http,
                issuer=identity.issuer,
                client_id=DEV_CLIENT_ID,
                client_key=load_key(key_path),
                redirect_uri=redirect_uri,
                username=args.username,
                password=password,
            )

    try:
        print(asyncio.run(fetch()))
    except (httpx.HTTPError, RuntimeError) as error:
        print(
            f"safehub: {error}; is the identity provider running (`safehub adapters serve` "
            "or `safehub demo`)?",
            file=sys.stderr,
        )
        return 1
    return 0
