"""Registered OAuth2 clients, kept as data: one JSON file per client under the state dir.

    <state_dir>/clients/<client_id>.json
        {"client_id", "agency", "scopes", "grant_types", "jwks" (public keys only),
         "created_at"; a client that signs people in also "redirect_uris" and "resources":
         the APIs (token audiences) it may get people's tokens for, its default first}

Registering a client generates its key pair; the private key is written once, for the
integrator, outside the identity service's own directory (default
`<data_dir>/integrators/<client_id>.pem`), and never stored by the service.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from joserfc.jwk import KeySet, KeySetSerialization

from services.hubkit.jwt_keys import (
    generate_key,
    load_or_create_key,
    public_jwks,
    write_private_key,
)
from services.hubkit.private_files import write_atomically
from services.identity.domain import DEVICE_CODE_GRANT

__all__ = [
    "CLIENT_ID_PATTERN",
    "ClientRegistration",
    "FileClientRegistry",
    "RegisteredClient",
    "ensure_device_client",
    "ensure_service_client",
    "ensure_signin_client",
    "register_client",
]

_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
CLIENT_ID_PATTERN = _CLIENT_ID


@dataclass(frozen=True, slots=True)
class ClientRegistration:
    client_id: str
    agency: str
    scopes: tuple[str, ...]
    jwks: dict[str, Any]
    grant_types: tuple[str, ...] = ("client_credentials",)
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def key_set(self) -> KeySet:
        return KeySet.import_key_set(cast(KeySetSerialization, self.jwks))

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "agency": self.agency,
            "scopes": list(self.scopes),
            "grant_types": list(self.grant_types),
            "jwks": self.jwks,
            "created_at": self.created_at,
            **self.extra,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> ClientRegistration:
        known = {"client_id", "agency", "scopes", "grant_types", "jwks", "created_at"}
        return ClientRegistration(
            client_id=str(data["client_id"]),
            agency=str(data["agency"]),
            scopes=tuple(data.get("scopes", ())),
            jwks=dict(data["jwks"]),
            grant_types=tuple(data.get("grant_types", ("client_credentials",))),
            created_at=str(data.get("created_at", "")),
            extra={k: v for k, v in data.items() if k not in known},
        )


class FileClientRegistry:
    """Reads registrations from disk on each lookup, so new clients need no restart; clients
    declared in the registry document loaded at start (client_registry.py) come first."""

    def __init__(
        self, clients_dir: Path, declared: Mapping[str, ClientRegistration] | None = None
    ) -> None:
        self._dir = clients_dir
        self._declared = dict(declared or {})

    def get(self, client_id: str) -> ClientRegistration | None:
        if not _CLIENT_ID.fullmatch(client_id):
            return None
        if client_id in self._declared:
            return self._declared[client_id]
        path = self._dir / f"{client_id}.json"
        try:
            return ClientRegistration.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def add(self, registration: ClientRegistration) -> Path:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{registration.client_id}.json"
        with path.open("x") as handle:
            json.dump(registration.to_json(), handle, indent=2)
            handle.write("\n")
        return path


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    registration: ClientRegistration
    registration_path: Path
    private_key_path: Path


def register_client(
    *,
    state_dir: Path,
    keys_out_dir: Path,
    agency: str,
    scopes: tuple[str, ...] = ("notices:publish",),
    client_id: str | None = None,
    now: dt.datetime | None = None,
) -> RegisteredClient:
    """Create a key pair and a registration for a new client of `agency`."""
    chosen = client_id or f"{agency.lower().replace('_', '-')}-{secrets.token_hex(4)}"
    if not _CLIENT_ID.fullmatch(chosen):
        raise ValueError(f"client id {chosen!r} must match {_CLIENT_ID.pattern}")
    key = generate_key()
    created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    registration = ClientRegistration(
        client_id=chosen,
        agency=agency,
        scopes=scopes,
        jwks=public_jwks(key),
        created_at=created,
    )
    private_key_path = keys_out_dir / f"{chosen}.pem"
    write_private_key(private_key_path, key)
    registration_path = FileClientRegistry(state_dir / "clients").add(registration)
    return RegisteredClient(registration, registration_path, private_key_path)


def ensure_signin_client(
    *,
    state_dir: Path,
    private_key_path: Path,
    client_id: str,
    agency: str,
    redirect_uris: tuple[str, ...],
    resources: tuple[str, ...],
    now: dt.datetime | None = None,
) -> ClientRegistration:
    """Register (or update) a web application that signs people in: the authorization-code
    grant, `private_key_jwt` with the key at `private_key_path` (created if absent), these
    redirect URIs, and exactly these APIs to get people's tokens for (`resources`, token
    audiences; the first is the default). Idempotent; used for the console on a local stack.
    """
    if not resources:
        raise ValueError("a client that signs people in needs the API its tokens are for")
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError(f"client id {client_id!r} must match {_CLIENT_ID.pattern}")
    key = load_or_create_key(private_key_path)
    registration = ClientRegistration(
        client_id=client_id,
        agency=agency,
        scopes=("openid", "profile", "roles"),
        jwks=public_jwks(key),
        grant_types=("authorization_code",),
        created_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        extra={"redirect_uris": list(redirect_uris), "resources": list(resources)},
    )
    clients_dir = state_dir / "clients"
    clients_dir.mkdir(parents=True, exist_ok=True)
    path = clients_dir / f"{client_id}.json"
    existing = FileClientRegistry(clients_dir).get(client_id)
    if (
        existing is not None
        and existing.jwks == registration.jwks
        and set(redirect_uris) <= set(existing.extra.get("redirect_uris", ()))
        and existing.extra.get("resources") == list(resources)
    ):
        return existing
    if existing is not None:  # keep earlier redirect URIs (several local ports may be in use)
        earlier = [u for u in existing.extra.get("redirect_uris", ()) if u not in redirect_uris]
        registration.extra["redirect_uris"] = [*redirect_uris, *earlier]
    write_atomically(path, json.dumps(registration.to_json(), indent=2) + "\n")
    return registration


def ensure_service_client(
    *,
    state_dir: Path,
    private_key_path: Path,
    client_id: str,
    agency: str,
    scopes: tuple[str, ...],
    now: dt.datetime | None = None,
) -> ClientRegistration:
    """Register (or update) a hub service's own client-credentials client, e.g. an agency
    adapter's client for the child index: `private_key_jwt` with the key at
    `private_key_path` (created if absent, 0600), exactly these scopes. Idempotent; used on a
    local stack (a real IdP registers these clients its own way)."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError(f"client id {client_id!r} must match {_CLIENT_ID.pattern}")
    key = load_or_create_key(private_key_path)
    clients_dir = state_dir / "clients"
    existing = FileClientRegistry(clients_dir).get(client_id)
    jwks = public_jwks(key)
    if (
        existing is not None
        and existing.jwks == jwks
        and existing.agency == agency
        and existing.scopes == scopes
    ):
        return existing
    registration = ClientRegistration(
        client_id=client_id,
        agency=agency,
        scopes=scopes,
        jwks=jwks,
        created_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
    )
    clients_dir.mkdir(parents=True, exist_ok=True)
    path = clients_dir / f"{client_id}.json"
    write_atomically(path, json.dumps(registration.to_json(), indent=2) + "\n")
    return registration


