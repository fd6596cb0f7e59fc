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
from services.audit.errors import DatabaseUrlUnreadable, TokenIssuerMissing
from services.audit.storage_sql import default_store_key_path
from services.hubkit.settings import HubSettings

__all__ = [
    "LOCAL_TOKEN_ISSUER",
    "LOG_KEY_NAME",
    "AuditSettings",
    "parse_database_url",
    "read_database_url_file",
]

# The local identity provider (services/identity, `safehub demo` / `safehub identity serve`).
LOCAL_TOKEN_ISSUER = "http://127.0.0.1:18205"

# File stem of the log's signing key: <keys_dir>/private/audit-log.pem (0600) and its public
# half <keys_dir>/trusted/audit-log.pub (PEM) and audit-log.vkey (C2SP verifier key).
LOG_KEY_NAME = "audit-log"

_BACKENDS = ("sqlite:", "postgresql")


def parse_database_url(text: str, *, where: str) -> str:
    """The store URL a file holds (surrounding whitespace, such as a trailing newline, is not
    part of it). DatabaseUrlUnreadable names the file and what is wrong, never its content."""
    url = text.strip()
    if not url:
        raise DatabaseUrlUnreadable(f"{where} is empty: it should hold the audit store's URL")
    if not url.startswith(_BACKENDS) or any(c.isspace() for c in url):
        raise DatabaseUrlUnreadable(
            f"{where} does not hold one audit store URL (sqlite:///<path> or "
            "postgresql+psycopg://<user>:<password>@<host>:<port>/<db>)"
        )
    return url


