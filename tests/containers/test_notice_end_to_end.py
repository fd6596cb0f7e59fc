"""One police record end to end through pods `podman kube play` runs from the local overlay:
the police adapter signs and publishes it, the gateway decides it, and a subscriber reads the
notice from its feed with its own credential while the audit principal reads the decision's
audit record; nothing runs on the host but podman."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_PRINCIPAL,
    CONSOLE_PRINCIPAL,
    GATEWAY_PRINCIPAL,
    load_topology,
)
from services.identity.clients import register_client
from services.stack import kube_play
from services.stack.image_builder import BuiltImage, ImageBuilder, container_env
from services.stack.images import IMAGE_GID, IMAGE_UID
from services.stack.kube_play_runner import KafkaPlay
from tests.containers import overlay

pytestmark = pytest.mark.containers

KUBE_NETWORK = overlay.KUBE_NETWORK
PODS = ("identity", "childindex", "gateway", "adapter-police")
SUBSCRIBER = "feed-mash-manager"
INTEGRATOR = "police-system-play"
_WAIT = """
import sys, time, httpx
deadline = time.monotonic() + 90
pending = list(sys.argv[1:])
while pending and time.monotonic() < deadline:
    try:
        if httpx.get(pending[0], timeout=3).status_code == 200:
            print("up", pending.pop(0), flush=True)
            continue
    except httpx.HTTPError:
        pass
    time.sleep(1)
print("all up" if not pending else "down " + " ".join(pending))
"""

_POST = """
import datetime as dt, json, sys, time, httpx
from pathlib import Path
from services.identity.assertions import client_assertion_from_file
from services.synthetic.native import NativeRecords
endpoint = "http://identity:8080/token"
token = httpx.post(endpoint, data={
    "grant_type": "client_credentials",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": client_assertion_from_file(
        Path("/integrator/key.pem"), client_id=sys.argv[1], token_endpoint=endpoint),
}, timeout=10)
token.raise_for_status()
records = NativeRecords(seed=20, now=dt.datetime.now(dt.UTC), run="kubeplay")
record = records.police_ppn(records.child())
headers = {"Authorization": "Bearer " + token.json()["access_token"]}
# 503 means "not now" (the adapter could not reach the broker or the child index yet): an
# integrator retries the same record, as the guide says; the notice id stays the same.
for attempt in range(30):
    answer = httpx.post("http://adapter-police:8080/v1/occurrences", json=record, timeout=60,
                        headers=headers)
    if answer.status_code != 503:
        break
    time.sleep(2)
