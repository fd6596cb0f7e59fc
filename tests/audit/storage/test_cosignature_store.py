"""Cosignatures kept beside the checkpoint history, on both backends (issue 19)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy

from services.audit.cosignatures import CosignatureStore
from services.audit.cosignatures import metadata as cosignature_tables
from services.audit.storage_sql import SqlAuditStore
from services.hubkit.cosignature import Cosignature
from tests.audit.postgres import PostgresServer


def _cosignature(name: str, timestamp: int) -> Cosignature:
    return Cosignature(
        name=name, key_id=b"\x01\x02\x03\x04", timestamp=timestamp, signature=bytes(64)
    )


def test_cosignatures_and_witness_sizes_round_trip(store: SqlAuditStore) -> None:
    cosignatures = CosignatureStore(store.engine)
    assert cosignatures.witness_size("witness.police.example") == 0  # never cosigned
    cosignatures.add(7, _cosignature("witness.police.example", 10))
    cosignatures.add(7, _cosignature("witness.police.example", 11))  # a resubmission: first kept
    cosignatures.add(7, _cosignature("witness.council.example", 12))
    cosignatures.add(9, _cosignature("witness.police.example", 13))
    assert [c.timestamp for c in cosignatures.for_checkpoint(7)] == [12, 10]
    assert sorted(cosignatures.by_checkpoint()) == [7, 9]
    assert cosignatures.witness_size("witness.police.example") == 9
    cosignatures.set_witness_size("witness.police.example", 4)  # a late answer: never back
    assert cosignatures.witness_size("witness.police.example") == 9
    cosignatures.set_witness_size("witness.police.example", 12)  # what a 409 said (ahead)
    assert cosignatures.witness_size("witness.police.example") == 12
    # Opening again (another process) finds the tables and rows; the log is untouched.
    again = CosignatureStore(store.engine)
    assert [c.name for c in again.for_checkpoint(9)] == ["witness.police.example"]
    assert store.head().size == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_cosignatures SET timestamp_s = 1",
        "UPDATE audit_cosignatures SET signature = signature",  # even an update to the same
        "DELETE FROM audit_cosignatures",
        "UPDATE audit_witness_sizes SET tree_size = 3",  # backwards
        "UPDATE audit_witness_sizes SET witness_name = 'witness.other.example'",
        "DELETE FROM audit_witness_sizes",
    ],
)
def test_cosignatures_are_append_only_and_witness_sizes_only_go_forward(
    store: SqlAuditStore, statement: str
) -> None:
    """Cosignatures are evidence: the database refuses to change or remove one, like the log's
    own rows; a witness's size may move forward only."""
    cosignatures = CosignatureStore(store.engine)
    cosignatures.add(7, _cosignature("witness.police.example", 10))
    with pytest.raises(sqlalchemy.exc.DatabaseError), store.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert [c.timestamp for c in cosignatures.for_checkpoint(7)] == [10]
    assert cosignatures.witness_size("witness.police.example") == 7
    # Forward is what a cursor is for.
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_witness_sizes SET tree_size = 8")
    assert cosignatures.witness_size("witness.police.example") == 8


def test_truncating_cosignatures_is_refused_on_postgresql(
    postgres_server: PostgresServer, reopen: Callable[[str], SqlAuditStore]
) -> None:
    """SQLite has no TRUNCATE (its DELETE is refused above); PostgreSQL's is refused too."""
    store = reopen(postgres_server.create_database())
    cosignatures = CosignatureStore(store.engine)
    cosignatures.add(7, _cosignature("witness.police.example", 10))
    for table in ("audit_cosignatures", "audit_witness_sizes"):
        with pytest.raises(sqlalchemy.exc.DatabaseError), store.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {table}")
    assert cosignatures.witness_size("witness.police.example") == 7
    store.close()


def test_a_store_from_before_the_guards_gets_them_on_opening(store: SqlAuditStore) -> None:
    """Stores whose cosignature tables were made without triggers (issue 19's first version)
    get them the next time they are opened; the rows stay."""
    cosignature_tables.create_all(store.engine)  # tables only, as the first version made them
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_witness_sizes (witness_name, tree_size) VALUES ('w', 5)"
        )
    cosignatures = CosignatureStore(store.engine)
    assert cosignatures.witness_size("w") == 5
    with pytest.raises(sqlalchemy.exc.DatabaseError), store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_witness_sizes")
