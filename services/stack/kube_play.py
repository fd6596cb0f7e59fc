"""Pods for `podman kube play` from the locally built images: pure rendering.

A single KRaft Kafka node as a plain Pod (kube play cannot run Strimzi's resources), rendered
from the same `services/stack/config.py` functions the local runner uses: SCRAM listener,
every topology principal's SCRAM user created at format time, the standard authorizer with no
access without an ACL. The Pod itself holds no secret: the server properties (with the broker's
and controller's passwords) and the start script (with the principals' passwords for
`StorageTool format --add-scram`) are files in a run-time directory mounted read-only
(`KafkaFiles`), written by the caller (mode 0400, owned by the image's user) and never
committed.

The hardening matches deploy/k8s/base: uid/gid 10001, read-only root filesystem, no privilege
escalation, every capability dropped.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.hubkit.policy_contract import BUNDLE_NAME
from services.hubkit.topology import AclGrant
from services.stack import config
from services.stack.config import BROKER_USER, Endpoint, KafkaServerConfig
from services.stack.images import (
    ACL_BATCH_DIR,
    IMAGE_GID,
    IMAGE_UID,
    KAFKA_LIBS_DIR,
    OPA_BINARY,
)

__all__ = [
    "BUNDLE_SERVER",
    "KAFKA_CLIENT",
    "KAFKA_CONFIG_DIR",
    "KAFKA_LOG_DIR",
    "KAFKA_POD",
    "OPA_POD",
    "OPA_PORT",
    "KafkaFiles",
    "VolumeNotProvided",
    "acl_batch_argv",
    "hardened_container_security",
    "kafka_files",
    "kafka_pod",
    "opa_config",
    "opa_pod",
    "pod_from_deployment",
]

KAFKA_POD = "kafka"
# Pods on podman's kube network reach each other by pod name (aardvark-dns).
KAFKA_CLIENT = Endpoint(KAFKA_POD, 9092)
KAFKA_CONTROLLER_PORT = 9093
KAFKA_CONFIG_DIR = Path("/etc/safehub-kafka")
KAFKA_LOG_DIR = Path("/var/lib/kafka/data")


@dataclass(frozen=True, slots=True)
class KafkaFiles:
    """The broker's run-time files (secrets inside): name -> content."""

    server_properties: str
    start_script: str
    tools_properties: str
    """Kafka's CLI tools as the broker user (a super user): for applying the ACLs."""
    acl_jobs: str
    """The topology's ACLs as AclCommand calls, one per line (`config.render_acl_batch_jobs`)."""

    def items(self) -> tuple[tuple[str, str], ...]:
        return (
            ("server.properties", self.server_properties),
            ("start.sh", self.start_script),
            ("tools.properties", self.tools_properties),
            ("acl-jobs.tsv", self.acl_jobs),
        )


def kafka_files(
    *,
    cluster_id: str,
    broker_password: str,
    controller_password: str,
    principal_passwords: Mapping[str, str],
    grants: Iterable[AclGrant],
) -> KafkaFiles:
    properties = KAFKA_CONFIG_DIR / "server.properties"
    server = config.render_server_properties(
        KafkaServerConfig(
            client=KAFKA_CLIENT,
            controller_port=KAFKA_CONTROLLER_PORT,
            log_dir=KAFKA_LOG_DIR,
            broker_password=broker_password,
            controller_password=controller_password,
        )
    )
    libs = Path(KAFKA_LIBS_DIR)
    fmt = config.kafka_tool_argv(
        java="java",
        libs_dir=libs,
        main_class="kafka.tools.StorageTool",
        args=config.storage_format_args(
            cluster_id=cluster_id,
            server_properties=properties,
            scram_passwords={**principal_passwords, BROKER_USER: broker_password},
        ),
    )
    run = config.kafka_server_argv(java="java", libs_dir=libs, server_properties=properties)
    script = (
        "#!/bin/sh\n"
        "# Rendered by services/stack/kube_play.py; holds SCRAM passwords (mode 0400).\n"
        "set -eu\n"
        # Format once: a restarted pod keeps its log directory and its users.
        f"if [ ! -f {KAFKA_LOG_DIR}/meta.properties ]; then\n"
        f"  {shlex.join(fmt)} > /dev/null\n"
        "fi\n"
        f"exec {shlex.join(run)}\n"
    )
    tools = KAFKA_CONFIG_DIR / "tools.properties"
    jobs = config.render_acl_batch_jobs(
        config.acl_command_args(batch, action="add", bootstrap=KAFKA_CLIENT, command_config=tools)
        for batch in config.group_grants(grants)
    )
    return KafkaFiles(
        server_properties=server,
        start_script=script,
        tools_properties=config.render_client_properties(BROKER_USER, broker_password),
        acl_jobs=jobs,
    )


