"""The token issuer a service trusts, as settings: its `iss` and where its signing keys are.

Shared by the services that check access tokens against a JWKS (the adapters, the child
index, the CP-IS lookup). Each service subclasses `TokenIssuerSettings` with its own
environment prefix, so the variables stay per service (`SAFEHUB_CPIS_TOKEN_ISSUER`,
`SAFEHUB_CHILDINDEX_JWKS_URL`, ...), and declares its own `token_audience` (each service
is the audience of its own tokens) and the claims it reads.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

__all__ = ["TokenIssuerSettings"]


class TokenIssuerSettings(BaseSettings):
    """`token_issuer` and its JWKS; subclasses set `model_config` (the env prefix)."""

    token_issuer: str = Field(
        default="http://127.0.0.1:18205",  # the local identity provider (services/identity)
        description="Required `iss` of access tokens: the local identity provider or your IdP.",
    )
    jwks_url: str | None = Field(
        default=None,
        description="JWKS of the issuer; default <token_issuer>/.well-known/jwks.json.",
    )

    @field_validator("token_issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        # Paths are appended to it (the JWKS here, the adapters' token endpoint).
        return value.rstrip("/")

    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.token_issuer}/.well-known/jwks.json"
