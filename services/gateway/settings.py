"""Gateway settings (environment prefix SAFEHUB_GATEWAY_ for its own, SAFEHUB_ for shared)."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_GATEWAY_", extra="ignore")

    engine: Literal["opa", "regopy"] = "opa"
    decision_timeout_s: float = 2.0
    """Budget for one policy query; past it the notice is retried, never delivered."""
    max_batch: int = 200
    """Notices per partition per transaction: small batches, not one commit per message."""
    poll_timeout_ms: int = 200
    retry_backoff_initial_s: float = 0.2
    retry_backoff_max_s: float = 5.0
