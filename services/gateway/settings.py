"""Gateway settings (environment prefix SAFEHUB_GATEWAY_ for its own, SAFEHUB_ for shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_GATEWAY_", extra="ignore")

    engine: Literal["opa", "regopy"] = "opa"
    decision_timeout_s: float = Field(default=2.0, gt=0)
    """Budget for one policy query while the engine keeps up; past it the notice is retried,
    never delivered. A query that times out doubles the budget of the next poll, up to
    `decision_timeout_max_s`; it comes back down a step at a time once the engine answers in
    well under the smaller budget (services/gateway/domain/budget.py). A fixed budget
    collapsed under load: the retries were abandoned at the same point while the abandoned
    queries still cost OPA its CPU (bench/scale_out.py)."""
    decision_timeout_max_s: float = Field(default=30.0, gt=0)
    """The most the decision budget grows to while the engine is slow. Set it to
    `decision_timeout_s` for a fixed budget. Below `stall_after_s`, so a poll waiting for a
    slow answer does not fail /healthz."""
    decision_concurrency: int = Field(default=16, ge=1, le=256)
    """Policy queries in flight at once (OPA only; the in-process engine takes one at a time).
    Results are still applied in offset order per partition."""
    decision_batch: int = Field(default=16, ge=1, le=1000)
    """Notices per policy query (OPA's batch entrypoint). A poll's notices are decided in as
    few queries as this allows, run concurrently; the in-process engine takes one at a time.
    Measured on the stack: 16 saves the gateway most of the CPU of one query per notice (0.1
    ms per notice left, from 1), and still spreads a poll over several queries, which OPA
    evaluates on different cores: at 64, p50 latency at 200 notices/s was three times as
    long for the same CPU; at 8 both the gateway and OPA spent more CPU per notice."""
    max_batch: int = Field(default=200, ge=1)
    """At most this many notices per partition per transaction, and per poll."""
    commit_interval_ms: int = Field(default=100, ge=1)
    """A partition's decided notices are committed at least this often: small batches, not one
    transaction per message, and a bounded delay before anything becomes visible."""
    poll_timeout_ms: int = Field(default=200, ge=1)
    retry_backoff_initial_s: float = Field(default=0.2, gt=0)
    """First wait before a notice that could not be decided is tried again; doubles each time."""
    retry_backoff_max_s: float = Field(default=5.0, gt=0)
    seen_load_timeout_s: float = Field(default=120.0, gt=0)
    """Longest a newly assigned partition waits for the record of decided notices
    (`gateway.notices-seen.v1`) to be read; past it the partition is prepared again after a
    back-off, and nothing on it is decided meanwhile (a replay must not slip through)."""
    lag_interval_s: float = Field(default=5.0, gt=0)
    """How often consumer lag is measured for the metrics."""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=18300, ge=0, le=65535)
    """/healthz, /readyz and /metrics; 0 picks a free port."""
    stall_after_s: float = Field(default=60.0, gt=0)
    """/healthz fails when the consume loop has not turned for this long."""
    stall_alert_after_s: float = Field(default=60.0, gt=0)
    """A partition retrying without progress for this long raises the stall alert: an ERROR log
    line and `safehub_gateway_partition_stall_alerts` (the retries go on, fail closed)."""
    max_record_bytes: int = Field(default=1_000_000, ge=4096)
    """Largest record (key + value) the gateway writes. A notice whose audit record, feed item
    or dead letter would be larger can never be written (the broker's `message.max.bytes` is
    1,048,588 by default, with batch overhead on top), so it is dead-lettered as
    RECORD_TOO_LARGE instead of failing its transaction forever. Keep it below the smallest
    `max.message.bytes` of the output topics."""
    relay_contact_role: str = "MASH duty desk"
    relay_contact_organisation: str = "MASH-E09000099"
    relay_contact_telephone: str = "0300 000 0001"
    """Who a subscriber contacts when the decision withholds the notice's contact point and
    either the source agency too or the agency has no `safeguarding_contact` in the policies'
    agencies data (the MASH relay)."""
    child_index_url: str = "http://127.0.0.1:18207"
    """Base URL of the child index (services/childindex; moves with SAFEHUB_CHILDINDEX_PORT).
    Every poll's notices are decided with their children's contexts from it, or not at all."""
    child_index_timeout_s: float = Field(default=2.0, gt=0, le=60)
    """Budget for one context request (the access token included); past it, or on any other
    failure, nothing of the poll is decided and its partitions retry after a backoff."""
    child_index_client_id: str = "gateway-childindex"
    """The gateway's own OAuth2 client for the child index (scope children:context)."""
    child_index_client_key: Path | None = None
    """That client's private key (ES256 PEM, 0600); default <data_dir>/gateway/<client id>.pem."""
    token_endpoint: str = "http://127.0.0.1:18205/token"
    """Where the gateway gets its access token for the child index (client credentials with
    private_key_jwt): the local identity provider, or your IdP's token endpoint."""
    kafka_principal: str = "gateway"
    """SASL principal. Only tests and benchmarks on isolated topics change it (to admin)."""
    namespace: str = ""
    """Isolation for tests and benchmarks: when set, every topic, the consumer group and the
    transactional ids get the prefix `<namespace>.`. Empty in every real deployment."""

    @property
    def relay_contact(self) -> dict[str, str | None]:
        return {
            "role": self.relay_contact_role,
            "organisation": self.relay_contact_organisation,
            "telephone": self.relay_contact_telephone,
            "secure_email": None,
        }

    def resolved_child_index_client_key(self, data_dir: Path) -> Path:
        return self.child_index_client_key or (
            data_dir / "gateway" / f"{self.child_index_client_id}.pem"
        )

    @model_validator(mode="after")
    def _backoff_in_order(self) -> Self:
        if self.retry_backoff_max_s < self.retry_backoff_initial_s:
            raise ValueError("retry_backoff_max_s must be at least retry_backoff_initial_s")
        if self.decision_timeout_max_s < self.decision_timeout_s:
            raise ValueError("decision_timeout_max_s must be at least decision_timeout_s")
        if self.decision_timeout_max_s >= self.stall_after_s:
            raise ValueError(
                "decision_timeout_max_s must be below stall_after_s, or /healthz fails while "
                "a poll waits for a slow policy answer"
            )
        if self.namespace and not self.namespace.replace("-", "").replace("_", "").isalnum():
            raise ValueError("namespace may hold only letters, digits, '-' and '_'")
        return self
