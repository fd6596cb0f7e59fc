"""The pods `podman kube play` runs (services/stack/kube_play.py) are valid Kubernetes objects,
checked like the rendered overlays: strict against the Kubernetes OpenAPI schemas."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from services.hubkit.settings import HubSettings
from services.stack import kube_play
from services.stack.artifacts import ensure_kustomize
from tests.deploy.test_manifests_run import KUBERNETES_VERSION
from tests.factories import REPO

LOCAL_OVERLAY = REPO / "deploy/k8s/overlays/local"

PODS: dict[str, dict[str, Any]] = {
    "kafka": kube_play.kafka_pod(
        image="localhost/safehub-kafka:4.1.2", files_dir=Path("/run/a"), log_dir=Path("/run/b")
    ),
    "opa": kube_play.opa_pod(
        opa_image="localhost/safehub-opa:1.22.2",
        safehub_image="localhost/safehub:0.1.0",
        config_dir=Path("/run/c"),
        bundle_store=Path("/run/d"),
    ),
}


@pytest.mark.parametrize("name", sorted(PODS))
def test_each_pod_matches_the_kubernetes_schema(name: str) -> None:
    kubernetes_validate.validate(PODS[name], KUBERNETES_VERSION, strict=True)


def test_the_check_refuses_a_mistake() -> None:
    pod = kube_play.kafka_pod(image="x", files_dir=Path("/a"), log_dir=Path("/b"))
    pod["spec"]["containers"][0]["imagePullPolicy"] = {"never": True}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_every_deployment_of_the_local_overlay_becomes_a_valid_pod() -> None:
    docs = [
        doc
        for doc in yaml.safe_load_all(
            subprocess.run(
                [str(ensure_kustomize(HubSettings())), "build", str(LOCAL_OVERLAY)],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
        )
        if doc
    ]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} >= {"identity", "gateway", "adapter-police"}
    for deployment in deployments:
        volumes = deployment["spec"]["template"]["spec"].get("volumes", [])
        dirs = {v["name"]: Path("/run/safehub") / v["name"] for v in volumes}
        pod = kube_play.pod_from_deployment(
            deployment, image="localhost/safehub:0.1.0", settings={}, volume_dirs=dirs
        )
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
