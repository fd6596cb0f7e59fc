"""The images run as the manifests expect, and `podman kube play` runs the Kafka pod from them:
a SCRAM user authenticates over the pod network, a wrong password does not, and the authorizer
refuses what no ACL grants."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.hubkit.settings import HubSettings
from services.hubkit.topology import ADMIN_PRINCIPAL, GATEWAY_PRINCIPAL, load_topology
from services.stack import kube_play
from services.stack.image_builder import BuiltImage, ImageBuilder, container_env
from services.stack.kube_play_runner import KafkaPlay, OpaPlay, PlayedKafka
from tests.containers import overlay

pytestmark = pytest.mark.containers

KUBE_NETWORK = overlay.KUBE_NETWORK


def _run(
    builder: ImageBuilder, *argv: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return overlay.podman_run(builder.containers_conf, *argv, timeout=timeout)


def test_the_safehub_image_runs_read_only_as_10001(
    builder: ImageBuilder, images: dict[str, BuiltImage]
) -> None:
    ref = images["safehub"].ref
    who = _run(builder, ref, "sh", "-c", "id -u; id -g; command -v safehub; python3 --version")
    assert who.returncode == 0, who.stderr
    uid, gid, safehub, python = who.stdout.split("\n")[:4]
    assert (uid, gid) == ("10001", "10001")
    assert safehub == "/opt/safehub/venv/bin/safehub"
    assert python.startswith("Python 3.11")
    # Every command the manifests run answers from a read-only root (no byte code written).
    helped = _run(builder, ref, "safehub", "gateway", "run", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "usage: safehub gateway run" in helped.stdout
    # The policies and schemas the services load through REPO_ROOT are in the image.
    found = _run(
        builder,
        ref,
        "python3",
        "-c",
        "from services.hubkit.settings import HubSettings as H; s = H(); "
        "print(s.policies_dir.is_dir(), s.schemas_dir.is_dir())",
    )
    assert found.stdout.split() == ["True", "True"], found.stderr
    # No compiler left behind.
    tools = _run(builder, ref, "sh", "-c", "command -v gcc cc apt-get || true")
    assert tools.stdout.strip() == ""


def test_the_kafka_and_opa_images(builder: ImageBuilder, images: dict[str, BuiltImage]) -> None:
    java = _run(
        builder,
        images["safehub-kafka"].ref,
        "sh",
        "-c",
        "id -u; java -version 2>&1; ls /opt/kafka/libs",
    )
    assert java.returncode == 0, java.stderr
    assert java.stdout.startswith("10001\n")
    assert 'openjdk version "17' in java.stdout
    assert "kafka_2.13-4.1.2.jar" in java.stdout
    opa = _run(builder, images["safehub-opa"].ref, "/usr/local/bin/opa", "version")
    assert opa.returncode == 0, opa.stderr
    assert "Version: 1.22.2" in opa.stdout


@pytest.fixture
def kafka(
    builder: ImageBuilder, images: dict[str, BuiltImage], tmp_path: Path
) -> Iterator[PlayedKafka]:
    play = KafkaPlay(tmp_path, builder.containers_conf)
    topology = load_topology(HubSettings().policies_dir)
    try:
        played = play.play(topology)
        print(f"kube play to broker started: {played.ready_s:.1f}s")
        started = time.monotonic()
        play.provision(played, images["safehub"].ref, KUBE_NETWORK)
        print(f"ACLs and topics: {time.monotonic() - started:.1f}s")
        yield played
    finally:
        play.down()


_CHECK = """
import asyncio, json, sys
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
async def main(user, password):
    admin = AIOKafkaAdminClient(bootstrap_servers="kafka:9092", security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256", sasl_plain_username=user, sasl_plain_password=password,
        request_timeout_ms=10000)
    try:
        await admin.start()
    except KafkaError as error:
        print(json.dumps({"authenticated": False, "error": type(error).__name__}))
        return
    try:
        topics = sorted(await admin.list_topics())
        created = await admin.create_topics([NewTopic("probe.v1", 1, 1)])
        print(json.dumps({"authenticated": True, "topics": topics,
                          "create_error": created.topic_errors[0][1]}))
    finally:
        await admin.close()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _client(
    builder: ImageBuilder, images: dict[str, BuiltImage], user: str, password: str
) -> dict[str, Any]:
    done = _run(
        builder,
        "--network",
        KUBE_NETWORK,
        images["safehub"].ref,
        "python3",
        "-c",
        _CHECK,
        user,
        password,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_kube_play_runs_kafka_with_scram_and_acls(
    builder: ImageBuilder, images: dict[str, BuiltImage], kafka: PlayedKafka
) -> None:
    topology = load_topology(HubSettings().policies_dir)
    started = time.monotonic()
    gateway = _client(builder, images, GATEWAY_PRINCIPAL, kafka.passwords[GATEWAY_PRINCIPAL])
    print(f"first authenticated request over the pod network: {time.monotonic() - started:.1f}s")
    # Authenticated; sees the topics its ACLs name (it reads every notices.<agency>.v1) and
    # is refused a topic no ACL grants (29: TOPIC_AUTHORIZATION_FAILED).
    assert gateway["authenticated"] is True
    assert {topic for topic in topology.all_topics if topic.startswith("notices.")} <= set(
        gateway["topics"]
    )
    assert gateway["create_error"] == 29
    # The admin principal's grants created every topic of the topology.
    admin = _client(builder, images, ADMIN_PRINCIPAL, kafka.passwords[ADMIN_PRINCIPAL])
    assert set(topology.all_topics) <= set(admin["topics"])
    wrong = _client(builder, images, GATEWAY_PRINCIPAL, "not-the-password-0123456789")
    assert wrong["authenticated"] is False


_REVISION = """
import sys, time, httpx
from services.hubkit.policy_contract import revision_from_provenance
deadline = time.monotonic() + float(sys.argv[1])
while True:
    try:
        health = httpx.get("http://opa:8181/health?bundles", timeout=5).status_code
        answer = httpx.get("http://opa:8181/v1/data/safehub/isa/agreement",
                           params={"provenance": "true"}, timeout=5).json()
        revision = revision_from_provenance(answer)
    except (httpx.HTTPError, ValueError):
        health, revision = None, None
    if (health == 200 and revision) or time.monotonic() > deadline:
        print(health, revision)
        break
    time.sleep(1)
"""


def _served(builder: ImageBuilder, images: dict[str, BuiltImage], wait_s: float) -> list[str]:
    """OPA's /health?bundles status and the bundle revision it serves, once both are there
    or after `wait_s`."""
    done = _run(
        builder,
        "--network",
        KUBE_NETWORK,
        images["safehub"].ref,
        "python3",
        "-c",
        _REVISION,
        str(wait_s),
        timeout=wait_s + 60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.fixture
def opa(builder: ImageBuilder, tmp_path: Path) -> Iterator[OpaPlay]:
    play = OpaPlay(tmp_path, builder.containers_conf, HubSettings())
    try:
        yield play
    finally:
        play.down()


def test_kube_play_runs_opa_with_the_signed_bundle(
    builder: ImageBuilder, images: dict[str, BuiltImage], opa: OpaPlay
) -> None:
    published = opa.publish()
    started = time.monotonic()
    opa.play(opa_image=images["safehub-opa"].ref, safehub_image=images["safehub"].ref)
    served = _served(builder, images, 90)
    print(f"kube play to OPA serving the signed bundle: {time.monotonic() - started:.1f}s")
    # Healthy only once the bundle verified against the IG key; serving the one published.
    assert served == ["200", published]


def test_kube_played_opa_refuses_a_bundle_changed_after_signing(
    builder: ImageBuilder, images: dict[str, BuiltImage], opa: OpaPlay
) -> None:
    opa.publish()
    bundle = opa.store.current
    # One value added to a data file after signing (OPA hashes JSON by its parsed value, so
    # only a change of value counts): its hash no longer matches .signatures.json.
    with tarfile.open(bundle) as original:
        members = [(m, original.extractfile(m)) for m in original.getmembers()]
        contents = {m.name: f.read() if f else b"" for m, f in members}
    target = next(name for name in contents if name.endswith("data.json"))
    document = json.loads(contents[target])
    document["tampered"] = True
    contents[target] = json.dumps(document).encode()
    with tarfile.open(bundle, "w:gz") as changed:
        for member, _ in members:
            member.size = len(contents[member.name])
            changed.addfile(member, io.BytesIO(contents[member.name]))
    opa.play(opa_image=images["safehub-opa"].ref, safehub_image=images["safehub"].ref)
    status, revision = _served(builder, images, 20)
    assert status != "200"
    assert revision == "None"
    logs = subprocess.run(
        ["podman", "logs", "opa-opa"],
        capture_output=True,
        text=True,
        env=container_env(builder.containers_conf),
        timeout=60,
        check=False,
    )
    refusal = logs.stdout + logs.stderr
    print(refusal.strip().splitlines()[-1][:300])
    assert "Bundle load failed" in refusal
    assert target.split("/", 1)[-1] in refusal or "digest mismatch" in refusal


_TOKEN = """
import sys, httpx
from pathlib import Path
from services.identity.assertions import client_assertion_from_file
endpoint = "http://identity:8080/token"
for client_id in sys.argv[1:]:
    answer = httpx.post(endpoint, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion_from_file(
            Path("/keys/gateway-childindex.pem"), client_id=client_id, token_endpoint=endpoint),
    }, timeout=10)
    print(answer.status_code, "access_token" in answer.json())
"""


def test_kube_play_runs_the_identity_provider_from_the_local_overlay(
    builder: ImageBuilder, images: dict[str, BuiltImage], tmp_path: Path
) -> None:
    docs = overlay.render_local_overlay()
    config_map, keys = overlay.identity_clients(tmp_path)
    pod = kube_play.pod_from_deployment(
        overlay.deployment(docs, "identity"),
        image=images["safehub"].ref,
        settings=overlay.settings(docs),
        volume_dirs={"clients": config_map, "state": overlay.owned_dir(tmp_path / "state")},
    )
    manifest = tmp_path / "identity.yaml"
    manifest.write_text(yaml.safe_dump(pod, sort_keys=False))
    env = container_env(builder.containers_conf)
    started = time.monotonic()
    played = subprocess.run(
        ["podman", "kube", "play", str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    try:
        assert played.returncode == 0, played.stderr
        # The probe's route, over the pods' network, once the provider listens.
        jwks = _run(
            builder,
            "--network",
            KUBE_NETWORK,
            images["safehub"].ref,
            "python3",
            "-c",
            "import time, httpx\n"
            "for _ in range(60):\n"
            "    try:\n"
            "        r = httpx.get('http://identity:8080/.well-known/jwks.json', timeout=2)\n"
            "        print(r.status_code, len(r.json()['keys'])); break\n"
            "    except httpx.HTTPError: time.sleep(1)\n",
        )
        print(f"kube play to the identity provider answering: {time.monotonic() - started:.1f}s")
        assert jwks.stdout.split() == ["200", "1"], jwks.stderr[-2000:]
        # A client of the declared registry gets a token with its key; the same key under a
        # client id the registry does not hold gets none.
        tokens = _run(
            builder,
            "--network",
            KUBE_NETWORK,
            "--volume",
            f"{keys}:/keys:ro",
            images["safehub"].ref,
            "python3",
            "-c",
            _TOKEN,
            "gateway-childindex",
            "nobody",
        )
        assert tokens.returncode == 0, tokens.stderr[-2000:]
        assert tokens.stdout.splitlines() == ["200 True", "401 False"]
    finally:
        subprocess.run(
            ["podman", "kube", "down", str(manifest)],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
