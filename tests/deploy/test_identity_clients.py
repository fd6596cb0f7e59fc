"""The identity provider in a cluster: the hub's clients come from a declared registry (a
ConfigMap `safehub identity clients render` makes), not from services writing into its state
dir; each service reads its client keys from a Secret file named `<client_id>.pem`, so the
operator's copy of those Secrets is the `--keys` folder the registry is rendered from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from services.cli.hub_clients import ClientKind, hub_clients, registers_locally
from services.hubkit.settings import HubSettings

# Which Deployment runs which of the hub's clients (the IG CLI and the erasure job run
# outside the cluster, on an IG officer's machine or as an operator's job).
OWNERS = {
    "safehub-console": "console",
    "console-childindex": "console",
    "safehub-audit-web": "audit",
    "audit-childindex": "audit",
    "gateway-childindex": "gateway",
    "adapter-police": "adapter-police",
    "adapter-health": "adapter-health",
    "adapter-childrens-services": "adapter-childrens-services",
    "adapter-voluntary-sector": "adapter-voluntary-sector",
}


def _deployment(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def _environment(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= maps[source["configMapRef"]["name"]]
    return env | {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _mounted_from(deployment: dict[str, Any], container: dict[str, Any], path: Path) -> Any:
    """The volume source that provides the file `path` in `container`."""
    pod = deployment["spec"]["template"]["spec"]
    mount = next(m for m in container["volumeMounts"] if path.is_relative_to(Path(m["mountPath"])))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return mount, volume


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_the_provider_loads_the_declared_registry_and_keeps_its_state(
    overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = overlays[overlay]
    identity = _deployment(docs, "identity")
    container = identity["spec"]["template"]["spec"]["containers"][0]
    env = _environment(docs, container)
    assert not registers_locally(env["SAFEHUB_IDENTITY_ISSUER"])  # so nobody writes here
    clients_file = Path(env["SAFEHUB_IDENTITY_CLIENTS_FILE"])
    mount, volume = _mounted_from(identity, container, clients_file)
    assert mount["readOnly"] is True
    assert volume["configMap"]["name"] == "identity-clients"
    assert {"key": "clients.json", "path": clients_file.name} in volume["configMap"]["items"]
    state = Path(env["SAFEHUB_DATA_DIR"]) / "identity"  # IdentitySettings.resolved_state_dir
    _, state_volume = _mounted_from(identity, container, state / "issuer-key.pem")
    assert state_volume["persistentVolumeClaim"]["claimName"] == "identity-state"
    assert identity["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_each_service_reads_its_client_keys_from_a_secret_named_for_the_client(
    overlays: dict[str, list[dict[str, Any]]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = overlays[overlay]
    checked = set()
    for client_id, owner in OWNERS.items():
        deployment = _deployment(docs, owner)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for key in [k for k in os.environ if k.startswith("SAFEHUB_")]:
            monkeypatch.delenv(key)
        for key, value in _environment(docs, container).items():
            monkeypatch.setenv(key, value)
        clients = {c.client_id: c for c in hub_clients(HubSettings())}
        client = clients[client_id]
        assert client.kind is not ClientKind.DEVICE
        assert client.key_path is not None
        assert client.key_path.name == f"{client_id}.pem", "the name --keys looks for"
        mount, volume = _mounted_from(deployment, container, client.key_path)
        assert mount.get("readOnly") is True, client_id
        assert "secret" in volume, f"{client_id}: key from a Secret, not a volume it writes"
        checked.add(client_id)
    assert checked == set(OWNERS)
