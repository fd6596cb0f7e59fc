"""The gateway's one wiring point: settings in, a ready Gateway out."""

from __future__ import annotations

from services.gateway.engines import DecisionEngine, OpaEngine, RegopyEngine, bundle_revision
from services.gateway.service import Gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.settings import HubSettings
from services.hubkit.topology import GATEWAY_PRINCIPAL, load_topology

__all__ = ["build_engine", "build_gateway"]


def build_engine(hub: HubSettings, settings: GatewaySettings) -> DecisionEngine:
    if settings.engine == "regopy":
        return RegopyEngine(hub.policies_dir)
    return OpaEngine(
        hub.opa_url,
        timeout_s=settings.decision_timeout_s,
        revision=bundle_revision(hub.policies_dir),
    )


def build_gateway(
    hub: HubSettings, settings: GatewaySettings, engine: DecisionEngine | None = None
) -> Gateway:
    return Gateway(
        hub=hub,
        settings=settings,
        topology=load_topology(hub.policies_dir),
        catalog=SchemaCatalog(hub.schemas_dir),
        agency_keys=KeyDirectory.load(hub.keys_dir / "trusted"),
        hub_key=load_signing_key(hub.keys_dir, GATEWAY_PRINCIPAL),
        engine=engine or build_engine(hub, settings),
    )
