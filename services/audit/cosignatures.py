"""Witnesses' cosignatures of the audit log's checkpoints, kept beside the checkpoint history
on the audit store's own database (SQLite or PostgreSQL, through its engine).

Tables (created on first use; the log's tables are untouched, so existing stores keep working)
    audit_cosignatures     one row per (checkpoint tree size, witness key): the witness's name
                           and key id, its timestamp and Ed25519 signature (cosignature/v1)
    audit_witness_sizes    per witness (its key name, as in its cosignatures): the largest tree
                           size it has cosigned for the hub, the `old` size of the next
                           add-checkpoint request

Cosignatures are evidence, so `audit_cosignatures` is append-only by trigger, the same
triggers as the log's own tables (`storage_sql.append_only_triggers`). `audit_witness_sizes`
is a cursor: a row is updated, but never to a smaller size and never deleted (a trigger, and
`set_witness_size` only moves it forward), because a witness's cosigned size never shrinks and
a cursor moved back would send a witness an `old` size it has long passed.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.audit.errors import StorageError
from services.audit.storage_sql import append_only_trigger_names, append_only_triggers
from services.hubkit.cosignature import Cosignature

__all__ = ["CosignatureStore"]

metadata = MetaData()

cosignatures = Table(
    "audit_cosignatures",
    metadata,
    Column("tree_size", BigInteger, nullable=False),
    Column("witness_name", String(255), nullable=False),
    Column("key_id", LargeBinary(4), nullable=False),
    Column("timestamp_s", BigInteger, nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    PrimaryKeyConstraint("tree_size", "witness_name", "key_id"),
)

witness_sizes = Table(
    "audit_witness_sizes",
    metadata,
    Column("witness_name", String(255), primary_key=True),
    Column("tree_size", BigInteger, nullable=False),
)


_APPEND_ONLY = ("audit_cosignatures",)
_FORWARD_ONLY_MESSAGE = "audit_witness_sizes: a witness''s cosigned size never goes backwards"


def _forward_only_triggers(dialect: str) -> list[str]:
    """`audit_witness_sizes` refuses an update to a smaller size (or another witness) and any
    delete (and, on PostgreSQL, TRUNCATE)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION audit_witness_size_forward() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'UPDATE' AND NEW.tree_size >= OLD.tree_size "
            "AND NEW.witness_name = OLD.witness_name THEN RETURN NEW; END IF; "
            f"RAISE EXCEPTION '{_FORWARD_ONLY_MESSAGE}'; END $$",
            "CREATE OR REPLACE TRIGGER audit_witness_sizes_forward BEFORE UPDATE OR DELETE "
            "ON audit_witness_sizes FOR EACH ROW EXECUTE FUNCTION audit_witness_size_forward()",
            "CREATE OR REPLACE TRIGGER audit_witness_sizes_no_truncate BEFORE TRUNCATE "
            "ON audit_witness_sizes FOR EACH STATEMENT "
            "EXECUTE FUNCTION audit_witness_size_forward()",
        ]
    return [
        "CREATE TRIGGER IF NOT EXISTS audit_witness_sizes_forward BEFORE UPDATE "
        "ON audit_witness_sizes WHEN NEW.tree_size < OLD.tree_size "
        "OR NEW.witness_name <> OLD.witness_name "
        f"BEGIN SELECT RAISE(ABORT, '{_FORWARD_ONLY_MESSAGE}'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_witness_sizes_no_delete BEFORE DELETE "
        f"ON audit_witness_sizes BEGIN SELECT RAISE(ABORT, '{_FORWARD_ONLY_MESSAGE}'); END",
    ]


def _trigger_names(dialect: str) -> set[str]:
    guards = (
        {"audit_witness_sizes_forward", "audit_witness_sizes_no_truncate"}
        if dialect == "postgresql"
        else {"audit_witness_sizes_forward", "audit_witness_sizes_no_delete"}
    )
    return append_only_trigger_names(dialect, _APPEND_ONLY) | guards


def _advance(conn: Connection, witness_name: str, tree_size: int) -> None:
    """Move the witness's size forward to `tree_size`; a smaller size changes nothing."""
    known = conn.execute(
        select(witness_sizes.c.tree_size).where(witness_sizes.c.witness_name == witness_name)
    ).scalar_one_or_none()
    if known is None:
        conn.execute(insert(witness_sizes).values(witness_name=witness_name, tree_size=tree_size))
    elif int(known) < tree_size:
        conn.execute(
            update(witness_sizes)
            .where(
                witness_sizes.c.witness_name == witness_name,
                witness_sizes.c.tree_size < tree_size,
            )
            .values(tree_size=tree_size)
        )


