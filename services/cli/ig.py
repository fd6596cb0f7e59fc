"""`safehub ig`: an information governance officer's command line for the audit IG API.

safehub ig login [--issuer URL]
    Signs you in with the device authorization grant (RFC 8628): prints a link and a code,
    you open the link in a browser, sign in and approve; the command then stores a
    10-minute access token for the audit IG API (audience safehub-audit, your roles) in
    <data_dir>/ig/token.json (0600). With the local identity provider (the default issuer),
    it registers its public client `safehub-ig-cli` there first.
safehub ig token
    Prints the stored token, for curl: `curl -H "Authorization: Bearer $(safehub ig token)"
    http://127.0.0.1:18310/v1/record-of-processing`. Exit 2 when there is none or it expired.
safehub ig report --child KEY [--html] [--api URL]
    The subject access report for one child (by its pseudonymous key), as JSON or the page.

Exit status: 0 done; 2 not signed in, sign-in failed, or the API refused (the reason printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "IG_CLI_CLIENT_ID",
    "default_api_url",
    "register",
    "register_ig_clients",
    "stored_token",
    "token_path",
]

IG_CLI_CLIENT_ID = "safehub-ig-cli"
EXIT_OK = 0
EXIT_FAILED = 2
# A token this close to its end is treated as expired: a request sent now may arrive late.
_EXPIRY_MARGIN_S = 15


def register(subparsers: Any) -> None:
    ig = subparsers.add_parser(
        "ig", help="information governance: sign in to the audit IG API and query it"
    )
    actions = ig.add_subparsers(dest="ig_action", required=True, metavar="ACTION")
    login = actions.add_parser(
        "login", help="sign in in a browser (device code); stores a 10-minute token"
    )
    login.add_argument(
        "--issuer",
        default=None,
        help="the identity provider (default the audit API's token issuer, "
        "SAFEHUB_AUDIT_TOKEN_ISSUER, itself by default the local one)",
    )
    actions.add_parser("token", help="print the stored access token (for curl)")
    report = actions.add_parser("report", help="a child's subject access report")
    report.add_argument("--child", required=True, help="the child's pseudonymous key")
    report.add_argument("--html", action="store_true", help="the page instead of JSON")
    report.add_argument("--api", default=None, help="the IG API (default from settings)")
    for parser in (login, actions.choices["token"], report):
        parser.set_defaults(handler=run)


def token_path(data_dir: Path) -> Path:
    return data_dir / "ig" / "token.json"


def stored_token(path: Path, *, now: float) -> str | None:
    """The stored access token while it is still valid; None otherwise."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict):
        return None
    token, expires_at = saved.get("access_token"), saved.get("expires_at")
    if not isinstance(token, str) or not isinstance(expires_at, int | float):
        return None
    return token if expires_at - _EXPIRY_MARGIN_S > now else None


