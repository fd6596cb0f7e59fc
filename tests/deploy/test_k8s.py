"""Every overlay renders with kustomize, and every Deployment in it is hardened."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli.main import parser_for
from services.hubkit.settings import HubSettings
from services.stack.artifacts import ensure_kustomize
from tests.factories import REPO

OVERLAYS = sorted((REPO / "deploy/k8s/overlays").iterdir())


@pytest.fixture(scope="module")
def kustomize() -> Path:
    return ensure_kustomize(HubSettings())


def _render(kustomize: Path, overlay: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(kustomize), "build", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "Deployment"]


def hardening_problems(deployment: dict[str, Any]) -> list[str]:
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    problems = []
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        problems.append(f"{name}: pod must run as non-root")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{name}: no service-account token is needed")
    for container in pod["containers"]:
        ctx = container.get("securityContext", {})
        if not ctx.get("readOnlyRootFilesystem"):
            problems.append(f"{name}: read-only root filesystem")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: privilege escalation must be off")
        if ctx.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: drop ALL capabilities")
        resources = container.get("resources", {})
        if not resources.get("requests") or not resources.get("limits"):
            problems.append(f"{name}: requests and limits")
        if "livenessProbe" not in container or "readinessProbe" not in container:
            problems.append(f"{name}: liveness and readiness probes")
        if any("value" in e and "PASSWORD" in e["name"].upper() for e in container.get("env", [])):
            problems.append(f"{name}: secrets belong in Secrets, not env values")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_renders_hardened_deployments(kustomize: Path, overlay: Path) -> None:
    docs = _render(kustomize, overlay)
    deployments = _deployments(docs)
    assert {d["metadata"]["name"] for d in deployments} >= {"gateway", "audit", "console"}
    problems = [p for d in deployments for p in hardening_problems(d)]
    assert not problems, problems
    for d in deployments:  # every service gets its own ServiceAccount, not the default one
        assert d["spec"]["template"]["spec"]["serviceAccountName"] == d["metadata"]["name"]


def test_production_runs_one_gateway_per_notice_partition(kustomize: Path) -> None:
    docs = _render(kustomize, REPO / "deploy/k8s/overlays/production")
    gateway = next(d for d in _deployments(docs) if d["metadata"]["name"] == "gateway")
    assert gateway["spec"]["replicas"] == 3


def test_the_hardening_check_catches_a_weak_deployment() -> None:
    weak = {
        "metadata": {"name": "weak"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "weak", "env": [{"name": "DB_PASSWORD", "value": "x"}]}]
                }
            }
        },
    }
    assert len(hardening_problems(weak)) == 8


def test_production_uses_tls_end_to_end(kustomize: Path) -> None:
    """Issue 13, defect 6: Kafka SASL_SSL, OPA over HTTPS with token authentication and its
    authz policy as in the local stack, HTTPS services and probes, the CA from a Secret."""
    docs = _render(kustomize, REPO / "deploy/k8s/overlays/production")
    settings = next(d["data"] for d in docs if d["metadata"]["name"].startswith("safehub-settings"))
    assert settings["SAFEHUB_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["SAFEHUB_OPA_URL"].startswith("https://")
    assert settings["SAFEHUB_TLS_CA_FILE"].endswith("/ca.crt")
    assert settings["SAFEHUB_TLS_CERT_FILE"].endswith("/tls.crt")
    deployments = {d["metadata"]["name"]: d for d in _deployments(docs)}
    opa = deployments["opa"]["spec"]["template"]["spec"]["containers"][0]
    assert {
        "--authentication=token",
        "--authorization=basic",
        "--tls-cert-file=/etc/opa/tls/tls.crt",
    } <= set(opa["args"])
    secrets_in_env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in opa["env"] if "valueFrom" in e
    }
    assert secrets_in_env == {"SAFEHUB_OPA_TOKEN": "opa-client-token"}
    assert {"name": "GOGC", "value": "400"} in opa["env"]
    authz = next(d for d in docs if d["metadata"]["name"].startswith("opa-authz"))
    local = REPO / "services/stack/opa/system/authz/authz.rego"
    assert authz["data"]["authz.rego"] == local.read_text(), "keep the two authz copies equal"
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["scheme"] == "HTTPS", name
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        if name != "opa":
            assert {"safehub-tls-ca", f"{name}-tls"} <= secrets, name
        assert ("opa-client-token" in secrets) == (name in {"gateway"}), name


@pytest.mark.parametrize("overlay", sorted((REPO / "deploy/k8s/overlays").iterdir()))
def test_every_container_runs_a_command_the_cli_has(kustomize: Path, overlay: Path) -> None:
    """A manifest that names a `safehub` command must name one that exists (with arguments
    the command takes): `safehub identity serve` was named before it existed."""
    commands = [
        container["command"]
        for deployment in _deployments(_render(kustomize, overlay))
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if container.get("command", [""])[0] == "safehub"
    ]
    assert len(commands) >= 8, "every service's Deployment runs safehub"
    for command in commands:
        arguments = command[1:]  # the manifests put every argument in `command`
        parser_for(arguments).parse_args(arguments)  # SystemExit(2) on an unknown command
