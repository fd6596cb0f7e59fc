"""The indexer's health routes (services/audit/indexer_health.py) and where its store URL comes
from in a deployment (AuditSettings.database_url_file): a Secret file, never an env literal."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.errors import DatabaseUrlUnreadable, StorageError
from services.audit.indexer_health import (
    STALL_AFTER_S,
    IndexerHealth,
    LoopState,
    indexer_health,
    indexer_ops_app,
)
from services.audit.service import AuditIndexer
from services.audit.settings import AuditSettings, parse_database_url
from services.audit.storage_sql import SqlAuditStore
from services.hubkit.settings import HubSettings
from tests.audit.records import TRUSTED_KEYS
from tests.factories import catalog

# --- health: pure ---------------------------------------------------------------------------


def test_a_starting_indexer_is_alive_but_not_ready() -> None:
    health = indexer_health(LoopState(False, None, False), now=1000.0)
    assert (health.alive, health.ready) == (True, False)


def test_a_turning_loop_is_ready() -> None:
    health = indexer_health(LoopState(True, 999.5, False), now=1000.0)
    assert (health.alive, health.ready) == (True, True)


def test_a_stalled_loop_is_not_alive() -> None:
    health = indexer_health(LoopState(True, 1000.0, False), now=1000.0 + STALL_AFTER_S + 1)
    assert (health.alive, health.ready) == (False, False)


def test_a_failing_store_is_not_ready_but_a_restart_would_not_help() -> None:
    # Waiting on a store write that keeps failing: the loop does not turn meanwhile.
    health = indexer_health(LoopState(True, 0.0, True), now=10 * STALL_AFTER_S)
    assert (health.alive, health.ready) == (True, False)
    assert "store" in health.reason


async def test_the_routes_answer_the_state() -> None:
    states = iter(
        [
            IndexerHealth(alive=True, ready=False, reason="starting"),
            IndexerHealth(alive=True, ready=False, reason="starting"),
            IndexerHealth(alive=False, ready=False, reason="stalled"),
            IndexerHealth(alive=True, ready=True, reason="indexing"),
        ]
    )
    transport = httpx.ASGITransport(app=indexer_ops_app(lambda: next(states)))
    async with httpx.AsyncClient(transport=transport, base_url="http://indexer") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 503
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"alive": True, "ready": True, "reason": "indexing"}


async def test_the_indexer_reports_a_write_it_is_retrying(
    sqlite_store: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    clock = itertools.count(1_800_000_000_000, 1000)
    indexer = AuditIndexer(
        hub=HubSettings(data_dir=tmp_path),
        settings=AuditSettings(retry_backoff_s=0.001),
        store=sqlite_store,
        catalog=catalog(),
        log_key=log_key,
        trusted_keys=lambda: TRUSTED_KEYS,
        clock_ms=lambda: next(clock),
    )
    assert indexer.loop_state() == LoopState(started=False, turned_at=None, write_failing=False)
    seen: list[bool] = []

    def write() -> str:
        seen.append(indexer.loop_state().write_failing)
        if len(seen) < 3:
            raise StorageError("database unreachable")
        return "written"

    assert await indexer._retrying(write, fetched_in=indexer._generation) == "written"
    assert seen == [False, True, True]  # failing while retried ...
    assert indexer.loop_state().write_failing is False  # ... and no longer once it committed
    assert indexer.stats.storage_retries == 2


# --- the store's URL from a Secret file ------------------------------------------------------

PG_URL = "postgresql+psycopg://audit:synthetic-pw@postgres.example:5432/audit"


def test_the_url_file_is_read_when_no_url_is_set(tmp_path: Path) -> None:
    secret = tmp_path / "audit-database" / "url"
    secret.parent.mkdir()
    secret.write_text(PG_URL + "\n")
    hub = HubSettings(data_dir=tmp_path)
    settings = AuditSettings(database_url_file=secret)
    assert settings.database_url_for(hub) == PG_URL
    # An explicit URL (`--database-url`) still wins over the file.
    explicit = "sqlite:////tmp/other.db"
    assert settings.model_copy(update={"database_url": explicit}).database_url_for(hub) == explicit
    # The store key of a PostgreSQL store is not beside a file: under the keys dir by default.
    assert settings.resolved_store_key_path(hub) == hub.keys_dir / "audit" / "store.key"


def test_the_url_file_is_named_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "url"
    secret.write_text(PG_URL)
    monkeypatch.setenv("SAFEHUB_AUDIT_DATABASE_URL_FILE", str(secret))
    monkeypatch.delenv("SAFEHUB_AUDIT_DATABASE_URL", raising=False)
    assert AuditSettings().database_url_for(HubSettings(data_dir=tmp_path)) == PG_URL


def test_a_missing_url_file_says_where_and_what_to_do(tmp_path: Path) -> None:
    settings = AuditSettings(database_url_file=tmp_path / "absent")
    with pytest.raises(DatabaseUrlUnreadable, match="mount the Secret"):
        settings.database_url_for(HubSettings(data_dir=tmp_path))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("mysql://audit:synthetic-pw@db/audit", "does not hold one audit store URL"),
        (f"{PG_URL}\n{PG_URL}", "does not hold one audit store URL"),
    ],
)
def test_a_bad_url_file_is_refused_without_quoting_it(text: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlUnreadable, match=problem) as caught:
        parse_database_url(text, where="/var/lib/safehub/audit-database/url")
    assert "synthetic-pw" not in caught.value.reason
