"""The image recipes and the kube-play Kafka pod, as data: no registry, the manifests' user,
inputs that decide a rebuild, and no secret in a pod spec."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology
from services.stack import config, images, kube_play
from services.stack.images import PYTHON_ROOTFS, RootfsSpec


def test_root_filesystems_come_from_debian_only() -> None:
    argv = images.mmdebstrap_argv("mmdebstrap", PYTHON_ROOTFS, Path("/tmp/out.tar"))
    assert argv[-3:] == ["bookworm", "/tmp/out.tar", "http://deb.debian.org/debian"]
    assert "--include=" + ",".join(PYTHON_ROOTFS.packages) in argv
    assert "python3" in PYTHON_ROOTFS.packages
    assert "openjdk-17-jre-headless" in images.JAVA_ROOTFS.packages


def test_a_rootfs_is_cached_by_what_shapes_it() -> None:
    key = images.rootfs_key(PYTHON_ROOTFS)
    assert key == images.rootfs_key(RootfsSpec("python", tuple(reversed(PYTHON_ROOTFS.packages))))
    assert key != images.rootfs_key(RootfsSpec("python", (*PYTHON_ROOTFS.packages, "curl")))
    assert key != images.rootfs_key(RootfsSpec("python", PYTHON_ROOTFS.packages, suite="trixie"))


def test_the_tree_digest_sees_every_change_and_no_order() -> None:
    files = [("services/a.py", b"x = 1\n"), ("policies/b.rego", b"package b\n")]
    digest = images.tree_digest(files)
    assert digest == images.tree_digest(list(reversed(files)))
    assert digest != images.tree_digest([files[0], ("policies/b.rego", b"package c\n")])
    assert digest != images.tree_digest([files[0], ("policies/c.rego", b"package b\n")])
    assert digest != images.tree_digest(files[:1])


def test_images_run_as_the_manifests_user() -> None:
    config_ = images.ImageConfig(env={"PATH": images.PATH_IN_IMAGE}, cmd=["safehub"], labels={})
    argv = images.buildah_config_argv("buildah", "ctr", config_)
    assert argv[argv.index("--user") + 1] == "10001:10001"
    passwd, group = images.account_lines()
    assert passwd.split(":")[2:4] == ["10001", "10001"]
    assert group.split(":")[2] == "10001"
    assert images.PATH_IN_IMAGE.startswith(f"{images.VENV_DIR}/bin:")


def test_the_runtime_tree_holds_what_the_services_load() -> None:
    assert {"services", "schemas", "policies", "pyproject.toml"} <= set(images.APP_PATHS)
    assert "tests" not in images.APP_PATHS


def _files() -> tuple[kube_play.KafkaFiles, dict[str, str], list[str]]:
    topology = load_topology(HubSettings().policies_dir)
    passwords = {p: secrets.token_urlsafe(24) for p in topology.principals}
    internal = [secrets.token_urlsafe(24), secrets.token_urlsafe(24)]
    files = kube_play.kafka_files(
        cluster_id=config.cluster_id_from_bytes(secrets.token_bytes(16)),
        broker_password=internal[0],
        controller_password=internal[1],
        principal_passwords=passwords,
        grants=topology.acl_grants(),
    )
    return files, passwords, internal


def test_the_broker_is_the_local_runners_with_every_principal() -> None:
    files, passwords, _ = _files()
    properties = dict(
        line.split("=", 1) for line in files.server_properties.splitlines() if "=" in line
    )
    assert properties["advertised.listeners"] == "CLIENT://kafka:9092"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
    for principal in passwords:
        assert f"[name={principal},password={passwords[principal]}]" in files.start_script
    topology = load_topology(HubSettings().policies_dir)
    jobs = files.acl_jobs.splitlines()
    assert len(jobs) == len(config.group_grants(topology.acl_grants()))
    assert all("--command-config\t/etc/safehub-kafka/tools.properties" in job for job in jobs)


def test_the_pod_is_hardened_and_holds_no_secret() -> None:
    _, passwords, internal = _files()
    pod = kube_play.kafka_pod(
        image="localhost/safehub-kafka:4.1.2", files_dir=Path("/run/x"), log_dir=Path("/run/y")
    )
    text = yaml.safe_dump(pod)
    assert not any(secret in text for secret in [*passwords.values(), *internal])
    spec = pod["spec"]
    assert spec["securityContext"]["runAsUser"] == 10001
    (container,) = spec["containers"]
    assert container["imagePullPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    config_mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert config_mount["readOnly"] is True


def _deployment() -> dict[str, Any]:
    return {
        "metadata": {"name": "identity"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "identity"}},
                "spec": {
                    "serviceAccountName": "identity",
                    "securityContext": {"runAsUser": 10001},
                    "containers": [
                        {
                            "name": "identity",
                            "image": "registry.invalid/safehub:0.1.0",
                            "command": ["safehub", "identity", "serve"],
                            "envFrom": [{"configMapRef": {"name": "safehub-settings"}}],
                            "env": [{"name": "SAFEHUB_IDENTITY_PORT", "value": "8080"}],
                            "livenessProbe": {"httpGet": {"path": "/x", "port": "http"}},
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ],
                    "volumes": [
                        {"name": "state", "persistentVolumeClaim": {"claimName": "s"}},
                        {"name": "clients", "configMap": {"name": "identity-clients"}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            }
        },
    }


def test_a_deployment_becomes_a_pod_of_the_local_image() -> None:
    pod = kube_play.pod_from_deployment(
        _deployment(),
        image="localhost/safehub:0.1.0",
        settings={"SAFEHUB_IDENTITY_PORT": "80", "SAFEHUB_KAFKA_BOOTSTRAP": "kafka:9092"},
        volume_dirs={"state": Path("/run/state"), "clients": Path("/run/clients")},
    )
    assert pod["kind"] == "Pod"
    assert pod["metadata"] == {"name": "identity", "labels": {"app.kubernetes.io/name": "identity"}}
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "localhost/safehub:0.1.0"
    assert container["imagePullPolicy"] == "Never"
    assert container["command"] == ["safehub", "identity", "serve"]
    # The settings stand in for the ConfigMap; the container's own value still wins.
    assert "envFrom" not in container
    env = [(e["name"], e["value"]) for e in container["env"]]
    assert ("SAFEHUB_KAFKA_BOOTSTRAP", "kafka:9092") in env
    assert dict(env)["SAFEHUB_IDENTITY_PORT"] == "8080"
    assert "livenessProbe" not in container
    assert "ports" not in container
    assert "serviceAccountName" not in pod["spec"]
    assert pod["spec"]["securityContext"] == {"runAsUser": 10001}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["state"]["hostPath"]["path"] == "/run/state"
    assert volumes["clients"]["hostPath"]["path"] == "/run/clients"
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}


def test_a_volume_without_a_directory_is_named() -> None:
    with pytest.raises(kube_play.VolumeNotProvided, match="'clients' \\(configMap\\)"):
        kube_play.pod_from_deployment(
            _deployment(), image="x", settings={}, volume_dirs={"state": Path("/s")}
        )
