"""Identity service settings (environment prefix SAFEHUB_IDENTITY_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["IdentitySettings"]


class IdentitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_IDENTITY_", extra="ignore")

    issuer: str = Field(
        default="http://127.0.0.1:18205",
        description="Issuer identifier: the base URL this service is reached at.",
    )
    audience: str = Field(
        default="safehub-ingest", description="Audience put in every access token."
    )
    token_ttl_s: int = Field(default=600, ge=30, le=3600, description="Access token lifetime.")
    assertion_max_lifetime_s: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="Longest a client assertion may live (exp - now); limits replay.",
    )
    leeway_s: int = Field(default=30, ge=0, le=300, description="Allowed clock skew.")
    state_dir: Path | None = Field(
        default=None,
        description="Issuer key and client registrations; default <data_dir>/identity.",
    )
    # People signing in (authorization code + PKCE; services/identity/authcode.py).
    users_file: Path | None = Field(
        default=None,
        description="User directory (JSON); default the synthetic users shipped with the service.",
    )
    person_token_audiences: tuple[str, ...] = Field(
        default=("safehub-console", "safehub-audit", "safehub-cpis"),
        description=(
            "Audiences of a person's access token: the console, the IG audit API and the "
            "CP-IS lookup; each still authorises on the token's roles."
        ),
    )
    person_token_ttl_s: int = Field(default=600, ge=30, le=3600)
    id_token_ttl_s: int = Field(default=300, ge=30, le=3600)
    code_ttl_s: int = Field(
        default=60, ge=5, le=600, description="Authorization code lifetime (single use)."
    )
    login_ttl_s: int = Field(
        default=600, ge=30, le=3600, description="How long the sign-in form stays valid."
    )

    @field_validator("issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/authorize"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    def resolved_state_dir(self, data_dir: Path) -> Path:
        return self.state_dir or data_dir / "identity"
