"""The real stack: Kafka 4.1.2 (KRaft, SASL/SCRAM, StandardAuthorizer) and OPA on loopback.

Brings the stack up with the default settings (reused when already healthy) and leaves it
running for the other integration tests.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed

from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.topology import Topology, load_topology
from services.stack import ComponentState, StackRunner
from services.stack.config import parse_loopback_endpoint

pytestmark = pytest.mark.kafka

_TOPIC_AUTHORIZATION_FAILED = 29


@pytest.fixture(scope="module")
def settings() -> HubSettings:
    return HubSettings()


@pytest.fixture(scope="module")
def runner(settings: HubSettings) -> StackRunner:
    runner = StackRunner(settings)
    runner.up()
    return runner


@pytest.fixture(scope="module")
def topology(settings: HubSettings) -> Topology:
    return load_topology(settings.policies_dir)


def _credential(settings: HubSettings, principal: str) -> dict[str, str]:
    body: dict[str, str] = json.loads((settings.credentials_dir / f"{principal}.json").read_text())
    return body


def _sasl(settings: HubSettings, username: str, password: str) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def test_up_again_is_a_quick_no_op(runner: StackRunner) -> None:
    started = time.monotonic()
    report = runner.up()
    assert not report.changed
    assert report.acls.skipped
    assert time.monotonic() - started < 2.0


@pytest.mark.opa
def test_status_reports_every_component_healthy(runner: StackRunner) -> None:
    status = runner.status()
    assert status.healthy
    assert [c.name for c in status.components] == ["kafka", "opa"]
    for component in status.components:
        assert component.state is ComponentState.HEALTHY
        assert component.pid is not None


@pytest.mark.opa
def test_opa_collects_garbage_less_often_than_go_by_default(runner: StackRunner) -> None:
    (opa,) = [c for c in runner.status().components if c.name == "opa"]
    environment = Path(f"/proc/{opa.pid}/environ").read_bytes().split(b"\0")
    assert b"GOGC=" + os.environ.get("GOGC", "400").encode() in environment


@pytest.mark.opa
def test_cli_status_exits_zero_with_one_line_per_component(runner: StackRunner) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "stack", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["kafka", "healthy"], ["opa", "healthy"]]


async def test_sasl_accepts_the_right_password(runner: StackRunner, settings: HubSettings) -> None:
    endpoint = parse_loopback_endpoint(settings.kafka_bootstrap, setting="bootstrap")
    admin = _credential(settings, "admin")
    conn = await create_conn(
        endpoint.host, endpoint.port, **_sasl(settings, admin["username"], admin["password"])
    )
    conn.close()


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "not-the-admin-password-0000"), ("nobody", "not-a-user-password-00000")],
)
async def test_sasl_rejects_an_unknown_password(
    runner: StackRunner, settings: HubSettings, username: str, password: str
) -> None:
    endpoint = parse_loopback_endpoint(settings.kafka_bootstrap, setting="bootstrap")
    with pytest.raises(SaslAuthenticationFailed):
        await create_conn(endpoint.host, endpoint.port, **_sasl(settings, username, password))


async def _topic_errors(
    settings: HubSettings, principal: str, topics: list[str]
) -> dict[str, tuple[int, int]]:
    """(error code, partition count) per topic, as `principal` sees them."""
    credential = _credential(settings, principal)
    client = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        **_sasl(settings, credential["username"], credential["password"]),
    )
    await client.start()
    try:
        described = await client.describe_topics(topics)
    finally:
        await client.close()
    return {t["topic"]: (t["error_code"], len(t["partitions"])) for t in described}


async def test_topics_exist_with_their_partition_counts(
    runner: StackRunner, settings: HubSettings, topology: Topology
) -> None:
    seen = await _topic_errors(settings, "admin", list(topology.all_topics))
    assert seen == {topic: (0, topology.partitions(topic)) for topic in topology.all_topics}


async def test_acls_hide_other_agencies_topics_from_an_adapter(
    runner: StackRunner, settings: HubSettings
) -> None:
    seen = await _topic_errors(
        settings, "adapter-police", ["notices.police.v1", "notices.health.v1"]
    )
    assert seen["notices.police.v1"][0] == 0
    assert seen["notices.health.v1"][0] == _TOPIC_AUTHORIZATION_FAILED


def test_credential_files_are_private(runner: StackRunner, topology: Topology) -> None:
    for principal in topology.principals:
        path = runner.credential_file(principal)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        body = json.loads(path.read_text())
        assert set(body) == {"username", "password", "mechanism"}
        assert body["username"] == principal
        assert body["mechanism"] == "SCRAM-SHA-256"
    assert stat.S_IMODE(runner.layout.server_properties.stat().st_mode) == 0o600


def test_state_and_logs_are_readable_by_their_owner_only(runner: StackRunner) -> None:
    # Broker data and logs hold personal data: nobody but the hub's own user may list them,
    # even after an earlier run left the directories open (issue 13, defect 8).
    layout = runner.layout
    for directory in (layout.data_dir, layout.logs_dir, layout.kafka_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_safehub_commands_write_files_for_their_owner_only() -> None:
    # Every command runs under a private umask, whatever the shell's.
    probe = (
        "import os\n"
        "os.umask(0o022)\n"
        "from services.cli.main import main\n"
        "try:\n"
        "    main(['stack', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(oct(os.umask(0)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    ).stdout
    assert out.strip().splitlines()[-1] == "0o77"
