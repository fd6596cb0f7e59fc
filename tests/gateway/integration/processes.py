"""Processes the gateway's integration tests start, and end, themselves (by their own pid).

* `PrivateOpa`: the pinned OPA binary serving this repository's policies on a free loopback
  port. Stopping it takes down only this test's engine, never the shared stack's OPA that
  other tests (and engineers) use at the same time.
* `GatewayProcess`: `python -m services.cli.main gateway run` as a child process, so a test
  can kill -9 it like a crashed pod.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from services.hubkit.settings import REPO_ROOT, HubSettings
from services.stack.artifacts import ensure_opa
from services.stack.config import Endpoint, opa_argv

__all__ = ["GatewayProcess", "PrivateOpa", "free_port"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateOpa:
    def __init__(self, settings: HubSettings, log_path: Path) -> None:
        self._binary = ensure_opa(settings)
        self._policies = settings.policies_dir
        self._log_path = log_path
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 30.0) -> None:
        argv = opa_argv(
            opa=self._binary,
            addr=Endpoint("127.0.0.1", self.port),
            policies_dir=self._policies,
        )
        self._log = self._log_path.open("ab")
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"private OPA exited; see {self._log_path}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"private OPA not healthy after {timeout_s}s; see {self._log_path}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; returns once the process has exited."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


class GatewayProcess:
    def __init__(self, log_path: Path, *, env: dict[str, str] | None = None) -> None:
        self._log_path = log_path
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, *args: str) -> None:
        self._log = self._log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "gateway", "run", *args],
            cwd=REPO_ROOT,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill_9(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)
        self._close_log()

    def terminate(self, *, timeout_s: float = 30.0) -> int:
        """SIGTERM (graceful: commit what was decided, close producers); the exit code."""
        assert self._process is not None
        self._process.terminate()
        try:
            code = self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait(timeout=10)
        self._close_log()
        return code

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self._log_path.read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
