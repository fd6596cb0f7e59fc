"""The README's first command, as a user runs it: `safehub demo --once` starts the whole hub
against the running stack, posts a batch of synthetic records through the adapters over HTTP,
waits for the gateway to decide them and stops. Nothing else in the suite starts the demo, so
without this a service the demo fails to start would go unnoticed until someone ran it.

It binds the demo's fixed ports (README "Services started by `safehub demo`"); no other test
does. The stack's data directory is the demo's, as it is for a user.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

_REPO = Path(__file__).resolve().parents[3]
_TIMEOUT_S = 420  # the demo's indexer reads the whole audit topic the suite has filled


def test_demo_once_decides_its_batch_and_stops() -> None:
    count = 3
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "demo", "--once", "--count", str(count)],
        cwd=_REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # Every record was decided, for every subscriber, and the demo said so.
    assert re.search(rf"all {count} decided [\d.]+ s after the first was posted", output), output[
        -4000:
    ]
    summary = re.search(r"decided (\d+) notices about \d+ children, rejected (\d+)", output)
    assert summary is not None, output[-4000:]
    assert (int(summary[1]), int(summary[2])) == (count, 0)
    # The audit indexer signed a checkpoint and handed it to the demo's witnesses (README lists
    # both as part of the demo; whether they cosigned in time depends on the audit backlog).
    assert re.search(r"audit log: checkpoint at size \d+", output), output[-4000:]
