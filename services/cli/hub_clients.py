"""The OAuth clients the hub's own services use, from their settings: one list for the
declared registry an operator renders (`safehub identity clients render`) and the same
clients the services register with a LOCAL provider at start (console, IG/audit, adapters,
gateway; tests/cli/unit/test_identity_clients_render.py keeps the two equal).

A service registers itself only with a provider on this machine (`registers_locally`: the
issuer's host is loopback). Anywhere else, e.g. a cluster where the issuer is the Service
`http://identity`, the provider's state dir is another pod's disk: it loads the rendered
registry instead (SAFEHUB_IDENTITY_CLIENTS_FILE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ADAPTER_AGENCIES",
    "ClientKind",
    "HubClient",
    "hub_clients",
    "key_file",
    "missing_keys",
    "registers_locally",
    "registration_for",
]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
ADAPTER_AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")
"""The agencies whose adapters a deployment runs (deploy/k8s/base/adapter-*.yaml)."""
_PERSON_SCOPES = ("openid", "profile", "roles")


def registers_locally(issuer: str) -> bool:
    """Whether a service registers its clients in the provider's state dir itself: only when
    the provider is on this machine (the local stack, the demo, tests)."""
    return urlsplit(issuer).hostname in _LOOPBACK


class ClientKind(StrEnum):
    SERVICE = "service"  # client credentials, private_key_jwt
    SIGNIN = "signin"  # authorization code + PKCE, private_key_jwt (a web app signing people in)
    DEVICE = "device"  # device grant, public client (a CLI on a person's machine)


@dataclass(frozen=True, slots=True)
class HubClient:
    client_id: str
    agency: str
    kind: ClientKind
    scopes: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    key_path: Path | None = None
    """Where its service reads the private key (None: a public client has none)."""


def hub_clients(hub: Any) -> list[HubClient]:
    """Every client of the hub's services, as their settings (from the environment) name
    them: ids, scopes, redirect URIs, APIs and key paths."""
    from services.adapters.ingest.settings import AdapterSettings
    from services.audit.child_lookup import CLIENT_ID as AUDIT_INDEX_CLIENT
    from services.audit.child_lookup import SCOPES as AUDIT_INDEX_SCOPES
    from services.audit.child_lookup import ChildLookupSettings
    from services.audit.settings import AuditSettings
    from services.cli.erasure_job import CLIENT_ID as ERASURE_CLIENT
    from services.cli.erasure_job import SCOPES as ERASURE_SCOPES
    from services.cli.erasure_job import ErasureJobSettings
    from services.cli.ig import IG_CLI_CLIENT_ID
    from services.console.settings import ConsoleSettings
    from services.gateway.settings import GatewaySettings
    from services.hubkit.auth import (
        AUDIT_RETRACTIONS_SCOPE,
        CHILD_CONTEXT_SCOPE,
        RESOLVE_CHILDREN_SCOPE,
    )

    console, audit, adapter, gateway = (
        ConsoleSettings(),
        AuditSettings(),
        AdapterSettings(),
        GatewaySettings(),
    )
    clients = [
        HubClient(
            console.client_id,
            "MASH",
            ClientKind.SIGNIN,
            redirect_uris=(console.redirect_uri,),
            resources=(console.token_audience,),
            key_path=console.resolved_client_key_path(hub.data_dir),
        ),
        HubClient(
            console.child_index_client_id,
            "MASH",
            ClientKind.SERVICE,
            scopes=tuple(console.child_index_scopes),
            key_path=console.resolved_child_index_client_key(hub.data_dir),
        ),
        HubClient(IG_CLI_CLIENT_ID, "IG", ClientKind.DEVICE, resources=(audit.token_audience,)),
        HubClient(
            audit.signin_client_id,
            "IG",
            ClientKind.SIGNIN,
            redirect_uris=(audit.signin_redirect_uri,),
            resources=(audit.token_audience,),
            key_path=audit.resolved_signin_client_key(hub),
        ),
        HubClient(
            AUDIT_INDEX_CLIENT,
            "IG",
            ClientKind.SERVICE,
            scopes=AUDIT_INDEX_SCOPES,
            key_path=ChildLookupSettings().resolved_key_path(hub),
        ),
        HubClient(
            ERASURE_CLIENT,
            "IG",
            ClientKind.SERVICE,
            scopes=ERASURE_SCOPES,
            key_path=ErasureJobSettings().resolved_key_path(hub.data_dir),
        ),
        HubClient(
            gateway.child_index_client_id,
            "MASH",
            ClientKind.SERVICE,
            scopes=(CHILD_CONTEXT_SCOPE,),
            key_path=gateway.resolved_child_index_client_key(hub.data_dir),
        ),
    ]
    for agency in ADAPTER_AGENCIES:
        client_id = adapter.resolved_child_index_client_id(agency)
        clients.append(
            HubClient(
                client_id,
                agency,
                ClientKind.SERVICE,
                scopes=(RESOLVE_CHILDREN_SCOPE, AUDIT_RETRACTIONS_SCOPE),
                key_path=adapter.resolved_child_index_client_key(hub.data_dir, client_id),
            )
        )
    return clients


def registration_for(
    client: HubClient, jwks: dict[str, Any], *, now: dt.datetime | None = None
) -> Any:
    """The ClientRegistration the provider keeps for `client` with public keys `jwks`: what
    clients.ensure_service_client / ensure_signin_client / ensure_device_client write."""
    from services.identity.clients import ClientRegistration
    from services.identity.domain import DEVICE_CODE_GRANT

    created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    if client.kind is ClientKind.SERVICE:
        return ClientRegistration(
            client_id=client.client_id,
            agency=client.agency,
            scopes=client.scopes,
            jwks=jwks,
            created_at=created,
        )
    if client.kind is ClientKind.SIGNIN:
        return ClientRegistration(
            client_id=client.client_id,
            agency=client.agency,
            scopes=_PERSON_SCOPES,
            jwks=jwks,
            grant_types=("authorization_code",),
            created_at=created,
            extra={
                "redirect_uris": list(client.redirect_uris),
                "resources": list(client.resources),
            },
        )
    return ClientRegistration(
        client_id=client.client_id,
        agency=client.agency,
        scopes=_PERSON_SCOPES,
        jwks={"keys": []},
        grant_types=(DEVICE_CODE_GRANT,),
        created_at=created,
        extra={"resources": list(client.resources), "token_endpoint_auth_method": "none"},
    )


def key_file(client: HubClient, keys_dir: Path | None) -> Path | None:
    """Where to read `client`'s key: `<keys_dir>/<client_id>.pem` when a folder is given (the
    operator's copy of the Secrets), else where its service reads it."""
    if client.kind is ClientKind.DEVICE:
        return None
    if keys_dir is not None:
        return keys_dir / f"{client.client_id}.pem"
    return client.key_path


def missing_keys(clients: Sequence[HubClient], keys_dir: Path | None) -> list[str]:
    return [
        f"{c.client_id}: {path}"
        for c in clients
        if (path := key_file(c, keys_dir)) is not None and not path.is_file()
    ]
