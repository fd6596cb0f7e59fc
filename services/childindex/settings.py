"""Child index settings (environment prefix SAFEHUB_CHILDINDEX_). Hub-wide ones (data and key
directories, TLS) come from HubSettings.

Variables that move together: `SAFEHUB_CHILDINDEX_PORT` and the adapters'
`SAFEHUB_ADAPTER_CHILD_INDEX_URL`; the token issuer and its JWKS URL (default
`<issuer>/.well-known/jwks.json`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.childindex.search import SEARCH_MIN_SCORE
from services.hubkit.auth import RESOLVE_CHILDREN_SCOPE
from services.hubkit.token_settings import TokenIssuerSettings

__all__ = ["CHILD_INDEX_PORT", "ChildIndexSettings"]

CHILD_INDEX_PORT = 18207


def _adapter_agencies() -> tuple[str, ...]:
    return ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")


class ChildIndexSettings(TokenIssuerSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_CHILDINDEX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=CHILD_INDEX_PORT, ge=0, le=65535)
    # Access tokens: agency adapters' own clients (OAuth2 client credentials). Issuer and
    # JWKS: TokenIssuerSettings.
    token_audience: str = Field(
        default="safehub-ingest",
        description="Required `aud` of tokens (the audience client-credentials tokens carry).",
    )
    agency_claim: str = Field(
        default="agency", description="Token claim naming the agency the client acts for."
    )
    required_scope: str = Field(
        default=RESOLVE_CHILDREN_SCOPE,
        description="Scope a token needs: granted to the adapters' own clients, never to an "
        "integrator's.",
    )
    allowed_agencies: tuple[str, ...] = Field(
        default_factory=_adapter_agencies,
        description="Agencies whose adapters may ask for keys (the token's agency claim).",
    )
    secret_path: Path | None = Field(
        default=None,
        description="The linkage secret (32 bytes, 0600); default <keys_dir>/linkage.secret.",
    )
    max_body_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description="Largest request body; a larger one is refused with 413 before it is read.",
    )
    max_batch: int = Field(
        default=1000, ge=1, le=10_000, description="Most children in one batch request."
    )

    search_min_score: float = Field(
        default=SEARCH_MIN_SCORE,
        ge=0,
        le=1,
        description="Matches scoring below this are left out of a search's answer.",
    )

    store_path: Path | None = Field(
        default=None,
        description="The index's SQLite store (records, children, reviews, context; 0600); "
        "default <data_dir>/childindex/index.sqlite.",
    )
    store_key_path: Path | None = Field(
        default=None,
        description="32-byte key sealing the index's personal data (created on first start, "
        "0600); default <keys_dir>/childindex/store.key.",
    )
    announce_poll_s: float = Field(
        default=5.0, gt=0, description="How often waiting LINKAGE_CHANGED events are retried."
    )
    announce_alert_after_s: float = Field(
        default=60.0, gt=0, description="Unannounced this long: an ERROR log line (an alert)."
    )

    def resolved_store_path(self, data_dir: Path) -> Path:
        return self.store_path or data_dir / "childindex" / "index.sqlite"

    def resolved_store_key_path(self, keys_dir: Path) -> Path:
        return self.store_key_path or keys_dir / "childindex" / "store.key"

    def resolved_secret_path(self, keys_dir: Path) -> Path:
        return self.secret_path or keys_dir / "linkage.secret"