def acl_batch_argv() -> tuple[str, ...]:
    """Applies `KafkaFiles.acl_jobs` in one JVM inside the broker's container."""
    return config.kafka_tool_argv(
        java="java",
        libs_dir=Path(KAFKA_LIBS_DIR),
        main_class=config.ACL_BATCH_CLASS,
        args=[str(KAFKA_CONFIG_DIR / "acl-jobs.tsv")],
        extra_classpath=Path(ACL_BATCH_DIR),
    )


def hardened_container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "runAsGroup": IMAGE_GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def kafka_pod(*, image: str, files_dir: Path, log_dir: Path) -> dict[str, Any]:
    """The broker Pod; `files_dir` holds `kafka_files`, `log_dir` is its (writable) log dir."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": KAFKA_POD,
            "labels": {"app.kubernetes.io/name": "kafka", "app.kubernetes.io/part-of": "safehub"},
        },
        "spec": {
            "restartPolicy": "OnFailure",
            "securityContext": _pod_security(),
            "containers": [
                {
                    "name": "broker",
                    "image": image,
                    # Built on this machine (`safehub images build`); there is no registry.
                    "imagePullPolicy": "Never",
                    "command": ["sh", str(KAFKA_CONFIG_DIR / "start.sh")],
                    # No `ports`: podman would publish them on the host (_NOT_PLAYED).
                    "volumeMounts": [
                        {"name": "config", "mountPath": str(KAFKA_CONFIG_DIR), "readOnly": True},
                        {"name": "data", "mountPath": str(KAFKA_LOG_DIR)},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                    "securityContext": hardened_container_security(),
                    "resources": {"limits": {"memory": "1536Mi"}},
                }
            ],
            "volumes": [
                {"name": "config", "hostPath": {"path": str(files_dir), "type": "Directory"}},
                {"name": "data", "hostPath": {"path": str(log_dir), "type": "Directory"}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


# --- OPA -------------------------------------------------------------------------------------

OPA_POD = "opa"
OPA_PORT = 8181
# The bundle service runs beside OPA in its pod and listens on the pod's own loopback: only
# OPA reaches it (pods share one network namespace).
BUNDLE_SERVER = Endpoint("127.0.0.1", 8282)
_OPA_CONFIG_DIR = Path("/etc/safehub-opa")
_BUNDLE_ROOT = Path("/var/lib/safehub/policy-bundles")
_OPA_PERSIST = Path("/var/lib/opa")


def opa_config(*, key_id: str, public_key_pem: str, signing_algorithm: str) -> str:
    """OPA's configuration as the local stack renders it: the one signed bundle, verified
    against the IG's public key (the file holds no secret)."""
    return config.render_opa_bundle_config(
        bundle_service=BUNDLE_SERVER,
        bundle_name=BUNDLE_NAME,
        key_id=key_id,
        public_key_pem=public_key_pem,
        signing_algorithm=signing_algorithm,
        persistence_dir=_OPA_PERSIST,
    )


