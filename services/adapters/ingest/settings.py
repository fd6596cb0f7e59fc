"""Adapter settings (environment prefix SAFEHUB_ADAPTER_) and the local port plan.

Local ports (loopback only), used by `safehub adapters serve` and docs/integrators.md:
    18201 police   18202 health   18203 children's services   18204 voluntary sector
    18205 identity (local OAuth2 token endpoint)   18207 child index (keys children)
    18310 audit IG API (who received and acknowledged a retraction)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.hubkit.token_settings import TokenIssuerSettings

__all__ = [
    "ADAPTER_PORTS",
    "AUDIT_API_PORT",
    "CHILD_INDEX_PORT",
    "IDENTITY_PORT",
    "AdapterSettings",
]

ADAPTER_PORTS: dict[str, int] = {
    "POLICE": 18201,
    "HEALTH": 18202,
    "CHILDRENS_SERVICES": 18203,
    "VOLUNTARY_SECTOR": 18204,
}
IDENTITY_PORT = 18205
CHILD_INDEX_PORT = 18207  # services/childindex/settings.py serves here by default
AUDIT_API_PORT = 18310  # services/audit/settings.py serves its IG API here by default


class AdapterSettings(TokenIssuerSettings):
    """Settings every adapter shares (the token issuer and its JWKS: TokenIssuerSettings);
    the hub-wide ones come from HubSettings."""

    model_config = SettingsConfigDict(env_prefix="SAFEHUB_ADAPTER_", extra="ignore")

    # One adapter per pod in a cluster listens on every interface at the container's port;
    # locally every adapter shares loopback, each on its own port (ADAPTER_PORTS).
    host: str = Field(
        default="127.0.0.1", description="Listen address of `safehub adapters serve`."
    )
    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Listen port of a single adapter (`--agency`); default its local port "
        "(ADAPTER_PORTS). The `--port` flag wins over it.",
    )
    token_audience: str = Field(
        default="safehub-ingest",
        description="Audience (`aud`) access tokens must name.",
    )
    agency_claim: str = Field(
        default="agency", description="Token claim naming the agency the client acts for."
    )
    token_endpoint: str | None = Field(
        default=None,
        description="Where the adapter gets its own access token for the child index (client "
        "credentials, private_key_jwt); default <token_issuer>/token.",
    )
    state_dir: Path | None = Field(
        default=None,
        description="Where idempotency stores (and, by default, the adapter's child index "
        "client key) live; default <data_dir>/adapters.",
    )
    # The child index keys each child (services/childindex): the adapter sends it the
    # identifiers it holds and never holds the linkage secret itself.
    child_index_url: str = Field(
        default=f"http://127.0.0.1:{CHILD_INDEX_PORT}",
        description="Base URL of the child index (moves with SAFEHUB_CHILDINDEX_PORT).",
    )
    child_index_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a call to the child index (or for its token) may take before "
        "the record is answered 503 child-index-unavailable.",
    )
    child_index_client_id: str | None = Field(
        default=None,
        description="The adapter's own OAuth2 client for the child index (scope "
        "children:resolve); default adapter-<agency>, e.g. adapter-police.",
    )
    child_index_client_key: Path | None = Field(
        default=None,
        description="That client's private key (ES256 PEM, 0600); default "
        "<state_dir>/<client id>.pem.",
    )
    # Who received a retraction and who acknowledged it is the audit service's record
    # (issue 18); the adapter asks it as its own client (the child index client above, scope
    # audit:retractions) and holds no copy.
    audit_url: str | None = Field(
        default=f"http://127.0.0.1:{AUDIT_API_PORT}",
        description="Base URL of the audit service's IG API, asked for a retraction's "
        "receipts (GET /v1/retractions/{id}); empty: not configured, that route answers 503.",
    )
    audit_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="How long a call to the audit service (or for its token) may take before "
        "GET /v1/retractions/{id} answers 503 audit-unavailable.",
    )
    max_batch_rows: int = Field(default=10_000, ge=1)
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description=(
            "Largest CSV upload (multipart/form-data) request body, in bytes; a larger one is "
            "refused with 413 before (Content-Length) or while (chunked) it is read."
        ),
    )
    max_json_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest JSON request body, in bytes; a larger one is refused with 413.",
    )
    max_json_depth: int = Field(
        default=32,
        ge=4,
        le=256,
        description=(
            "Deepest nesting of objects and arrays in a JSON body; deeper is refused with 422 "
            "before the body is parsed (no native format nests anywhere near this deep)."
        ),
    )
    max_csv_cell_chars: int = Field(
        default=20_000,
        ge=100,
        # Python's csv module refuses cells over 131072 characters on its own; a limit above
        # that could never be reached.
        le=131_072,
        description=(
            "Longest CSV cell, in characters (the longest free-text field is 20,000); a longer "
            "cell rejects the whole upload with 422."
        ),
    )
    # Both notice limits are backstops: the field limits keep every valid record well under
    # them (docs/integrators.md, "Field and notice size limits", has the worst case).
    max_notice_bytes: int = Field(
        default=640 * 1024,
        ge=1024,
        description=(
            "Largest signed notice (the Avro envelope produced to notices.<agency>.v1, with "
            "the agency's per-field signatures, which take about 1.4 times the notice "
            "itself), in bytes; a larger one is refused with 413 notice-too-large and nothing "
            "is published. The gateway copies the envelope into a dead letter when it cannot "
            "process it, and every record it writes must stay under its max_record_bytes "
            "(1,000,000) and the broker's message.max.bytes (1 MiB): 640 KiB leaves room for "
            "the dead letter's own fields."
        ),
    )
    max_notice_view_bytes: int = Field(
        default=768 * 1024,
        ge=1024,
        description=(
            "Largest notice as compact JSON with every non-ASCII character escaped as "
            "\\uXXXX (up to 12 bytes for one character that takes 4 in the signed notice; an "
            "upper bound of the gateway's UTF-8 view), in bytes; a larger one is refused with 413 "
            "notice-too-large. The fullest view is the whole notice, and a feed item carries "
            "it with its explanation and lawful basis in one record of at most 1,000,000 "
            "bytes: 768 KiB leaves over 200 KB for the rest."
        ),
    )
    claim_lease_s: float = Field(
        default=120.0,
        gt=0,
        description="A claim older than this is taken to belong to a crashed request.",
    )
    in_flight_wait_s: float = Field(
        default=30.0, gt=0, description="How long a duplicate waits for the first request."
    )

    def resolved_token_endpoint(self) -> str:
        return self.token_endpoint or f"{self.token_issuer}/token"

    def resolved_child_index_client_id(self, agency: str) -> str:
        return self.child_index_client_id or f"adapter-{agency.lower().replace('_', '-')}"

    def resolved_child_index_client_key(self, data_dir: Path, client_id: str) -> Path:
        return self.child_index_client_key or (
            (self.state_dir or data_dir / "adapters") / f"{client_id}.pem"
        )

    def store_path(self, data_dir: Path, agency: str) -> Path:
        base = self.state_dir or data_dir / "adapters"
        return base / f"{agency.lower()}-idempotency.sqlite3"
