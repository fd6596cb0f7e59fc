"""Process identification: a pidfile counts only for the process this stack started.

A runner that failed to recognise its own broker would delete the broker's pidfile, then find
the port taken and refuse to start; one that recognised a stranger would signal it. These
tests start real (harmless) processes whose command lines look like the stack's and check
both directions, including the data dir spelled another way.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.hubkit.settings import HubSettings
from services.stack.config import StackLayout
from services.stack.credentials import StackCredentials
from services.stack.kafka_broker import KAFKA, KafkaBroker
from services.stack.processes import (
    ProcessSignature,
    StackProcesses,
    command_line,
    is_running,
    same_command_line,
)

# Sleeps until terminated; the arguments after the code only make its command line look
# like the broker's (`... kafka.Kafka <data_dir>/kafka/server.properties`).
_SLEEPER = "import time; time.sleep(120)"


def _layout(data_dir: Path) -> StackLayout:
    return StackLayout(data_dir=data_dir, cache_dir=data_dir / "cache", credentials_dir=data_dir)


def _processes(data_dir: Path) -> StackProcesses:
    return StackProcesses(_layout(data_dir), lambda _: None, lambda _: "")


def _broker(data_dir: Path) -> KafkaBroker:
    layout = _layout(data_dir)
    return KafkaBroker(
        HubSettings(data_dir=data_dir),
        layout,
        _processes(data_dir),
        StackCredentials(layout),
        lambda _: None,
    )


def _broker_like_argv(server_properties: Path | str) -> tuple[str, ...]:
    return (sys.executable, "-c", _SLEEPER, "kafka.Kafka", str(server_properties))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def started(data_dir: Path) -> Iterator[int]:
    """A broker-like process started through the stack's own StackProcesses."""
    processes = _processes(data_dir)
    pid = processes.start(KAFKA, _broker_like_argv(_layout(data_dir).server_properties))
    yield pid
    processes.stop(KAFKA, pid, timeout_s=5.0)
    assert not is_running(pid)


def test_the_broker_it_started_is_recognised_and_its_pidfile_kept(
    data_dir: Path, started: int
) -> None:
    broker = _broker(data_dir)
    assert broker.pid() == started
    assert _layout(data_dir).pidfile(KAFKA).read_text().strip() == str(started)


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda d: d.parent / "link-to-var", id="through-a-symlink"),
        pytest.param(lambda d: d.parent / "." / "var" / ".." / "var", id="not-normalised"),
        pytest.param(lambda d: Path(os.path.relpath(d)), id="relative-to-cwd"),
    ],
)
def test_the_same_data_dir_spelled_another_way_still_recognises_the_broker(
    data_dir: Path, started: int, spelling: Callable[[Path], Path]
) -> None:
    (data_dir.parent / "link-to-var").symlink_to(data_dir)
    other_spelling = spelling(data_dir)
    assert other_spelling != data_dir
    assert _broker(other_spelling).pid() == started
    assert _layout(data_dir).pidfile(KAFKA).exists()


def test_a_relative_path_on_the_command_line_is_resolved_in_the_process_cwd(
    data_dir: Path,
) -> None:
    server_properties = _layout(data_dir).server_properties
    argv = _broker_like_argv("kafka/server.properties")
    signature = ProcessSignature(arguments=("kafka.Kafka",), paths=(server_properties,))
    assert signature.matches(argv, cwd=data_dir)
    assert not signature.matches(argv, cwd=data_dir.parent)


def test_another_stacks_broker_is_not_ours(tmp_path: Path, data_dir: Path, started: int) -> None:
    # A second stack whose pidfile names the first stack's broker (a copied state directory).
    other = tmp_path / "other"
    other_pidfile = _layout(other).pidfile(KAFKA)
    other_pidfile.parent.mkdir(parents=True)
    other_pidfile.write_text(f"{started}\n")
    assert _broker(other).pid(remove_stale=False) is None
    assert other_pidfile.exists(), "status must not forget a pidfile"
    assert _broker(other).pid() is None
    assert not other_pidfile.exists()
    assert is_running(started), "recognising is not signalling"


def test_a_pidfile_naming_a_finished_process_is_stale(data_dir: Path) -> None:
    processes = _processes(data_dir)
    pid = processes.start(KAFKA, (sys.executable, "-c", "pass", "kafka.Kafka"))
    for _ in range(100):
        if not is_running(pid):
            break
        time.sleep(0.05)
    assert command_line(pid) is None
    assert _broker(data_dir).pid() is None
    assert not _layout(data_dir).pidfile(KAFKA).exists()


def test_the_command_line_comes_from_psutil(started: int, data_dir: Path) -> None:
    assert command_line(started) == _broker_like_argv(_layout(data_dir).server_properties)


@pytest.mark.parametrize(
    ("argv", "matches"),
    [
        (("/cache/opa-v1/opa", "run", "--server", "--addr", "127.0.0.1:18181"), True),
        (("/cache/opa-v1/opa", "run", "--server", "--addr", "127.0.0.1:28181"), False),
        (("/cache/opa-v1/opa", "run", "--addr", "127.0.0.1:18181"), False),
        (("/usr/bin/python3", "-m", "opa", "--server", "127.0.0.1:18181"), False),
        ((), False),
    ],
)
def test_a_signature_checks_program_and_arguments(argv: tuple[str, ...], matches: bool) -> None:
    signature = ProcessSignature(program="opa", arguments=("--server", "127.0.0.1:18181"))
    assert signature.matches(argv) is matches


def test_the_same_command_line_allows_a_path_spelled_another_way(tmp_path: Path) -> None:
    wanted = ("opa", "run", "--config-file", str(tmp_path / "opa" / "config.json"))
    running = ("opa", "run", "--config-file", "opa/config.json")
    assert same_command_line(running, wanted, cwd=tmp_path)
    assert not same_command_line(running, wanted, cwd=tmp_path / "elsewhere")
    assert not same_command_line((*running, "--log-level", "error"), wanted, cwd=tmp_path)