body = answer.json()
print(answer.status_code, body.get("notice_id") or json.dumps(body)[:500], attempt)
"""

_READ = """
import asyncio, json, sys
from aiokafka import AIOKafkaConsumer, TopicPartition
async def first_with(credential, topic, partitions, needle):
    consumer = AIOKafkaConsumer(bootstrap_servers="kafka:9092", group_id=None,
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
        sasl_plain_username=credential["username"], sasl_plain_password=credential["password"],
        isolation_level="read_committed", enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    if needle in record.value:
                        return True
        return False
    finally:
        await consumer.stop()
async def main():
    needle = sys.argv[1].encode()
    for spec in sys.argv[2:]:
        principal, topic, partitions = spec.split(",")
        credential = json.load(open(f"/credentials/{principal}.json"))
        print(principal, topic, await first_with(credential, topic, int(partitions), needle))
asyncio.run(main())
"""


def _chown_tree(root: Path) -> None:
    for path in (root, *root.rglob("*")):
        os.chown(path, IMAGE_UID, IMAGE_GID)


def _logs(env: dict[str, str], pods: tuple[str, ...]) -> str:
    """The last lines each pod's main container wrote (the container is named pod-container)."""
    out = []
    for pod in pods:
        done = subprocess.run(
            ["podman", "logs", "--tail", "25", f"{pod}-{pod}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        out.append(f"--- {pod}\n{done.stdout}{done.stderr}")
    return "\n".join(out)


def _on_network(
    builder: ImageBuilder, *argv: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`podman run` of a one-off container on the pods' network (options, image, command)."""
    return overlay.podman_run(
        builder.containers_conf, "--network", KUBE_NETWORK, *argv, timeout=timeout
    )


def test_one_police_notice_end_to_end(
    builder: ImageBuilder, images: dict[str, BuiltImage], tmp_path: Path
) -> None:
    image = images["safehub"].ref
    topology = load_topology(HubSettings().policies_dir)
    env = container_env(builder.containers_conf)
    kafka = KafkaPlay(overlay.owned_dir(tmp_path / "kafka"), builder.containers_conf)
    manifests: list[Path] = []
    started = time.monotonic()
    try:
        played = kafka.play(topology)
        kafka.provision(played, image, KUBE_NETWORK)
        docs = overlay.render_local_overlay()
        config_map, client_keys = overlay.identity_clients(tmp_path)
        claims = {
            d["metadata"]["name"]: overlay.owned_dir(tmp_path / "claims" / d["metadata"]["name"])
            for d in docs
            if d["kind"] == "PersistentVolumeClaim"
        }
        # The police system's own client, registered as `safehub adapters clients` would.
        integrator = register_client(
            state_dir=claims["identity-state"],
            keys_out_dir=tmp_path / "integrator",
            agency="POLICE",
            client_id=INTEGRATOR,
        )
        _chown_tree(claims["identity-state"])
        integrator_dir = overlay.owned_dir(tmp_path / "integrator-key")
        (integrator_dir / "key.pem").write_bytes(integrator.private_key_path.read_bytes())
        _chown_tree(integrator_dir)
        signers = [GATEWAY_PRINCIPAL, CONSOLE_PRINCIPAL, *(a.principal for a in topology.agencies)]
        material = overlay.Material(tmp_path / "material", client_keys, signers)
        settings = overlay.settings(docs)
        for name in PODS:
            deployment = overlay.deployment(docs, name)
            dirs = overlay.fill_volumes(
                deployment,
                tmp_path / "pods" / name,
                material=material,
                kafka_passwords=played.passwords,
                config_maps={"identity-clients": config_map},
                claims=claims,
            )
            pod = kube_play.pod_from_deployment(
                deployment, image=image, settings=settings, volume_dirs=dirs
            )
            manifest = tmp_path / f"{name}.yaml"
            manifest.write_text(yaml.safe_dump(pod, sort_keys=False))
            done = subprocess.run(
                ["podman", "kube", "play", str(manifest)],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
            manifests.append(manifest)  # taken down even if it did not start
            assert done.returncode == 0, f"{name}: {done.stderr}"
        up = _on_network(
            builder,
            image,
            "python3",
            "-c",
            _WAIT,
            "http://identity:8080/.well-known/jwks.json",
            "http://childindex:8080/healthz",
            "http://adapter-police:8080/healthz",
            "http://gateway:8080/readyz",
        )
        assert up.stdout.strip().endswith("all up"), up.stdout + _logs(env, PODS)
        print(f"kube play to every pod answering: {time.monotonic() - started:.1f}s")

        posted_at = time.monotonic()
        posted = _on_network(
            builder,
            "--volume",
            f"{integrator_dir}:/integrator:ro",
            image,
            "python3",
            "-c",
            _POST,
            INTEGRATOR,
        )
        answer = posted.stdout.split()
        assert answer[:1] == ["202"], posted.stdout + posted.stderr[-3000:] + _logs(env, PODS)
        notice_id, retries = answer[1], answer[-1]
        print(f"accepted after {retries} answers 503 (not ready yet)")

        credentials = overlay.owned_dir(tmp_path / "reader-credentials")
        for principal in (SUBSCRIBER, AUDIT_PRINCIPAL):
            (credentials / f"{principal}.json").write_text(
                json.dumps({"username": principal, "password": played.passwords[principal]})
            )
        _chown_tree(credentials)
        feed = next(s.feed_topic for s in topology.subscribers if s.principal == SUBSCRIBER)
        audit_topic = "audit.decisions.v1"
        read = _on_network(
            builder,
            "--volume",
            f"{credentials}:/credentials:ro",
            image,
            "python3",
            "-c",
            _READ,
            notice_id,
            f"{SUBSCRIBER},{feed},{topology.partitions(feed)}",
            f"{AUDIT_PRINCIPAL},{audit_topic},{topology.partitions(audit_topic)}",
        )
        print(f"post to feed item and audit record read back: {time.monotonic() - posted_at:.1f}s")
        assert read.stdout.splitlines() == [
            f"{SUBSCRIBER} {feed} True",
            f"{AUDIT_PRINCIPAL} {audit_topic} True",
        ], read.stdout + read.stderr[-3000:] + _logs(env, PODS)
    finally:
        for manifest in reversed(manifests):
            subprocess.run(
                ["podman", "kube", "down", str(manifest)],
                capture_output=True,
                env=env,
                timeout=120,
                check=False,
            )
        kafka.down()
