"""A service's private SQLite file: private on disk, transactions whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.hubkit.sqlite_store import PrivateSqlite

SCHEMA = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"


def test_the_file_and_its_directory_are_private(tmp_path: Path) -> None:
    PrivateSqlite(tmp_path / "svc" / "state.sqlite", schema=SCHEMA).close()
    assert os.stat(tmp_path / "svc").st_mode & 0o077 == 0
    assert os.stat(tmp_path / "svc" / "state.sqlite").st_mode & 0o077 == 0


def test_a_failed_transaction_leaves_nothing_and_a_durable_one_survives_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    store = PrivateSqlite(path, schema=SCHEMA)

    def interrupted() -> None:
        with store.transaction() as db:
            db.execute("INSERT INTO notes (text) VALUES ('half done')")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    with store.transaction(durable=True) as db:
        db.execute("INSERT INTO notes (text) VALUES ('decided')")
    store.close()

    reopened = PrivateSqlite(path, schema=SCHEMA)
    with reopened.reading() as db:
        assert [row["text"] for row in db.execute("SELECT text FROM notes")] == ["decided"]
        (mode,) = db.execute("PRAGMA synchronous").fetchone()
    assert mode == 1  # NORMAL again after the durable transaction