def read_database_url_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        raise DatabaseUrlUnreadable(
            f"cannot read the audit store's URL from {path} ({type(error).__name__}): mount the "
            "Secret that holds it there, or unset SAFEHUB_AUDIT_DATABASE_URL_FILE"
        ) from None
    return parse_database_url(text, where=str(path))


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
    database_url_file: Path | None = Field(
        default=None,
        description=(
            "A file holding the store's URL, for a URL that carries a password (PostgreSQL "
            "in a deployment: mounted from a Secret, never an environment literal). Read when "
            "the store is opened; database_url, when set, wins."
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
    # The indexer's own health routes (services/audit/indexer_health.py): /healthz, /readyz.
    indexer_host: str = Field(
        default="127.0.0.1", description="Where `safehub audit index` serves its health routes."
    )
    indexer_port: int = Field(
        default=18311,
        ge=0,
        le=65535,
        description="Port of the indexer's health routes (0: any free port).",
    )
    # IG query API
    api_host: str = "127.0.0.1"
    api_port: int = 18310  # 18300 is the gateway's ops port
    # Like every service that checks tokens (hubkit.token_settings), the default is the local
    # identity provider, so `safehub audit api` works on a local stack with nothing set.
    jwks_url: str | None = Field(
        default=None,
        description="JWKS of the identity provider whose access tokens the IG API accepts; "
        "default <token_issuer>/.well-known/jwks.json.",
    )
    token_issuer: str | None = Field(
        default=LOCAL_TOKEN_ISSUER,
        description="Required `iss` of tokens: the local identity provider or your IdP.",
    )
    identity_url: str | None = Field(
        default=None,
        description="Where the IG API itself reaches the identity provider (the sign-in's token "
        "request, the JWKS) when browsers reach it at token_issuer through an ingress: in a "
        "cluster its Service. Default the token issuer.",
    )
    token_audience: str = Field(default="safehub-audit", description="Required `aud` of tokens.")
    service_token_audience: str = Field(
        default="safehub-ingest",
        description="Required `aud` of service clients' client-credentials tokens (an agency's "
        "adapter reading its withdrawals' receipts, scope audit:retractions; issue 18); empty: "
        "IG officers only.",
    )
    roles_claim: str = Field(default="roles", description="Claim holding the caller's roles.")
    ig_role: str = Field(default="IG_OFFICER", description="Role an IG query requires.")
    query_limit_max: int = Field(default=1000, description="Most rows one IG query returns.")
    # IG officers signing in with a browser (ig_session.py): authorization code + PKCE.
    public_url: str = Field(
        default="http://127.0.0.1:18310",
        description="The IG API's URL as a browser reaches it (moves with api_port); its "
        "/ig/callback is the sign-in client's redirect URI.",
    )
    signin_client_id: str = Field(
        default="safehub-audit-web",
        description="The IG API's OIDC client at the identity provider (private_key_jwt).",
    )
    signin_client_key: Path | None = Field(
        default=None,
        description="That client's private key (ES256 PEM, 0600); default "
        "<data_dir>/audit/signin-client.pem.",
    )
    family_approvals_path: Path | None = Field(
        default=None,
        description="SQLite file (0600) of the family reports IG officers approved "
        "(family_approvals.py); default <data_dir>/audit/family-approvals.sqlite.",
    )
    break_glass_reviews_path: Path | None = Field(
        default=None,
        description="SQLite file (0600) of IG officers' reviews of emergency access grants "
        "(break_glass_reviews.py); default <data_dir>/audit/break-glass-reviews.sqlite.",
    )
    store_key_path: Path | None = Field(
        default=None,
        description="The audit store's key (32 random bytes, 0600, made on first start): the "
        "root of the per-child keys that seal the openings of leaves naming a child (issue 18, "
        "services/hubkit/child_keys.py). Default: beside an SQLite store "
        "(<database>.store.key), <keys_dir>/audit/store.key for PostgreSQL. In a deployment "
        "mount it from a Secret kept apart from the store's backups.",
    )
    digest_key_file: Path | None = Field(
        default=None,
        description="Secret key (0600, made on first start) for the keyed digests "
        "(hmac-sha256:) of typed values the IG API logs, such as a subject access request's "
        "reference (hubkit.keyed_digest); default <data_dir>/audit/digest.key. Keep it as "
        "long as the log: a new key cannot match old entries.",
    )
    # Witnesses (issue 19): off unless a policy is configured.
    witness_policy_path: Path | None = Field(
        default=None,
        description="The partners' witness policy (C2SP tlog-policy): `witness <name> <vkey> "
        "<url>` lines and the quorum. When set, the indexer submits every checkpoint to each "
        "witness with a URL and keeps their cosignatures; unset: no witnessing.",
    )
    witness_timeout_s: float = Field(
        default=10.0, gt=0, description="How long one add-checkpoint request to a witness waits."
    )

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
        if value is not None and not value.startswith(_BACKENDS):
            raise ValueError("the audit store runs on SQLite (sqlite:///...) or PostgreSQL")
        return value

    @field_validator("token_issuer", "jwks_url", "identity_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # An empty variable means "not set"; a trailing slash would double in <issuer>/path.
        if value is None:
            return None
        return value.strip().rstrip("/") or None

    def resolved_token_issuer(self) -> str:
        """The issuer whose tokens the IG API accepts; TokenIssuerMissing when set empty."""
        if not self.token_issuer:
            raise TokenIssuerMissing(
                "the IG API checks access tokens against an identity provider, and none is set: "
                "set SAFEHUB_AUDIT_TOKEN_ISSUER (and SAFEHUB_AUDIT_JWKS_URL if its keys are not at "
                "<issuer>/.well-known/jwks.json), or unset it for the local provider "
                f"{LOCAL_TOKEN_ISSUER}"
            )
        return self.token_issuer

    def resolved_identity_url(self) -> str:
        """The provider as this service calls it: identity_url, else the token issuer."""
        return self.identity_url or self.resolved_token_issuer()

    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.resolved_identity_url()}/.well-known/jwks.json"

    def resolved_signin_client_key(self, hub: HubSettings) -> Path:
        return self.signin_client_key or hub.data_dir / "audit" / "signin-client.pem"

    def resolved_family_approvals_path(self, hub: HubSettings) -> Path:
        return self.family_approvals_path or hub.data_dir / "audit" / "family-approvals.sqlite"

    def resolved_break_glass_reviews_path(self, hub: HubSettings) -> Path:
        return (
            self.break_glass_reviews_path or hub.data_dir / "audit" / "break-glass-reviews.sqlite"
        )

    def resolved_digest_key_file(self, hub: HubSettings) -> Path:
        return self.digest_key_file or hub.data_dir / "audit" / "digest.key"

    @property
    def signin_redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/ig/callback"

    def resolved_store_key_path(self, hub: HubSettings) -> Path:
        """Where the store key is: as set, else beside an SQLite store (what `open_store`
        finds by itself, so every opener of one file agrees), else under the keys dir."""
        if self.store_key_path is not None:
            return self.store_key_path
        beside = default_store_key_path(self.database_url_for(hub))
        return beside if beside is not None else hub.keys_dir / "audit" / "store.key"

    def database_url_for(self, hub: HubSettings) -> str:
        """The configured URL, else the one in database_url_file, else the default SQLite
        file under the hub's data directory."""
        if self.database_url is not None:
            return self.database_url
        if self.database_url_file is not None:
            return read_database_url_file(self.database_url_file)
        return f"sqlite:///{self.default_sqlite_path(hub)}"

    @staticmethod
    def default_sqlite_path(hub: HubSettings) -> Path:
        return hub.data_dir / "audit" / "audit.db"
