"""Settings of the policy tooling (environment prefix `SAFEHUB_POLICY_`).

Where published bundles live and where the loopback bundle service listens. The rest (data
dir, OPA address, policies folder) is shared with every service in `HubSettings`.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PolicySettings"]


class PolicySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_POLICY_", extra="ignore")

    bundle_server_addr: str = "127.0.0.1:18182"
    """The loopback bundle service OPA polls for the published, signed bundle."""
