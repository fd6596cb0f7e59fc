"""A test identity provider: an Ed25519 key pair whose public half is served as a JWKS over
real HTTP on loopback, and a function to mint access tokens with it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

ISSUER = "https://idp.safehub.test"
AUDIENCE = "safehub-audit"


@dataclass
class LocalIdp:
    key: OKPKey
    jwks_url: str

    def token(
        self,
        *,
        subject: str = "ig-officer-1",
        roles: list[str] | str | None = None,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        expires_in: int = 300,
        key: OKPKey | None = None,
        typ: str = "at+jwt",
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + expires_in,
            "roles": ["IG_OFFICER"] if roles is None else roles,
            **extra,
        }
        signer = key or self.key
        return jwt.encode(
            {"alg": "Ed25519", "kid": signer.kid, "typ": typ},
            claims,
            signer,
            algorithms=["Ed25519"],
        )


@pytest.fixture(scope="session")
def idp() -> Iterator[LocalIdp]:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "test-idp-1"})
    body = json.dumps({"keys": [key.as_dict(private=False)]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalIdp(key=key, jwks_url=f"http://127.0.0.1:{server.server_address[1]}/jwks.json")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
