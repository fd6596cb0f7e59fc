"""`safehub feed follow` fails with a reason a person can act on and a documented exit code,
never a traceback: unknown subscriber, no credential, no key directory (2), a broker that
cannot be reached (3), a position file of another feed or one that exists with
--from-beginning (2)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens once the probe is closed


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A hub data directory with a (never used) credential and an empty key directory."""
    data = tmp_path / "data"
    (data / "credentials").mkdir(parents=True)
    (data / "keys" / "trusted").mkdir(parents=True)
    credential = {
        "username": "feed-mash-manager",
        "password": "unused",
        "mechanism": "SCRAM-SHA-256",
    }
    (data / "credentials" / "feed-mash-manager.json").write_text(json.dumps(credential))
    return data


def _follow(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    env["SAFEHUB_DATA_DIR"] = str(data_dir)
    env["SAFEHUB_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{_closed_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "feed", "follow", *args, "--timeout", "5"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_an_unknown_subscriber(data_dir: Path, tmp_path: Path) -> None:
    result = _follow(data_dir, "--subscriber", "nobody", "--out", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2
    assert "unknown subscriber 'nobody'" in result.stderr


def test_no_credential(data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "credentials" / "feed-mash-manager.json").unlink()
    result = _follow(data_dir, "--subscriber", "mash-manager", "--out", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2
    assert "no broker credentials for principal 'feed-mash-manager'" in result.stderr


def test_no_key_directory(data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "keys" / "trusted").rmdir()
    result = _follow(data_dir, "--subscriber", "mash-manager", "--out", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2
    assert "no trusted key directory" in result.stderr


@pytest.mark.parametrize("start", [[], ["--from-beginning"]], ids=["at-the-end", "beginning"])
def test_an_unreachable_broker(data_dir: Path, tmp_path: Path, start: list[str]) -> None:
    out = tmp_path / "o.jsonl"
    result = _follow(data_dir, "--subscriber", "mash-manager", "--out", str(out), "--once", *start)
    assert result.returncode == 3, result.stderr
    assert "KafkaConnectionError" in result.stderr
    assert "Unclosed" not in result.stderr


def test_another_feeds_position_file_and_a_second_start_from_the_beginning(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    position = out.with_name(out.name + ".position.json")
    position.write_text(
        json.dumps(
            {
                "subscriber_id": "school-dsl",
                "topic": "feed.school-dsl.v1",
                "offsets": {},
                "output_bytes": 0,
                "rejects_bytes": 0,
            }
        )
    )
    result = _follow(data_dir, "--subscriber", "mash-manager", "--out", str(out))
    assert result.returncode == 2
    assert "school-dsl's feed" in result.stderr
    result = _follow(
        data_dir, "--subscriber", "mash-manager", "--out", str(out), "--from-beginning"
    )
    assert result.returncode == 2
    assert "resumes from it" in result.stderr
