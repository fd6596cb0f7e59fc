"""Typed settings of the audit service (environment prefix `SAFEHUB_AUDIT_`).

Where the log is stored, how often it signs checkpoints, and how the IG API checks tokens.
Paths that depend on the hub's data directory are resolved against `HubSettings`, so a test
that points the hub at a temporary directory moves the audit log with it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.audit.domain.checkpoint import AUDIT_LOG_ORIGIN
from services.hubkit.settings import HubSettings

__all__ = ["LOG_KEY_NAME", "AuditSettings"]

# File stem of the log's signing key: <keys_dir>/private/audit-log.pem (0600) and its public
# half <keys_dir>/trusted/audit-log.pub (PEM) and audit-log.vkey (C2SP verifier key).
LOG_KEY_NAME = "audit-log"


class AuditSettings(BaseSettings):
    """Settings of the audit indexer, its checkpoints and the IG query API."""

    model_config = SettingsConfigDict(env_prefix="SAFEHUB_AUDIT_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the audit store: sqlite:///<path> (default "
            "<data_dir>/audit/audit.db) or postgresql+psycopg://user@host:port/db."
        ),
    )
    origin: str = Field(
        default=AUDIT_LOG_ORIGIN,
        description="The log's name in its checkpoints; also the name of its signing key.",
    )
    batch_max_records: int = Field(default=500, description="Records appended per transaction.")
    poll_timeout_ms: int = Field(default=500, description="How long one poll of the topic waits.")
    checkpoint_interval_s: float = Field(
        default=5.0,
        description="Sign and publish a checkpoint this often when the tree has grown.",
    )
    start_offset: int = Field(
        default=0,
        ge=0,
        description=(
            "Audit topic offset an empty log starts from. The default 0 logs the whole topic; "
            "a later offset starts a new log (e.g. a new origin) at a known point. Ignored once "
            "the store holds records: then it continues after the last one it logged."
        ),
    )
    access_start_offset: int = Field(
        default=0,
        ge=0,
        description=("The same as start_offset, for the console's access topic (audit.access.v1)."),
    )
    retry_backoff_s: float = Field(
        default=1.0, description="Wait before retrying a batch after a storage failure."
    )
    # IG query API
    api_host: str = "127.0.0.1"
    api_port: int = 18310  # 18300 is the gateway's ops port
    jwks_url: str | None = Field(
        default=None,
        description="JWKS of the identity provider whose access tokens the IG API accepts.",
    )
    token_issuer: str | None = Field(default=None, description="Required `iss` of tokens.")
    token_audience: str = Field(default="safehub-audit", description="Required `aud` of tokens.")
    roles_claim: str = Field(default="roles", description="Claim holding the caller's roles.")
    ig_role: str = Field(default="IG_OFFICER", description="Role an IG query requires.")
    query_limit_max: int = Field(default=1000, description="Most rows one IG query returns.")

    @field_validator("batch_max_records", "poll_timeout_ms", "query_limit_max")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("checkpoint_interval_s", "retry_backoff_s")
    @classmethod
    def _positive_seconds(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("the audit store runs on SQLite (sqlite:///...) or PostgreSQL")
        return value

    def database_url_for(self, hub: HubSettings) -> str:
        """The configured URL, or the default SQLite file under the hub's data directory."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{self.default_sqlite_path(hub)}"

    @staticmethod
    def default_sqlite_path(hub: HubSettings) -> Path:
        return hub.data_dir / "audit" / "audit.db"
