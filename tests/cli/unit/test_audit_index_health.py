"""`safehub audit index` serves its health routes beside the loop (what the audit-indexer
Deployment probes): alive while it starts, not ready until its loop is indexing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_indexer_answers_its_probes_while_it_waits_for_the_broker(tmp_path: Path) -> None:
    # A "broker" that accepts connections and never answers: the indexer stays starting.
    silent = socket.create_server(("127.0.0.1", 0))
    credentials = tmp_path / "credentials" / "audit"
    credentials.mkdir(parents=True)
    (credentials / "password").write_text("synthetic")  # as the operator's Secret mounts it
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    env |= {
        "SAFEHUB_DATA_DIR": str(tmp_path),
        "SAFEHUB_KAFKA_BOOTSTRAP": f"127.0.0.1:{silent.getsockname()[1]}",
        "SAFEHUB_AUDIT_INDEXER_PORT": str(port),
    }
    indexer = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "audit", "index"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                alive = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert indexer.poll() is None, "the indexer stopped before it served"
                assert time.monotonic() < deadline, "the health routes never answered"
                time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    finally:
        indexer.kill()
        indexer.wait(timeout=30)
        silent.close()
    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"alive": True, "ready": False, "reason": "starting"}
