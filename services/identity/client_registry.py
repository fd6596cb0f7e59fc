"""The declared client registry: the provider's clients as one document, loaded at start.

In a cluster the services cannot write their registrations into the provider's state dir
(another pod's disk), so an operator renders the hub's clients once (`safehub identity
clients render`, from the services' keys and settings), puts the document in a ConfigMap and
points the provider at it (`SAFEHUB_IDENTITY_CLIENTS_FILE`). It holds PUBLIC keys only, which
is why a ConfigMap will do; a private member in a key is refused.

    {"clients": [{"client_id", "agency", "scopes", "grant_types", "jwks",
                  and, by grant: "redirect_uris", "resources", "token_endpoint_auth_method"}]}

Each entry is what `clients.py` writes as `<state_dir>/clients/<client_id>.json` (the same
`ClientRegistration`), and a declared client wins over a file of the same id. Parsing and
rendering are pure; `load_client_registry` only reads the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from services.identity.clients import CLIENT_ID_PATTERN, ClientRegistration
from services.identity.domain import DEVICE_CODE_GRANT
from services.identity.errors import ClientRegistryInvalid

__all__ = ["load_client_registry", "parse_client_registry", "render_client_registry"]

_CLIENT_CREDENTIALS = "client_credentials"
_AUTHORIZATION_CODE = "authorization_code"
_GRANTS = frozenset({_CLIENT_CREDENTIALS, _AUTHORIZATION_CODE, DEVICE_CODE_GRANT})
# JWK members of a private key (RFC 7518 6.2.2, 6.3.2, 6.4): never in a registry.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def render_client_registry(registrations: Iterable[ClientRegistration]) -> str:
    """The document for `registrations`, sorted by client id (the same input renders the
    same bytes, so a ConfigMap changes only when a client does)."""
    entries = [
        {k: v for k, v in r.to_json().items() if k != "created_at"}
        for r in sorted(registrations, key=lambda r: r.client_id)
    ]
    return json.dumps({"clients": entries}, indent=2, sort_keys=True) + "\n"


def parse_client_registry(text: str, *, where: str) -> dict[str, ClientRegistration]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClientRegistryInvalid(
            f"{where}: not JSON ({error.msg}, line {error.lineno})"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("clients"), list):
        raise ClientRegistryInvalid(f'{where}: expected {{"clients": [...]}}')
    declared: dict[str, ClientRegistration] = {}
    for position, entry in enumerate(document["clients"]):
        registration = _entry(entry, where=f"{where}, client {position}")
        if registration.client_id in declared:
            raise ClientRegistryInvalid(
                f"{where}: client {registration.client_id!r} is declared twice"
            )
        declared[registration.client_id] = registration
    return declared


def load_client_registry(path: Path) -> dict[str, ClientRegistration]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ClientRegistryInvalid(
            f"cannot read the client registry {path} ({type(error).__name__}): mount the "
            "ConfigMap there (render it with `safehub identity clients render`), or unset "
            "SAFEHUB_IDENTITY_CLIENTS_FILE"
        ) from None
    return parse_client_registry(text, where=str(path))


def _entry(entry: Any, *, where: str) -> ClientRegistration:
    if not isinstance(entry, dict):
        raise ClientRegistryInvalid(f"{where}: not an object")
    client_id = entry.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ClientRegistryInvalid(f"{where}: client_id must match {CLIENT_ID_PATTERN.pattern}")
    where = f"{where} ({client_id})"
    if not isinstance(entry.get("agency"), str) or not entry["agency"]:
        raise ClientRegistryInvalid(f"{where}: no agency")
    for name in ("scopes", "grant_types", "redirect_uris", "resources"):
        value = entry.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ClientRegistryInvalid(f"{where}: {name} must be a list of strings")
    grants = set(entry.get("grant_types") or [_CLIENT_CREDENTIALS])
    if not grants <= _GRANTS:
        raise ClientRegistryInvalid(f"{where}: unknown grant types {sorted(grants - _GRANTS)}")
    jwks = entry.get("jwks")
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ClientRegistryInvalid(f'{where}: jwks must be {{"keys": [...]}}')
    for key in jwks["keys"]:
        if not isinstance(key, dict):
            raise ClientRegistryInvalid(f"{where}: a key is not a JWK object")
        if _PRIVATE_MEMBERS & set(key):
            raise ClientRegistryInvalid(
                f"{where}: a key holds private members; the registry takes public keys only"
            )
    public_client = entry.get("token_endpoint_auth_method") == "none"
    if public_client and (jwks["keys"] or grants != {DEVICE_CODE_GRANT}):
        raise ClientRegistryInvalid(
            f"{where}: a public client (token_endpoint_auth_method none) has no keys and uses "
            "the device grant only"
        )
    if not public_client and not jwks["keys"]:
        raise ClientRegistryInvalid(f"{where}: no public key to check its client assertions")
    if _AUTHORIZATION_CODE in grants and not (
        entry.get("redirect_uris") and entry.get("resources")
    ):
        raise ClientRegistryInvalid(
            f"{where}: a client that signs people in needs redirect_uris and resources"
        )
    if DEVICE_CODE_GRANT in grants and not entry.get("resources"):
        raise ClientRegistryInvalid(f"{where}: a device-grant client needs resources")
    registration = ClientRegistration.from_json(entry)
    if public_client:
        return registration
    try:
        registration.key_set()
    except Exception as error:  # joserfc raises several types for a malformed key
        raise ClientRegistryInvalid(f"{where}: a key does not import ({error})") from None
    return registration