def opa_pod(
    *, opa_image: str, safehub_image: str, config_dir: Path, bundle_store: Path
) -> dict[str, Any]:
    """OPA and its bundle service. `config_dir` holds `config.json` (`opa_config`);
    `bundle_store` is a published, signed store (`services.policy.publish.BundleStore`)."""
    opa_argv = config.opa_argv(
        opa=Path(OPA_BINARY),
        addr=Endpoint("0.0.0.0", OPA_PORT),
        config_file=_OPA_CONFIG_DIR / "config.json",
    )
    bundles_argv = config.bundle_server_argv(
        python="python3", root=_BUNDLE_ROOT, addr=BUNDLE_SERVER
    )
    tmp = {"name": "tmp", "mountPath": "/tmp"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": OPA_POD,
            "labels": {"app.kubernetes.io/name": "opa", "app.kubernetes.io/part-of": "safehub"},
        },
        "spec": {
            "restartPolicy": "OnFailure",
            "securityContext": _pod_security(),
            "containers": [
                {
                    "name": "opa",
                    "image": opa_image,
                    "imagePullPolicy": "Never",
                    "command": list(opa_argv),
                    "volumeMounts": [
                        {"name": "config", "mountPath": str(_OPA_CONFIG_DIR), "readOnly": True},
                        {"name": "persist", "mountPath": str(_OPA_PERSIST)},
                        tmp,
                    ],
                    "securityContext": hardened_container_security(),
                },
                {
                    "name": "bundles",
                    "image": safehub_image,
                    "imagePullPolicy": "Never",
                    "command": list(bundles_argv),
                    "volumeMounts": [
                        {"name": "bundles", "mountPath": str(_BUNDLE_ROOT), "readOnly": True},
                        tmp,
                    ],
                    "securityContext": hardened_container_security(),
                },
            ],
            "volumes": [
                {"name": "config", "hostPath": {"path": str(config_dir), "type": "Directory"}},
                {"name": "bundles", "hostPath": {"path": str(bundle_store), "type": "Directory"}},
                {"name": "persist", "emptyDir": {}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


# --- the hub's services, from the rendered overlay ---------------------------------------------

_SAFEHUB_IMAGES = ("safehub", "registry.invalid/safehub")
# Left out of a played container: the ConfigMap reference (its values are inlined), probes
# (see pod_from_deployment) and ports: podman publishes a containerPort without a hostPort on
# the host's own interfaces, where two pods' 8080 collide; pods reach each other on the kube
# network whatever the spec declares.
_NOT_PLAYED = frozenset({"envFrom", "livenessProbe", "readinessProbe", "startupProbe", "ports"})


class VolumeNotProvided(ValueError):
    """A Deployment mounts a Secret, ConfigMap or claim the caller gave no directory for."""


def pod_from_deployment(
    deployment: Mapping[str, Any],
    *,
    image: str,
    settings: Mapping[str, str],
    volume_dirs: Mapping[str, Path],
) -> dict[str, Any]:
    """A plain Pod for `podman kube play` from one rendered Deployment: the same commands,
    environment, hardening and mounts, with

    - the locally built `image` (never pulled) for the safehub containers;
    - `settings` in place of the `safehub-settings` ConfigMap (`envFrom`); a variable the
      container sets itself still wins, as in Kubernetes;
    - every Secret, projected Secret, ConfigMap or claim volume a `hostPath` directory from
      `volume_dirs` (by volume name), filled by the caller at run time; emptyDir stays;
    - no probes: podman would run them as commands inside the container (curl), which the
      image does not have; the caller asks the same routes over the pods' network instead;
    - no ports: podman would publish each on the host (see `_NOT_PLAYED`).
    """
    template = deployment["spec"]["template"]
    spec = dict(template["spec"])
    for key in ("serviceAccountName", "automountServiceAccountToken"):
        spec.pop(key, None)
    containers = []
    for original in spec["containers"]:
        container = {k: v for k, v in original.items() if k not in _NOT_PLAYED}
        if str(original["image"]).split(":")[0] in _SAFEHUB_IMAGES:
            container["image"] = image
            container["imagePullPolicy"] = "Never"
        own = {e["name"] for e in original.get("env", [])}
        inherited = [{"name": k, "value": v} for k, v in sorted(settings.items()) if k not in own]
        container["env"] = inherited + list(original.get("env", []))
        containers.append(container)
    spec["containers"] = containers
    volumes = []
    for volume in spec.get("volumes", []):
        if "emptyDir" in volume:
            volumes.append(volume)
            continue
        directory = volume_dirs.get(volume["name"])
        if directory is None:
            kind = next(k for k in volume if k != "name")
            raise VolumeNotProvided(
                f"{deployment['metadata']['name']}: volume {volume['name']!r} ({kind}) has no "
                "run-time directory"
            )
        volumes.append(
            {"name": volume["name"], "hostPath": {"path": str(directory), "type": "Directory"}}
        )
    spec["volumes"] = volumes
    spec["restartPolicy"] = "OnFailure"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": deployment["metadata"]["name"],
            "labels": dict(template["metadata"].get("labels", {})),
        },
        "spec": spec,
    }
