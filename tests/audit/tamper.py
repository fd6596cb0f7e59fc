"""What a person with database rights can do to the log: switch off the append-only triggers
and rewrite rows. The tests use it to show the signed checkpoints catch it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from services.audit.storage_sql import SqlAuditStore


def tamper(store: SqlAuditStore, table: str, statement: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        conn.execute(text(statement), params)
