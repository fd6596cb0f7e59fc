"""Console settings (environment prefix SAFEHUB_CONSOLE_). Hub-wide ones come from HubSettings.

Local RAG timescales and the working calendar are here because they are local MASH policy
(DOMAIN.md: "local timescales, e.g. Red 2-4 working hours, Amber 6-24, Green 24-72").
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.console.domain.deadlines import Timescales, WorkingCalendar
from services.console.domain.people import SessionPolicy
from services.console.domain.urgency import MashHours
from services.hubkit.auth import CHILD_KEYS_SCOPE, CHILD_SEARCH_SCOPE, REVIEW_CHILDREN_SCOPE

__all__ = ["CHILD_INDEX_PORT", "CONSOLE_PORT", "ConsoleSettings"]

CONSOLE_PORT = 18400
CHILD_INDEX_PORT = 18207  # services/childindex/settings.py serves here by default


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_CONSOLE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=CONSOLE_PORT, ge=0, le=65535)
    base_url: str = Field(
        default=f"http://127.0.0.1:{CONSOLE_PORT}",
        description="Where people reach the console; the OIDC redirect URI is <base_url>/auth/"
        "callback. Use https outside a laptop: cookies are then marked Secure.",
    )
    # OpenID Connect (authorization code + PKCE, private_key_jwt)
    issuer: str = Field(
        default="http://127.0.0.1:18205", description="The identity provider's issuer URL."
    )
    client_id: str = "safehub-console"
    token_audience: str = Field(
        default="safehub-console",
        description="The audience of the access tokens people's sign-in gets the console (RFC "
        "8707 resource); the local identity provider registers the console for it only, so "
        "those tokens are refused by the IG audit API and the CP-IS lookup.",
    )
    client_key_path: Path | None = Field(
        default=None,
        description="The console's private key for private_key_jwt (ES256 PEM, 0600); default "
        "<data_dir>/console/oidc-client.pem.",
    )
    # Sessions
    session_idle_minutes: int = Field(default=30, ge=1, le=480)
    session_absolute_hours: int = Field(default=10, ge=1, le=24)
    session_idle_seconds: int | None = Field(
        default=None,
        ge=10,
        le=480 * 60,
        description="The idle limit in seconds instead of session_idle_minutes (tests and "
        "demonstrations of the idle warning); unset in production.",
    )
    session_warning_seconds: int = Field(
        default=120,
        ge=5,
        le=900,
        description="How long before the idle limit the page warns that the session is about "
        "to end (with a 'Stay signed in' button); at most half the idle limit is used.",
    )
    oversight_roles: tuple[str, ...] = Field(
        default=("IG_OFFICER",),
        description="Roles that read no feed here but may sign in to the information "
        "governance page (what the console offers them, and their own tools); any other role "
        "without a feed is refused at sign-in.",
    )
    ig_api_url: str = Field(
        default="http://127.0.0.1:18310",
        description="The audit service's IG query API, linked from the information governance "
        "page (moves with SAFEHUB_AUDIT_API_PORT).",
    )
    # Which feeds this console serves, by the roles that read them.
    console_roles: tuple[str, ...] = (
        "MASH_MANAGER",
        "HEALTH_NAVIGATOR",
        "POLICE_RESEARCHER",
        "SOCIAL_WORKER",
    )
    # Local triage timescales, in working hours (DOMAIN.md: Red 2-4, Amber 6-24, Green 24-72):
    # a rated contact is due within its RAG's; one with no RAG within contact_working_days.
    rag_working_hours: dict[str, float] = Field(
        default_factory=lambda: {"RED": 4.0, "AMBER": 8.0, "GREEN": 24.0}
    )
    contact_working_days: float = Field(default=1.0, gt=0, le=10)
    # Who acts on immediate danger while the MASH is closed (its hours: the policy's
    # mash_hours, policies/safehub/rules/data.json). Local: every authority's EDT differs.
    emergency_duty_team_name: str = Field(
        default="Emergency duty team, Synthetic Borough Children's Services",
        min_length=1,
        description="Named on every MASH page out of hours and on immediate-danger alerts.",
    )
    emergency_duty_team_telephone: str = Field(default="0300 000 0007", min_length=1)
    # The working day for deadlines when the console runs without the sharing policy's
    # mash_hours (tests, tools); the running console counts the policy's opening hours.
    working_day_start: dt.time = dt.time(9, 0)
    working_day_end: dt.time = dt.time(17, 0)
    bank_holidays: tuple[dt.date, ...] = Field(
        default=(),
        description="Days that are not working days (England and Wales bank holidays: "
        "https://www.gov.uk/bank-holidays.json), as ISO dates.",
    )
    page_size: int = Field(default=50, ge=5, le=500)
    # Who a decision tells partners to contact (the MASH's duty line).
    decision_contact_role: str = "MASH manager"
    decision_contact_telephone: str = "0300 000 0001"
    sse_ping_s: float = Field(default=15.0, gt=0)
    # The child index's review queue ("same child?"), called with the console's own client
    # credentials (services/console/child_index.py).
    child_index_url: str = Field(
        default=f"http://127.0.0.1:{CHILD_INDEX_PORT}",
        description="Base URL of the child index (moves with SAFEHUB_CHILDINDEX_PORT).",
    )
    child_index_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a call to the child index (or for the console's token) may take "
        "before the page says the index is not available.",
    )
    child_index_client_id: str = Field(
        default="console-childindex",
        description="The console's own OAuth2 client for the child index (client credentials, "
        "private_key_jwt).",
    )
    child_index_client_key: Path | None = Field(
        default=None,
        description="That client's private key (ES256 PEM, 0600); default "
        "<data_dir>/console/<client id>.pem.",
    )
    child_index_scopes: tuple[str, ...] = Field(
        default=(REVIEW_CHILDREN_SCOPE, CHILD_KEYS_SCOPE, CHILD_SEARCH_SCOPE),
        description="Scopes the console asks for (and is registered with locally).",
    )
    identity_url: str | None = Field(
        default=None,
        description="Where the console itself reaches the identity provider (discovery, token "
        "endpoint, JWKS) when people reach it at `issuer` through an ingress: in a cluster its "
        "Service. Default the issuer.",
    )
    token_endpoint: str | None = Field(
        default=None,
        description="Where the console gets its own access tokens; default "
        "<identity_url or issuer>/token.",
    )
    jwks_url: str | None = Field(
        default=None,
        description="The issuer's signing keys, for the hub's own jobs' tokens (the erasure "
        "job's); default <identity_url or issuer>/.well-known/jwks.json.",
    )
    service_token_audience: str = Field(
        default="safehub-ingest",
        description="Required `aud` of those client-credentials tokens (the audience the "
        "identity provider gives every client-credentials token).",
    )
    linkage_decision_roles: tuple[str, ...] = Field(
        default=("MASH_MANAGER",),
        description="Roles that may decide whether two records are the same child (the review "
        "queue), besides the MASH decision makers of rule R2.",
    )
    reassign_roles: tuple[str, ...] = Field(
        default=("MASH_MANAGER",),
        description="Roles that may take over or release a contact another decision maker is "
        "screening (allocation).",
    )
    review_list_limit: int = Field(
        default=50, ge=1, le=500, description="Most reviews a review-queue page lists."
    )
    review_count_ttl_s: float = Field(
        default=30.0,
        gt=0,
        description="How long the open-review count in the navigation is reused before the "
        "index is asked again.",
    )

    @field_validator("base_url", "issuer", "child_index_url", "ig_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("rag_working_hours")
    @classmethod
    def _known_rags(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) - {"RED", "AMBER", "GREEN"} or any(h <= 0 for h in value.values()):
            raise ValueError("RAG timescales are positive hours for RED, AMBER and GREEN")
        return value

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/auth/callback"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    store_path: Path | None = Field(
        default=None,
        description="The console's own state (SQLite, 0600): what must survive a restart. "
        "Default <data_dir>/console/console.sqlite.",
    )
    store_key_path: Path | None = Field(
        default=None,
        description="32-byte key under which the console's stored feed items are sealed, per "
        "child (created on first start, 0600); default <keys_dir>/console/store.key. Losing "
        "it loses the stored projection (rebuilt from the feeds), never anything else.",
    )

    child_link_key_path: Path | None = Field(
        default=None,
        description="The key child page URLs are made with (64 random bytes, 0600, created "
        "if absent): links stay valid while it does. Consoles behind one address share it. "
        "Default <data_dir>/console/child-links.key.",
    )
    search_result_limit: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Most children the child index is asked for per search.",
    )

    def resolved_child_link_key_path(self, data_dir: Path) -> Path:
        return self.child_link_key_path or data_dir / "console" / "child-links.key"

    def resolved_store_path(self, data_dir: Path) -> Path:
        return self.store_path or data_dir / "console" / "console.sqlite"

    def resolved_store_key_path(self, keys_dir: Path) -> Path:
        return self.store_key_path or keys_dir / "console" / "store.key"

    def resolved_client_key_path(self, data_dir: Path) -> Path:
        return self.client_key_path or data_dir / "console" / "oidc-client.pem"

    def resolved_child_index_client_key(self, data_dir: Path) -> Path:
        return self.child_index_client_key or (
            data_dir / "console" / f"{self.child_index_client_id}.pem"
        )

    def resolved_identity_url(self) -> str:
        return (self.identity_url or self.issuer).rstrip("/")

    def resolved_token_endpoint(self) -> str:
        return self.token_endpoint or f"{self.resolved_identity_url()}/token"

    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.resolved_identity_url()}/.well-known/jwks.json"

    def timescales(self, hours: MashHours | None = None) -> Timescales:
        """The local timescales; working time is `hours` (when the MASH is open, from the
        policy, with the settings' bank holidays too) or else the settings' working day."""
        holidays = frozenset(self.bank_holidays)
        calendar = (
            WorkingCalendar.opening_hours(
                hours.windows, holidays=holidays | hours.closed_dates, zone=hours.zone
            )
            if hours is not None
            else WorkingCalendar(
                # England: the calendar and every time shown are UK local time.
                day_start=self.working_day_start,
                day_end=self.working_day_end,
                holidays=holidays,
            )
        )
        return Timescales(
            calendar=calendar,
            rag_working_hours=dict(self.rag_working_hours),
            contact_working_days=self.contact_working_days,
        )

    def session_policy(self) -> SessionPolicy:
        idle = (
            dt.timedelta(seconds=self.session_idle_seconds)
            if self.session_idle_seconds is not None
            else dt.timedelta(minutes=self.session_idle_minutes)
        )
        return SessionPolicy(idle=idle, absolute=dt.timedelta(hours=self.session_absolute_hours))

    def session_warning_s(self) -> float:
        """Seconds before the idle limit the page warns: the setting, at most half the limit
        (so a short limit still leaves time to read the page before the warning)."""
        idle_s = self.session_policy().idle.total_seconds()
        return min(float(self.session_warning_seconds), idle_s / 2)
