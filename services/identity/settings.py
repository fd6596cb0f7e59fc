"""Identity service settings (environment prefix SAFEHUB_IDENTITY_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["IdentitySettings", "PersonApi"]


class PersonApi(BaseModel):
    """An API that people's access tokens are issued for, by its audience identifier (the
    `resource` of RFC 8707). A person's token names exactly one such API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "A person needs one of these roles to get a token for this API; null: any "
            "signed-in person (the API then decides on the roles itself, and audits refusals)."
        ),
    )


def _person_apis() -> dict[str, PersonApi]:
    return {
        # The console decides on roles itself, and audits a refusal (NO_FEED_FOR_ROLE).
        "safehub-console": PersonApi(),
        # The IG audit API: only information governance officers may hold a token for it.
        "safehub-audit": PersonApi(roles=("IG_OFFICER",)),
        # The CP-IS lookup answers 403 itself to anyone but an unscheduled-care clinician.
        "safehub-cpis": PersonApi(),
    }


class IdentitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_IDENTITY_", extra="ignore")

    issuer: str = Field(
        default="http://127.0.0.1:18205",
        description="Issuer identifier: the base URL this service is reached at.",
    )
    # Behind an ingress, people and agency systems reach the provider at `issuer` (a public
    # name) while the hub's services reach it at its Service; their client assertions are
    # addressed to the URL they post to (RFC 7523 3: the token endpoint URL identifies the
    # authorization server), so that URL must be accepted too. Tokens still name `issuer`.
    internal_urls: tuple[str, ...] = Field(
        default=(),
        description="Other base URLs the hub's own services reach this provider at (in a "
        'cluster its Service, e.g. ["http://identity"]); a client assertion addressed to '
        "<url>/token or <url> is accepted. Tokens always name `issuer`.",
    )
    # Unset: the issuer URL's host and port (the local stack); a cluster sets 0.0.0.0 and
    # the container's port, since the issuer names the Service, not the pod.
    host: str | None = Field(
        default=None, description="Listen address; default the issuer URL's host."
    )
    port: int | None = Field(
        default=None, ge=0, le=65535, description="Listen port; default the issuer URL's port."
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
    clients_file: Path | None = Field(
        default=None,
        description="A declared client registry (JSON, public keys only; client_registry.py), "
        "loaded at start: in a cluster, a ConfigMap rendered by `safehub identity clients "
        "render`. Its clients come before those registered under <state_dir>/clients.",
    )
    # People signing in (authorization code + PKCE; services/identity/authcode.py).
    users_file: Path | None = Field(
        default=None,
        description="User directory (JSON); default the synthetic users shipped with the service.",
    )
    person_apis: dict[str, PersonApi] = Field(
        default_factory=_person_apis,
        description=(
            "The APIs people's access tokens may be issued for, by audience (RFC 8707 "
            "resource). A token names one API only: the one its client asked for (the "
            "`resource` parameter) or, without one, the first its client is registered for "
            "(`resources` in the client registration). JSON in the environment, e.g. "
            '{"safehub-audit": {"roles": ["IG_OFFICER"]}}.'
        ),
    )
    person_token_ttl_s: int = Field(default=600, ge=30, le=3600)
    id_token_ttl_s: int = Field(default=300, ge=30, le=3600)
    code_ttl_s: int = Field(
        default=60, ge=5, le=600, description="Authorization code lifetime (single use)."
    )
    # People at a command line (device authorization grant, RFC 8628; device.py).
    device_code_ttl_s: int = Field(
        default=600, ge=60, le=1800, description="How long a device sign-in may wait for approval."
    )
    device_poll_interval_s: int = Field(
        default=5, ge=1, le=60, description="Least time between a device client's polls."
    )
    # RFC 8628 5.1: a user code can be guessed, so wrong entries on the verification page are
    # limited (user_code_attempts.py); beyond either limit the page answers 429.
    device_wrong_codes_per_address: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Wrong user codes one client address may enter within the window.",
    )
    device_wrong_codes_overall: int = Field(
        default=50,
        ge=1,
        le=100_000,
        description="Wrong user codes the whole service takes within the window, from anyone.",
    )
    device_wrong_codes_window_s: int = Field(
        default=300,
        ge=10,
        le=86_400,
        description="The sliding window (seconds) both wrong-code limits count over.",
    )
    login_ttl_s: int = Field(
        default=600, ge=30, le=3600, description="How long the sign-in form stays valid."
    )
    used_assertions_path: Path | None = Field(
        default=None,
        description=(
            "SQLite file of client assertion ids already used (RFC 7523 replay check), shared "
            "by every process of this service; default <state_dir>/used-assertions.sqlite3."
        ),
    )
    # Password checks (scrypt) run on worker threads, off the event loop the adapters share.
    password_check_threads: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Password checks running at once (each is deliberately slow scrypt).",
    )
    password_check_queue: int = Field(
        default=64,
        ge=0,
        le=10_000,
        description=(
            "Sign-ins allowed to wait for a password-check thread; beyond this a sign-in is "
            "answered 503 at once (a flood must not pile up without bound)."
        ),
    )

    @field_validator("issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def assertion_audiences(self) -> tuple[str, ...]:
        """What a client assertion's `aud` may name: this provider, at `issuer` or at any of
        `internal_urls`, as itself or as its token endpoint."""
        bases = (self.issuer, *(u.rstrip("/") for u in self.internal_urls))
        return tuple(u for base in bases for u in (f"{base}/token", base))

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/authorize"

    @property
    def device_authorization_endpoint(self) -> str:
        return f"{self.issuer}/device_authorization"

    @property
    def device_verification_uri(self) -> str:
        """The page where a person approves a command-line sign-in (RFC 8628 3.3)."""
        return f"{self.issuer}/device"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    def resolved_state_dir(self, data_dir: Path) -> Path:
        return self.state_dir or data_dir / "identity"

    def resolved_used_assertions_path(self, data_dir: Path) -> Path:
        return self.used_assertions_path or (
            self.resolved_state_dir(data_dir) / "used-assertions.sqlite3"
        )
