"""CP-IS lookup settings (environment prefix SAFEHUB_CPIS_). Hub-wide ones (broker, data and
key directories) come from HubSettings; paths default under them, so a test that moves the
hub's data directory moves the register with it.

Variables that move together: `SAFEHUB_CPIS_PORT` and the URL clients use; the token
issuer and its JWKS URL (default `<issuer>/.well-known/jwks.json`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.cpis.domain.register import DEFAULT_HELD_DAYS
from services.hubkit.token_settings import TokenIssuerSettings

__all__ = ["CPIS_PORT", "CpisSettings"]

CPIS_PORT = 18206


class CpisSettings(TokenIssuerSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_CPIS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=CPIS_PORT, ge=0, le=65535)
    # Access tokens (people signed in at the identity provider). Issuer and JWKS:
    # TokenIssuerSettings.
    token_audience: str = Field(default="safehub-cpis", description="Required `aud` of tokens.")
    roles_claim: str = "roles"
    organisation_claim: str = "organisation"
    clinician_role: str = Field(
        default="UNSCHEDULED_CARE_CLINICIAN",
        description="The role a lookup needs (rule R13: unscheduled care only).",
    )
    # The register and its feed
    subscriber_id: str = Field(
        default="cpis-register",
        description="The hub subscriber whose feed fills the register "
        "(policies/safehub/subscribers/data.json).",
    )
    database_path: Path | None = Field(
        default=None, description="The register (SQLite); default <data_dir>/cpis/register.db."
    )
    store_key_path: Path | None = Field(
        default=None,
        description="32-byte key sealing the register's personal data (created on first start, "
        "0600); default <keys_dir>/cpis/store.key.",
    )
    held_days: int = Field(
        default=DEFAULT_HELD_DAYS,
        ge=0,
        description="How long an ended plan stays on the register (CP-IS: 12 months).",
    )
    # The access notification
    notify_timeout_s: float = Field(
        default=3.0,
        gt=0,
        description="How long a notification waits for the broker's ack before the lookup "
        "answers anyway (the notification stays queued and is retried).",
    )
    outbox_retry_s: float = Field(
        default=5.0, gt=0, description="How often unsent access notifications are retried."
    )
    purge_interval_s: float = Field(
        default=3600.0, gt=0, description="How often plans past `held_days` are erased."
    )
    emergency_sweep_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the content of expired emergency access grants is deleted "
        "(every answer deletes it first too).",
    )

    def resolved_database_path(self, data_dir: Path) -> Path:
        return self.database_path or data_dir / "cpis" / "register.db"

    def resolved_store_key_path(self, keys_dir: Path) -> Path:
        return self.store_key_path or keys_dir / "cpis" / "store.key"
