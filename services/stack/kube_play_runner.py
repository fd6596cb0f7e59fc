"""Plays the Kafka pod `kube_play.py` renders with `podman kube play`, and takes it down.

KafkaPlay(run_dir, containers_conf).play(principals) writes the broker's files (fresh
passwords, mode 0400, owned by the image's user) under run_dir, plays the pod and returns
once the broker logs that it started. The passwords are returned to the caller for its
clients; they are never logged and never leave run_dir.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.hubkit.private_files import write_private
from services.hubkit.settings import HubSettings
from services.hubkit.topology import ADMIN_PRINCIPAL, Topology
from services.policy.publish import BundleStore, publish_bundle
from services.policy.signing import SIGNING_ALGORITHM, provision_ig_signing_key
from services.stack import config, kube_play
from services.stack.artifacts import KAFKA_VERSION, ensure_opa
from services.stack.config import BROKER_USER, CONTROLLER_USER
from services.stack.credentials import new_secret
from services.stack.errors import StackError
from services.stack.image_builder import container_env
from services.stack.images import IMAGE_GID, IMAGE_UID, image_ref

__all__ = ["KafkaPlay", "KubePlayFailed", "OpaPlay", "PlayedKafka"]

_STARTED = "Kafka Server started"


class KubePlayFailed(StackError):
    """`podman kube play` refused the pods, or the broker did not start in time."""


@dataclass(frozen=True, slots=True)
class PlayedKafka:
    manifest: Path
    passwords: dict[str, str]
    """Each principal's SCRAM password, and the broker's (a super user)."""
    ready_s: float


class KafkaPlay:
    def __init__(self, run_dir: Path, containers_conf: Path) -> None:
        self._dir = run_dir
        self._env = container_env(containers_conf)
        self.manifest = run_dir / "kafka.yaml"

    def _podman(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            env=self._env,
            timeout=timeout,
            check=False,
        )

    def play(self, topology: Topology, *, timeout_s: float = 120) -> PlayedKafka:
        files_dir, log_dir = self._dir / "kafka-files", self._dir / "kafka-data"
        passwords = {principal: new_secret() for principal in topology.principals}
        broker, controller = new_secret(), new_secret()
        files = kube_play.kafka_files(
            cluster_id=config.cluster_id_from_bytes(secrets.token_bytes(16)),
            broker_password=broker,
            controller_password=controller,
            principal_passwords=passwords,
            grants=topology.acl_grants(),
        )
        for directory in (files_dir, log_dir):
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, IMAGE_UID, IMAGE_GID)
        for name, text in files.items():
            path = files_dir / name
            write_private(path, text)
            path.chmod(0o400)
            os.chown(path, IMAGE_UID, IMAGE_GID)
        write_private(
            self._dir / "internal-credentials.json",
            json.dumps({BROKER_USER: broker, CONTROLLER_USER: controller}) + "\n",
        )
        pod = kube_play.kafka_pod(
            image=image_ref("safehub-kafka", KAFKA_VERSION), files_dir=files_dir, log_dir=log_dir
        )
        self.manifest.write_text(yaml.safe_dump(pod, sort_keys=False))
        started = time.monotonic()
        played = self._podman("kube", "play", str(self.manifest))
        if played.returncode != 0:
            raise KubePlayFailed(f"podman kube play {self.manifest}: {played.stderr.strip()}")
        container = f"{kube_play.KAFKA_POD}-broker"
        while time.monotonic() - started < timeout_s:
            logs = self._podman("logs", container)
            if _STARTED in logs.stdout + logs.stderr:
                return PlayedKafka(
                    self.manifest, {**passwords, BROKER_USER: broker}, time.monotonic() - started
                )
            state = self._podman("inspect", "--format", "{{.State.Status}}", container)
            if state.stdout.strip() in ("exited", "stopped"):
                break
            time.sleep(0.5)
        last = self._podman("logs", "--tail", "15", container)
        tail = (last.stdout + last.stderr).strip()
        raise KubePlayFailed(
            f"{container} did not log '{_STARTED}' within {timeout_s:.0f}s; last lines:\n"
            + config.redact_secrets(tail, [broker, controller, *passwords.values()])
        )

    def provision(self, played: PlayedKafka, safehub_image: str, network: str) -> None:
        """The topology's ACLs (in the broker's container, one JVM) and then its topics (a
        one-off safehub container on the pods' network, as the admin principal)."""
        container = f"{kube_play.KAFKA_POD}-broker"
        acls = self._podman("exec", container, *kube_play.acl_batch_argv(), timeout=300)
        if acls.returncode != 0:
            raise KubePlayFailed(
                "AclCommand in the broker's container failed:\n"
                + config.redact_secrets(
                    (acls.stdout + acls.stderr)[-2000:], list(played.passwords.values())
                )
            )
        credential = self._dir / "admin-credential" / "admin.json"
        credential.parent.mkdir(exist_ok=True)
        write_private(
            credential,
            config.render_credential(ADMIN_PRINCIPAL, played.passwords[ADMIN_PRINCIPAL]),
        )
        os.chown(credential, IMAGE_UID, IMAGE_GID)
        topics = self._podman(
            "run",
            "--rm",
            "--read-only",
            "--network",
            network,
            "--volume",
            f"{credential}:/run/safehub/admin.json:ro",
            safehub_image,
            "python3",
            "-m",
            "services.stack.play_topics",
            "/run/safehub/admin.json",
            timeout=300,
        )
        if topics.returncode != 0:
            raise KubePlayFailed(f"creating the topics failed:\n{topics.stderr[-2000:]}")

    def down(self) -> None:
        if self.manifest.is_file():
            self._podman("kube", "down", str(self.manifest))


class OpaPlay:
    """OPA and its bundle service as one pod, serving a signed bundle of `policies_dir`
    published (with a fresh IG key of its own) under run_dir: the shared stack's keys and
    bundles are never touched."""

    def __init__(self, run_dir: Path, containers_conf: Path, settings: HubSettings) -> None:
        self._dir = run_dir
        self._settings = settings
        self._env = container_env(containers_conf)
        self.manifest = run_dir / "opa.yaml"

    @property
    def store(self) -> BundleStore:
        return BundleStore(self._dir / "policy-bundles")

    def publish(self) -> str:
        """Publishes the signed bundle for this run (and its IG key); returns its revision."""
        keys_dir = self._dir / "opa-keys"
        store = BundleStore(self._dir / "policy-bundles")
        published = publish_bundle(
            opa=ensure_opa(self._settings),
            policies_dir=self._settings.policies_dir,
            store=store,
            keys_dir=keys_dir,
            now=dt.datetime.now(dt.UTC),
        )
        return published.release.revision

    def play(self, *, opa_image: str, safehub_image: str) -> None:
        """Plays OPA with the bundle `publish` made (publishing first if it has not)."""
        store = self.store
        if store.current_revision() is None:
            self.publish()
        key = provision_ig_signing_key(self._dir / "opa-keys")
        config_dir = self._dir / "opa-config"
        config_dir.mkdir(exist_ok=True)
        (config_dir / "config.json").write_text(
            kube_play.opa_config(
                key_id=key.key_id,
                public_key_pem=key.public_key_pem,
                signing_algorithm=SIGNING_ALGORITHM,
            )
        )
        # Readable by the image's user; the store holds signed bundles and no key.
        for path in (config_dir, *config_dir.rglob("*"), store.root, *store.root.rglob("*")):
            os.chown(path, IMAGE_UID, IMAGE_GID)
        pod = kube_play.opa_pod(
            opa_image=opa_image,
            safehub_image=safehub_image,
            config_dir=config_dir,
            bundle_store=store.root,
        )
        self.manifest.write_text(yaml.safe_dump(pod, sort_keys=False))
        played = subprocess.run(
            ["podman", "kube", "play", str(self.manifest)],
            capture_output=True,
            text=True,
            env=self._env,
            timeout=120,
            check=False,
        )
        if played.returncode != 0:
            raise KubePlayFailed(f"podman kube play {self.manifest}: {played.stderr.strip()}")

    def down(self) -> None:
        if self.manifest.is_file():
            subprocess.run(
                ["podman", "kube", "down", str(self.manifest)],
                capture_output=True,
                env=self._env,
                timeout=120,
                check=False,
            )
