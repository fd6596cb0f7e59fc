"""The indexer's checkpointing and settings, without a broker: checkpoints are signed only
when the tree grew, verify with the public key, and are refused over a damaged store."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from services.audit.errors import StorageCorrupt
from services.audit.service import AuditIndexer
from services.audit.settings import AuditSettings
from services.audit.storage_sql import SqlAuditStore
from services.audit.verify import verify_note
from services.hubkit.settings import HubSettings
from tests.audit.logs import decision_entries
from tests.audit.records import TRUSTED_KEYS
from tests.audit.tamper import tamper
from tests.factories import catalog


def _indexer(store: SqlAuditStore, key: Ed25519PrivateKey, tmp_path: Path) -> AuditIndexer:
    clock = itertools.count(1_800_000_000_000, 1000)
    return AuditIndexer(
        hub=HubSettings(data_dir=tmp_path),
        settings=AuditSettings(origin="safehub.audit.unit"),
        store=store,
        catalog=catalog(),
        log_key=key,
        trusted_keys=lambda: TRUSTED_KEYS,
        clock_ms=lambda: next(clock),
    )


async def test_checkpoints_are_signed_for_growth_only(
    sqlite_store: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    indexer = _indexer(sqlite_store, log_key, tmp_path)
    assert await indexer.checkpoint_now() is None  # empty tree: nothing to sign
    entries = decision_entries(2)
    sqlite_store.append(entries[:5], appended_at_ms=1)
    first = await indexer.checkpoint_now()
    assert first is not None
    assert verify_note(first.note, log_key.public_key()) == first.checkpoint
    assert first.checkpoint.tree_size == 5
    assert await indexer.checkpoint_now() == first  # no growth, no new checkpoint
    sqlite_store.append(entries[5:], appended_at_ms=2)
    second = await indexer.checkpoint_now()
    assert second is not None
    assert second.checkpoint.tree_size == 12
    assert second.checkpoint.timestamp_ms > first.checkpoint.timestamp_ms
    assert indexer.stats.checkpoints_signed == 2
    # Not started, so nothing was published yet: the history says so.
    assert [c.published_at_ms for c in sqlite_store.checkpoints()] == [None, None]


async def test_no_checkpoint_is_signed_over_a_damaged_store(
    sqlite_store: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    indexer = _indexer(sqlite_store, log_key, tmp_path)
    sqlite_store.append(decision_entries(2), appended_at_ms=1)
    await indexer.checkpoint_now()
    tamper(
        sqlite_store,
        "audit_nodes",
        "UPDATE audit_nodes SET hash = :h WHERE level = 3",
        h=b"\1" * 32,
    )
    with pytest.raises(StorageCorrupt):
        await indexer.checkpoint_now()
    assert len(sqlite_store.checkpoints()) == 1


def test_settings_default_to_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    hub = HubSettings(data_dir=tmp_path)
    assert AuditSettings().database_url_for(hub) == f"sqlite:///{tmp_path / 'audit' / 'audit.db'}"
    url = "postgresql+psycopg://audit@127.0.0.1:5432/audit"
    assert AuditSettings(database_url=url).database_url_for(hub) == url


@pytest.mark.parametrize(
    "override",
    [
        {"database_url": "mysql://x"},
        {"batch_max_records": 0},
        {"checkpoint_interval_s": 0},
    ],
)
def test_settings_fail_early(override: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AuditSettings(**override)  # type: ignore[arg-type]
