"""Two gaps the manifests had, closed: the audit indexer runs (its own Deployment on
PostgreSQL in production; beside the API on SQLite locally), and each pod connects to Kafka
with the Secrets the Strimzi User Operator writes, for exactly the principals its code uses."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from services.console.settings import ConsoleSettings
from services.gateway.settings import GatewaySettings
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_PRINCIPAL,
    CHILDINDEX_PRINCIPAL,
    CONSOLE_PRINCIPAL,
    CPIS_PRINCIPAL,
    CPIS_REGISTER_SUBSCRIBER,
    load_topology,
)
from tests.factories import REPO

OVERLAY_NAMES = ("local", "production")


def _deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in _pod(deployment)["containers"] if c["name"] == name)


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _volume(deployment: dict[str, Any], mount_path: str, container: str) -> dict[str, Any]:
    """The volume mounted at `mount_path` (or the one holding it) in `container`."""
    mounts = _container(deployment, container)["volumeMounts"]
    mount = next(m for m in mounts if mount_path.startswith(m["mountPath"] + "/"))
    return next(v for v in _pod(deployment)["volumes"] if v["name"] == mount["name"])


# --- the audit indexer ----------------------------------------------------------------------


def test_production_runs_one_indexer_on_postgresql_from_a_secret(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    deployments = _deployments(overlays["production"])
    indexer = deployments["audit-indexer"]
    assert indexer["spec"]["replicas"] == 1
    assert indexer["spec"]["strategy"] == {"type": "Recreate"}  # never two writers at once
    assert _container(indexer, "audit-indexer")["command"] == ["safehub", "audit", "index"]
    for name in ("audit", "audit-indexer"):
        env = _env(_container(deployments[name], name))
        assert "SAFEHUB_AUDIT_DATABASE_URL" not in env, "the URL carries a password"
        url_file = env["SAFEHUB_AUDIT_DATABASE_URL_FILE"]
        volume = _volume(deployments[name], url_file, name)
        assert volume["secret"]["secretName"] == "audit-database", name
        assert url_file.endswith("/" + volume["secret"]["items"][0]["path"])
        # Both open one store, so both derive the same child keys from one store key.
        key = _volume(deployments[name], env["SAFEHUB_AUDIT_STORE_KEY_PATH"], name)
        assert key["secret"]["secretName"] == "audit-store-key"
    # The API neither reads Kafka nor signs: no broker credential, no log key.
    api_volumes = {v["name"] for v in _pod(deployments["audit"])["volumes"]}
    assert not {"credentials", "keys"} & api_volumes


def test_the_indexer_reaches_kafka_postgresql_and_witnesses_only(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    policies = {
        d["metadata"]["name"]: d["spec"]
        for d in overlays["production"]
        if d["kind"] == "NetworkPolicy"
    }
    indexer = policies["audit-indexer"]
    assert indexer["ingress"] == []
    ports = {p["port"] for rule in indexer["egress"] for p in rule["ports"]}
    assert ports == {9092, 9093, 5432, 443}
    api_ports = {p["port"] for rule in policies["audit"]["egress"] for p in rule["ports"]}
    assert 5432 in api_ports
    assert not {9092, 9093, 443} & api_ports


def test_locally_the_indexer_shares_the_audit_pod_and_its_sqlite_volume(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    docs = overlays["local"]
    deployments = _deployments(docs)
    assert "audit-indexer" not in deployments
    audit = deployments["audit"]
    assert audit["spec"]["replicas"] == 1
    assert audit["spec"]["strategy"] == {"type": "Recreate"}
    api, indexer = (_container(audit, n) for n in ("audit", "audit-indexer"))
    assert indexer["command"] == ["safehub", "audit", "index"]
    assert indexer["image"] == api["image"] != "safehub"  # the base's image rewrite reaches it
    for container in (api, indexer):
        # No URL: the default SQLite file <data_dir>/audit/audit.db, on the shared volume.
        assert "SAFEHUB_AUDIT_DATABASE_URL_FILE" not in _env(container)
        assert _env(container)["SAFEHUB_DATA_DIR"] == "/var/lib/safehub"
        store = _volume(audit, "/var/lib/safehub/audit/audit.db", container["name"])
        assert store["persistentVolumeClaim"]["claimName"] == "audit-state"
    assert {p["containerPort"] for p in api["ports"]}.isdisjoint(
        {p["containerPort"] for p in indexer["ports"]}
    )
    assert "audit-database" not in {v["name"] for v in _pod(audit)["volumes"]}
    policy = next(
        d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "audit"
    )
    assert 9092 in {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("PersistentVolumeClaim", "audit-state") in names
    assert ("NetworkPolicy", "audit-indexer") not in names


# --- Kafka credentials: the operator's Secrets, the code's principals -----------------------


def _principals_by_deployment() -> dict[str, set[str]]:
    """Which principals each service connects as, from the code's own sources."""
    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    console = ConsoleSettings()
    feeds = {s.subscriber_id: s.principal for s in topology.subscribers}
    return {
        "gateway": {GatewaySettings().kafka_principal},
        "audit-indexer": {AUDIT_PRINCIPAL},
        "childindex": {CHILDINDEX_PRINCIPAL},
        "console": {CONSOLE_PRINCIPAL, topology.agency("MASH").principal}
        | {s.principal for s in topology.subscribers if s.role in console.console_roles},
        "cpis": {CPIS_PRINCIPAL, feeds[CPIS_REGISTER_SUBSCRIBER]},
        **{
            f"adapter-{slug}": {f"adapter-{slug}"}
            for slug in ("police", "health", "childrens-services", "voluntary-sector")
        },
        # Neither the IG API nor the identity provider uses Kafka.
        "audit": set(),
        "identity": set(),
    }


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_each_pod_mounts_the_operators_secret_of_each_principal_it_uses(
    overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    kafka_users = {
        d["metadata"]["name"]
        for d in yaml.safe_load_all((REPO / "deploy/k8s/base/kafka.yaml").read_text())
        if d and d["kind"] == "KafkaUser"
    }
    expected = _principals_by_deployment()
    if overlay == "local":  # the indexer runs in the audit pod
        expected["audit"] = expected.pop("audit-indexer")
    deployments = {n: d for n, d in _deployments(overlays[overlay]).items() if n != "opa"}
    assert set(deployments) == set(expected)
    for name, deployment in deployments.items():
        volume = next((v for v in _pod(deployment)["volumes"] if v["name"] == "credentials"), None)
        if not expected[name]:
            assert volume is None, f"{name} connects to no broker"
            continue
        assert volume is not None, name
        mounted = {}
        for source in volume["projected"]["sources"]:
            secret = source["secret"]
            assert secret["items"] == [{"key": "password", "path": f"{secret['name']}/password"}], (
                f"{name}: the Secret as the operator writes it, at <user>/password"
            )
            mounted[secret["name"]] = secret
        assert set(mounted) == expected[name], name
        assert set(mounted) <= kafka_users, f"{name}: a Secret no KafkaUser makes"
        for container in _pod(deployment)["containers"]:
            if any(m["name"] == "credentials" for m in container["volumeMounts"]):
                mount = next(m for m in container["volumeMounts"] if m["name"] == "credentials")
                # HubSettings.credentials_dir under SAFEHUB_DATA_DIR.
                assert mount["mountPath"] == f"{_env(container)['SAFEHUB_DATA_DIR']}/credentials"
    rendered_secrets = [
        v.get("secret", {}).get("secretName", "")
        for d in deployments.values()
        for v in _pod(d)["volumes"]
    ]
    assert not [s for s in rendered_secrets if s.endswith(("-kafka-credential", "-credentials"))]