class CosignatureStore:
    """Cosignatures per checkpoint and the size each witness last cosigned."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        try:
            if not self._schema_ready():
                self._create_schema()
        except SQLAlchemyError as error:
            raise StorageError(f"cannot prepare the cosignature tables: {error}") from error

    def _schema_ready(self) -> bool:
        """Tables and triggers exist: opening needs no write (a reader never waits for the
        indexer's lock), as `SqlAuditStore` opens."""
        dialect = self._engine.dialect.name
        with self._engine.connect() as conn:
            if not set(metadata.tables) <= set(inspect(conn).get_table_names()):
                return False
            query = (
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                if dialect == "postgresql"
                else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            )
            triggers = {row[0] for row in conn.exec_driver_sql(query)}
        return _trigger_names(dialect) <= triggers

    def _create_schema(self) -> None:
        dialect = self._engine.dialect.name
        with self._engine.begin() as conn:
            if dialect == "postgresql":
                # The lock the audit store takes for its own DDL: two processes opening a
                # fresh database must not race on it.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7203410351)")
            metadata.create_all(conn, checkfirst=True)
            for statement in [
                *append_only_triggers(dialect, _APPEND_ONLY),
                *_forward_only_triggers(dialect),
            ]:
                conn.exec_driver_sql(statement)

    def add(self, tree_size: int, cosignature: Cosignature) -> None:
        """Keep a verified cosignature of the checkpoint at `tree_size`, and remember the size
        as this witness's latest. A second cosignature by the same key for the same checkpoint
        (a resubmission) keeps the first."""
        row = {
            "tree_size": tree_size,
            "witness_name": cosignature.name,
            "key_id": cosignature.key_id,
            "timestamp_s": cosignature.timestamp,
            "signature": cosignature.signature,
        }
        try:
            with self._engine.begin() as conn:
                exists = conn.execute(
                    select(cosignatures.c.tree_size).where(
                        cosignatures.c.tree_size == tree_size,
                        cosignatures.c.witness_name == cosignature.name,
                        cosignatures.c.key_id == cosignature.key_id,
                    )
                ).first()
                if exists is None:
                    conn.execute(insert(cosignatures).values(**row))
                # One transaction: a kept cosignature and the witness's size never disagree.
                _advance(conn, cosignature.name, tree_size)
        except (SQLAlchemyError, IntegrityError) as error:
            raise StorageError(f"recording a cosignature failed: {error}") from error

    def set_witness_size(self, witness_name: str, tree_size: int) -> None:
        """What the witness said it last cosigned (after a cosignature, or from a 409 naming a
        size beyond the hub's). Only ever forward: a smaller size leaves the row as it is (a
        late answer to an older checkpoint), so the cursor never goes back."""
        try:
            with self._engine.begin() as conn:
                _advance(conn, witness_name, tree_size)
        except SQLAlchemyError as error:
            raise StorageError(f"recording a witness's size failed: {error}") from error

    def witness_size(self, witness_name: str) -> int:
        """The size the hub believes this witness last cosigned; 0 if never (tlog-witness)."""
        with self._engine.connect() as conn:
            size = conn.execute(
                select(witness_sizes.c.tree_size).where(
                    witness_sizes.c.witness_name == witness_name
                )
            ).scalar_one_or_none()
        return 0 if size is None else int(size)

    def for_checkpoint(self, tree_size: int) -> list[Cosignature]:
        return self.by_checkpoint(tree_size).get(tree_size, [])

    def by_checkpoint(self, tree_size: int | None = None) -> dict[int, list[Cosignature]]:
        """Stored cosignatures (of one checkpoint, or all), by tree size, in witness-name
        order."""
        statement = select(cosignatures).order_by(
            cosignatures.c.tree_size, cosignatures.c.witness_name, cosignatures.c.key_id
        )
        if tree_size is not None:
            statement = statement.where(cosignatures.c.tree_size == tree_size)
        with self._engine.connect() as conn:
            rows = conn.execute(statement).all()
        found: dict[int, list[Cosignature]] = defaultdict(list)
        for row in rows:
            found[int(row.tree_size)].append(
                Cosignature(
                    name=row.witness_name,
                    key_id=bytes(row.key_id),
                    timestamp=int(row.timestamp_s),
                    signature=bytes(row.signature),
                )
            )
        return dict(found)