def run(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings

    hub = HubSettings()
    if args.ig_action == "login":
        return asyncio.run(_login(hub, issuer=args.issuer))
    token = stored_token(token_path(hub.data_dir), now=time.time())
    if token is None:
        print(
            "safehub ig: not signed in, or the sign-in expired: run `safehub ig login`",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if args.ig_action == "token":
        print(token)
        return EXIT_OK
    return asyncio.run(_report(hub, token, child=args.child, html=args.html, api=args.api))


def register_ig_clients(hub: Any, audit: Any) -> None:
    """With the local identity provider (the audit API's token issuer), register the IG
    officer's two ways in there (idempotent; another provider's administrator registers them
    their own way): this CLI's public device-grant client and the IG API's browser sign-in
    client (ig_session.py: authorization code + PKCE, private_key_jwt with its key); and the
    audit service's own client for the child index's search (`audit-childindex`, client
    credentials, scopes children:search and children:profile, private_key_jwt:
    child_lookup.py), as the console's."""
    from services.cli.hub_clients import registers_locally
    from services.identity.settings import IdentitySettings

    identity = IdentitySettings()
    if identity.issuer != audit.token_issuer or not registers_locally(identity.issuer):
        # Another IdP, or the hub's in another pod: registered there by its administrator
        # (`safehub identity clients render`), never into a state dir on this disk.
        return
    register_ig_clients_at(identity.resolved_state_dir(hub.data_dir), hub, audit)


def register_ig_clients_at(state_dir: Path, hub: Any, audit: Any) -> None:
    """The IG clients (register_ig_clients) in the identity provider kept in `state_dir`."""
    from services.audit.child_lookup import CLIENT_ID, SCOPES, ChildLookupSettings
    from services.identity.clients import (
        ensure_device_client,
        ensure_service_client,
        ensure_signin_client,
    )

    ensure_device_client(
        state_dir=state_dir,
        client_id=IG_CLI_CLIENT_ID,
        agency="IG",
        resources=(audit.token_audience,),
    )
    ensure_signin_client(
        state_dir=state_dir,
        private_key_path=audit.resolved_signin_client_key(hub),
        client_id=audit.signin_client_id,
        agency="IG",
        redirect_uris=(audit.signin_redirect_uri,),
        resources=(audit.token_audience,),
    )
    ensure_service_client(
        state_dir=state_dir,
        private_key_path=ChildLookupSettings().resolved_key_path(hub),
        client_id=CLIENT_ID,
        agency="IG",
        scopes=SCOPES,
    )
    # The retention job's own client (issue 18, `safehub erasure`), owned by IG too.
    from services.cli.erasure_job import ErasureJobSettings, register_erasure_client

    register_erasure_client(state_dir, ErasureJobSettings().resolved_key_path(hub.data_dir))


async def _login(hub: Any, *, issuer: str | None) -> int:
    from services.audit.errors import TokenIssuerMissing
    from services.audit.settings import AuditSettings
    from services.hubkit.device_signin import (
        DeviceSignInFailed,
        poll_for_token,
        start_device_signin,
    )
    from services.hubkit.private_files import write_private
    from services.hubkit.tls import http_client

    audit = AuditSettings()
    try:
        chosen = (issuer or audit.resolved_token_issuer()).rstrip("/")
    except TokenIssuerMissing as error:
        print(f"safehub ig: {error.reason}", file=sys.stderr)
        return EXIT_FAILED
    if issuer is None:
        register_ig_clients(hub, audit)
    try:
        async with http_client(hub, timeout=10) as http:
            code = await start_device_signin(
                http, issuer=chosen, client_id=IG_CLI_CLIENT_ID, resource=audit.token_audience
            )
            print(
                f"To sign in, open {code.verification_uri_complete or code.verification_uri}\n"
                f"and check it shows the code {code.user_code} (it expires in "
                f"{int(code.expires_at - time.time()) // 60} minutes). Waiting for approval...",
                flush=True,
            )
            token = await poll_for_token(http, code, client_id=IG_CLI_CLIENT_ID)
    except DeviceSignInFailed as error:
        print(f"safehub ig: sign-in failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    path = token_path(hub.data_dir)
    write_private(
        path,
        json.dumps(
            {"access_token": token.access_token, "expires_at": token.expires_at, "issuer": chosen}
        ),
    )
    until = time.strftime("%H:%M", time.localtime(token.expires_at))
    print(f"signed in until {until}; token in {path} (readable only by you)")
    return EXIT_OK


def default_api_url(hub: Any) -> str:
    from services.audit.settings import AuditSettings
    from services.hubkit.tls import server_tls_options

    audit = AuditSettings()
    scheme = "https" if server_tls_options(hub) else "http"
    return f"{scheme}://{audit.api_host}:{audit.api_port}"


async def _report(hub: Any, token: str, *, child: str, html: bool, api: str | None) -> int:
    import httpx

    from services.hubkit.tls import http_client

    base = (api or default_api_url(hub)).rstrip("/")
    suffix = ".html" if html else ""
    url = f"{base}/v1/subjects/{child}/access-report{suffix}"
    try:
        async with http_client(hub, timeout=30) as http:
            answer = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as error:
        print(
            f"safehub ig: cannot reach the IG API at {base} ({type(error).__name__}); is it "
            "running (`safehub demo` or `safehub audit api`)?",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if answer.status_code != 200:
        try:
            detail = answer.json().get("detail", answer.text)
        except ValueError:
            detail = answer.text
        hint = "; run `safehub ig login`" if answer.status_code == 401 else ""
        print(
            f"safehub ig: the IG API answered {answer.status_code}: {detail}{hint}", file=sys.stderr
        )
        return EXIT_FAILED
    sys.stdout.write(answer.text if html else json.dumps(answer.json(), indent=2) + "\n")
    return EXIT_OK
