"""The rendered local overlay as `podman kube play` runs it: what an operator provides at run
time for one service (its Secrets and ConfigMaps as files, its claims as directories), and the
settings that differ on podman's network (no Service objects: pods answer by name on their
container port)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from services.childindex.secret import provision_linkage_secret
from services.cli.hub_clients import ClientKind, hub_clients, registration_for
from services.hubkit.envelope import provision_keys
from services.hubkit.jwt_keys import load_key, public_jwks
from services.hubkit.private_files import pkcs8_pem, write_private
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.identity.client_registry import render_client_registry
from services.stack.artifacts import ensure_kustomize
from services.stack.config import render_credential
from services.stack.image_builder import container_env
from services.stack.images import IMAGE_GID, IMAGE_UID

# The broker is the played pod, not Strimzi's bootstrap Service; every other URL is rewritten
# by `settings` (a Service's port 80 is the pod's 8080 here).
PODMAN_SETTINGS = {"SAFEHUB_KAFKA_BOOTSTRAP": "kafka:9092"}


KUBE_NETWORK = "podman-default-kube-network"
"""The network `podman kube play` puts pods on: a pod answers there by its name."""


def podman_run(
    containers_conf: Path, *argv: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`podman run` of a one-off container, read-only as the pods are (options, image,
    command), with the project's containers.conf."""
    return subprocess.run(
        ["podman", "run", "--rm", "--read-only", *argv],
        capture_output=True,
        text=True,
        env=container_env(containers_conf),
        timeout=timeout,
        check=False,
    )


def render_local_overlay() -> list[dict[str, Any]]:
    kustomize = ensure_kustomize(HubSettings())
    out = subprocess.run(
        [str(kustomize), "build", str(REPO_ROOT / "deploy/k8s/overlays/local")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def deployment(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def settings(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The overlay's `safehub-settings`, each `http://<service>` URL (a Service on port 80)
    pointed at that pod's container port instead."""
    config_map = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("safehub-settings")
    )
    services = sorted(
        (d["metadata"]["name"] for d in docs if d["kind"] == "Service"), key=len, reverse=True
    )
    pattern = re.compile(r"http://(" + "|".join(map(re.escape, services)) + r")(?=[/\"]|$)")
    data = {k: pattern.sub(r"http://\1:8080", v) for k, v in config_map["data"].items()}
    return {**data, **PODMAN_SETTINGS}


def owned_dir(path: Path) -> Path:
    """A directory the image's user owns (a claim, or a Secret's files)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, IMAGE_UID, IMAGE_GID)
    return path


def identity_clients(root: Path) -> tuple[Path, Path]:
    """The hub's clients with fresh keys: the ConfigMap's `clients.json` (public keys) in one
    directory, the private keys (`<client_id>.pem`, the clients' Secrets) in another."""
    keys = owned_dir(root / "client-keys")
    registrations = []
    for client in hub_clients(HubSettings()):
        jwks: dict[str, Any] = {"keys": []}
        if client.kind is not ClientKind.DEVICE:
            path = keys / f"{client.client_id}.pem"
            write_private(path, pkcs8_pem(ec.generate_private_key(ec.SECP256R1())))
            os.chown(path, IMAGE_UID, IMAGE_GID)
            jwks = public_jwks(load_key(path))
        registrations.append(registration_for(client, jwks))
    config_map = owned_dir(root / "identity-clients")
    registry = config_map / "clients.json"
    registry.write_text(render_client_registry(registrations))
    # Public keys only, read by the image's user whatever the process umask made the file (the
    # full suite runs with a stricter umask than a single test).
    registry.chmod(0o644)
    os.chown(registry, IMAGE_UID, IMAGE_GID)
    return config_map, keys


class Material:
    """Everything the pods' Secrets hold, made fresh for one run (synthetic keys only): the
    signers' Ed25519 keys and their public halves, the hub's OAuth client keys, the linkage
    secret, store keys. `files_for` answers one Secret's key by the Secret's kind."""

    def __init__(self, root: Path, client_keys: Path, signers: list[str]) -> None:
        self._keys = root / "keys"
        provision_keys(self._keys, signers)
        provision_linkage_secret(self._keys / "linkage.secret")
        self._client_keys = client_keys

    def content(self, secret: str, key: str) -> bytes:
        if secret.endswith("-signing-key"):
            folder = "private" if key.endswith(".pem") else "trusted"
            return (self._keys / folder / key).read_bytes()
        if secret.endswith(("-childindex-client", "-oidc-client")) or secret == "audit-clients":
            return (self._client_keys / key).read_bytes()
        if secret == "childindex-linkage-secret":
            return (self._keys / "linkage.secret").read_bytes()
        if secret.endswith("-store-key") or secret == "audit-digest-key":
            return secrets.token_bytes(32)
        if secret == "console-child-links":
            return secrets.token_bytes(64)
        raise KeyError(f"no run-time material for Secret {secret!r} key {key!r}")


def _write(directory: Path, relative: str, content: bytes) -> None:
    path = directory / relative
    owned_dir(path.parent)
    write_private(path, content)
    path.chmod(0o400)
    os.chown(path, IMAGE_UID, IMAGE_GID)


def fill_volumes(
    deployment: dict[str, Any],
    root: Path,
    *,
    material: Material,
    kafka_passwords: dict[str, str],
    config_maps: dict[str, Path],
    claims: dict[str, Path],
) -> dict[str, Path]:
    """A run-time directory for each of the Deployment's volumes, holding what its Secret,
    ConfigMap or claim would. A broker credential is written in the hub's own format
    (`<principal>.json`, SCRAM-SHA-256, which the played broker speaks) where Strimzi's Secret
    would hold a SCRAM-SHA-512 password (services/hubkit/broker_credentials.py reads both)."""
    spec = deployment["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for c in spec["containers"] for m in c["volumeMounts"]}
    env_paths = [
        str(e["value"]) for c in spec["containers"] for e in c.get("env", []) if "value" in e
    ]
    dirs: dict[str, Path] = {}
    for volume in spec.get("volumes", []):
        name = volume["name"]
        if "emptyDir" in volume:
            continue
        if "persistentVolumeClaim" in volume:
            dirs[name] = claims[volume["persistentVolumeClaim"]["claimName"]]
            continue
        if "configMap" in volume:
            dirs[name] = config_maps[volume["configMap"]["name"]]
            continue
        directory = owned_dir(root / name)
        if "projected" in volume:
            for source in volume["projected"]["sources"]:
                principal = source["secret"]["name"]
                credential = render_credential(principal, kafka_passwords[principal])
                _write(directory, f"{principal}.json", credential.encode())
        else:
            secret = volume["secret"]["secretName"]
            items = volume["secret"].get("items")
            if items is None:
                # The whole Secret: the files the container's settings name under the mount.
                prefix = mounts[name].rstrip("/") + "/"
                items = [
                    {"key": p.removeprefix(prefix), "path": p.removeprefix(prefix)}
                    for p in env_paths
                    if p.startswith(prefix)
                ]
            for item in items:
                _write(directory, item["path"], material.content(secret, item["key"]))
        dirs[name] = directory
    return dirs
