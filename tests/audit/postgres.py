"""A real PostgreSQL server for the audit storage tests, started by the test setup.

Debian's `postgresql` package provides the binaries (scripts/install-system-deps.sh installs
it). The server runs from a temporary data directory on loopback, on a free port, with
password (SCRAM) authentication, as an unprivileged user: `postgres` when the tests run as
root (initdb refuses root), the current user otherwise. It is stopped at the end of the
session. Nothing here skips: a missing prerequisite fails with what to run.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres_server"]

_INSTALL_HINT = "run `bash scripts/install-system-deps.sh` (installs Debian's postgresql)"


def _bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(f"PostgreSQL binaries (initdb, pg_ctl) not found; {_INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
        )

    def create_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"audit_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run_as(user: str | None, argv: list[str]) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", user, "--", *argv] if user else argv
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    as_user: str | None = None
    if os.geteuid() == 0:
        as_user = "postgres"
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root needs `runuser` to start PostgreSQL unprivileged")
    root = Path(tempfile.mkdtemp(prefix="safehub-pg-"))
    data_dir = root / "data"
    socket_dir = root / "sock"
    socket_dir.mkdir()
    password = secrets.token_urlsafe(18)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if as_user:
        shutil.chown(root, user=as_user)
        for path in (socket_dir, pwfile):
            shutil.chown(path, user=as_user)
    pwfile.chmod(0o600)
    port = _free_port()
    log = root / "postgres.log"
    try:
        result = _run_as(
            as_user,
            [
                str(bindir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "safehub",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()[-2000:]}")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={socket_dir} "
            "-c fsync=off -c max_connections=100"
        )
        result = _run_as(
            as_user,
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        if result.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()} {tail}")
        yield PostgresServer(host="127.0.0.1", port=port, user="safehub", password=password)
    finally:
        if (data_dir / "postmaster.pid").exists():
            _run_as(
                as_user,
                [str(bindir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"],
            )
        shutil.rmtree(root, ignore_errors=True)
