"""hubkit.private_files: secrets owner-only from the first byte, one winner per secret,
whole-file replacement, and a lock that serialises processes."""

from __future__ import annotations

import multiprocessing
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.hubkit.private_files import (
    create_private,
    exclusive_lock,
    private_dir,
    write_atomically,
    write_private,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secret_is_created_once_owner_only_and_the_first_writer_wins(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "linkage.secret"
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: create_private(path, bytes([i]) * 32), range(8)))
    assert won.count(True) == 1
    winner = won.index(True)
    assert path.read_bytes() == bytes([winner]) * 32, "a loser must never overwrite the winner"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert create_private(path, b"other") is False
    assert path.read_bytes() == bytes([winner]) * 32


def test_a_private_file_is_replaced_whole_and_stays_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "identity" / "credentials.json"
    write_private(path, "first\n")
    assert _mode(path) == 0o600
    write_private(path, b"second\n")
    assert path.read_text() == "second\n"
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json"], "no temporaries"


def test_an_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kafka.pid"
    write_atomically(path, "1234\n")
    write_atomically(path, "5678\n")
    assert path.read_text() == "5678\n"
    assert [p.name for p in path.parent.iterdir()] == ["kafka.pid"]


def test_a_private_dir_is_tightened_even_if_it_existed(tmp_path: Path) -> None:
    existing = tmp_path / "var"
    existing.mkdir(mode=0o755)
    assert _mode(private_dir(existing)) == 0o700


def test_a_shared_temporary_directory_is_left_open_to_its_users(tmp_path: Path) -> None:
    # A store put straight in /tmp (a benchmark's --db /tmp/x.sqlite) once made /tmp 0700,
    # and PostgreSQL's initdb, run unprivileged by the tests, could no longer read its files.
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    create_private(shared / "secret", b"s")
    private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert _mode(shared / "secret") == 0o600


def _hold(lock: Path, log: Path, name: str) -> None:
    with exclusive_lock(lock):
        with log.open("a") as handle:
            handle.write(f"{name} in\n")
        time.sleep(0.2)
        with log.open("a") as handle:
            handle.write(f"{name} out\n")


def test_the_lock_serialises_processes(tmp_path: Path) -> None:
    lock, log = tmp_path / "store.lock", tmp_path / "log"
    workers = [
        multiprocessing.get_context("fork").Process(target=_hold, args=(lock, log, f"p{i}"))
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    lines = log.read_text().splitlines()
    assert len(lines) == 6
    # Every "in" is followed by the same process's "out": no two held the lock at once.
    for entered, left in zip(lines[::2], lines[1::2], strict=True):
        assert entered.endswith(" in")
        assert left == entered.replace(" in", " out")
