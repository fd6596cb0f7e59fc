"""Encryption in transit, set up the same way by every service.

One set of HubSettings switches all of it (docs in README "Operations: TLS in transit"):

- Kafka: `kafka_security_protocol=SASL_SSL` connects to `kafka_tls_bootstrap` over TLS,
  SCRAM inside the tunnel, verifying the broker against `tls_ca_file` (hostname included);
- OPA: an `https://` `opa_url` is verified against the same CA, and every request carries the
  bearer token from `opa_token_file` (OPA is then started with token authentication);
- HTTP services (identity provider, adapters, console, CP-IS, audit API, gateway ops): with
  `tls_cert_file` and `tls_key_file` set they serve HTTPS only; their own outgoing calls
  (JWKS, token endpoint) trust `tls_ca_file`.

Clients trust only the configured CA, not the system store: the hub's peers are its own
components, and a certificate from any public CA for the same name must not pass.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from services.hubkit.errors import TlsMaterialMissing
from services.hubkit.settings import HubSettings

__all__ = [
    "client_ssl_context",
    "http_client",
    "http_verify",
    "kafka_transport_options",
    "opa_auth_headers",
    "opa_ssl_context",
    "server_tls_options",
]


def client_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts only `ca_file`, checks host names, TLS 1.2 or later."""
    if not ca_file.is_file():
        raise TlsMaterialMissing("the CA certificate file", str(ca_file), "SAFEHUB_TLS_CA_FILE")
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def kafka_transport_options(settings: HubSettings) -> dict[str, Any]:
    """aiokafka's bootstrap, security_protocol and (for SASL_SSL) ssl_context."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_client_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        options["ssl_context"] = client_ssl_context(settings.trusted_ca_file)
    return options


def http_verify(settings: HubSettings) -> ssl.SSLContext | bool:
    """httpx's `verify` for calls to the hub's own HTTPS services (JWKS, token endpoint).

    The local CA when there is one (it is what signed the services' certificates); otherwise
    httpx's default verification, so a plain-HTTP loopback setup needs no CA at all.
    """
    if settings.tls_ca_file is None and not settings.trusted_ca_file.is_file():
        return True
    return client_ssl_context(settings.trusted_ca_file)


def http_client(settings: HubSettings, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client for the hub's own services, trusting the hub's CA."""
    return httpx.AsyncClient(verify=http_verify(settings), **kwargs)


def opa_ssl_context(settings: HubSettings) -> ssl.SSLContext | None:
    """The context OPA's clients verify it with; None for a plain-HTTP (loopback) OPA."""
    return client_ssl_context(settings.trusted_ca_file) if settings.opa_uses_tls else None


def opa_auth_headers(settings: HubSettings) -> dict[str, str]:
    """`Authorization: Bearer <token>` for an https OPA (never logged); {} for plain HTTP."""
    if not settings.opa_uses_tls:
        return {}
    path = settings.opa_token_path
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        raise TlsMaterialMissing(
            "OPA's bearer token", str(path), "SAFEHUB_OPA_TOKEN_FILE"
        ) from None
    return {"Authorization": f"Bearer {token}"}


def server_tls_options(settings: HubSettings) -> dict[str, Any]:
    """uvicorn's ssl_certfile/ssl_keyfile when HTTPS is switched on, else {} (plain HTTP)."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if cert is None and key is None:
        return {}
    for what, path, setting in (
        ("the server certificate", cert, "SAFEHUB_TLS_CERT_FILE"),
        ("the server private key", key, "SAFEHUB_TLS_KEY_FILE"),
    ):
        if path is None or not path.is_file():
            raise TlsMaterialMissing(what, str(path), setting)
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
