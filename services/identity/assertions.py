"""What an integrator's client does to get a token: sign a client assertion (RFC 7523).

Any JWT library can do this; this helper backs `safehub adapters client-assertion` and the
tests. The assertion is short-lived and single-use (a fresh `jti` each time).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import ECKey

from services.hubkit.jwt_keys import SIGNING_ALGORITHM, load_key

__all__ = ["client_assertion", "client_assertion_from_file"]


def client_assertion(
    *,
    key: ECKey,
    client_id: str,
    token_endpoint: str,
    now: float | None = None,
    lifetime_s: int = 120,
    jti: str | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": issued,
        "exp": issued + lifetime_s,
        "jti": jti or secrets.token_urlsafe(16),
    }
    header = {"alg": SIGNING_ALGORITHM, "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=[SIGNING_ALGORITHM])


def client_assertion_from_file(
    private_key: Path, *, client_id: str, token_endpoint: str, lifetime_s: int = 120
) -> str:
    return client_assertion(
        key=load_key(private_key),
        client_id=client_id,
        token_endpoint=token_endpoint,
        lifetime_s=lifetime_s,
    )