def ensure_device_client(
    *,
    state_dir: Path,
    client_id: str,
    agency: str,
    resources: tuple[str, ...],
    now: dt.datetime | None = None,
) -> ClientRegistration:
    """Register (or update) a command-line client that signs people in with the device grant
    (RFC 8628), e.g. `safehub ig login`: a public client (a CLI on a person's machine can keep
    no secret, so it has no key and authenticates with nothing: `token_endpoint_auth_method`
    "none"), allowed that grant only, for exactly these APIs (token audiences; the first is the
    default). Idempotent; used on a local stack."""
    if not resources:
        raise ValueError("a client that signs people in needs the API its tokens are for")
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError(f"client id {client_id!r} must match {_CLIENT_ID.pattern}")
    clients_dir = state_dir / "clients"
    existing = FileClientRegistry(clients_dir).get(client_id)
    extra = {"resources": list(resources), "token_endpoint_auth_method": "none"}
    if (
        existing is not None
        and existing.grant_types == (DEVICE_CODE_GRANT,)
        and existing.agency == agency
        and all(existing.extra.get(k) == v for k, v in extra.items())
    ):
        return existing
    registration = ClientRegistration(
        client_id=client_id,
        agency=agency,
        scopes=("openid", "profile", "roles"),
        jwks={"keys": []},
        grant_types=(DEVICE_CODE_GRANT,),
        created_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        extra=extra,
    )
    clients_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(
        clients_dir / f"{client_id}.json", json.dumps(registration.to_json(), indent=2) + "\n"
    )
    return registration
