"""Fixtures for the audit tests: the store on both backends, and a fixed log key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.storage_sql import SqlAuditStore, open_store
from services.hubkit.child_keys import StoreKeyFile
from tests.audit.jwks import idp
from tests.audit.postgres import PostgresServer, postgres_server

__all__ = ["idp", "postgres_server"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty audit database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def reopen(tmp_path: Path) -> Callable[[str], SqlAuditStore]:
    """Open a store at a URL of `store_url` with this test's store key (a PostgreSQL store has
    no default key file; every opener of one database must use the same key)."""
    key = StoreKeyFile(tmp_path / "store.key")
    return lambda url: open_store(url, store_key=key)


@pytest.fixture
def store(store_url: str, reopen: Callable[[str], SqlAuditStore]) -> Iterator[SqlAuditStore]:
    opened = reopen(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlAuditStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def log_key() -> Ed25519PrivateKey:
    # Fixed seed: deterministic signatures in every run.
    return Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
