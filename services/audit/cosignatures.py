"""Witnesses' cosignatures of the audit log's checkpoints, kept beside the checkpoint history
on the audit store's own database (SQLite or PostgreSQL, through its engine).

Tables (created on first use; the log's tables are untouched, so existing stores keep working)
    audit_cosignatures     one row per (checkpoint tree size, witness key): the witness's name
                           and key id, its timestamp and Ed25519 signature (cosignature/v1)
    audit_witness_sizes    per witness (its key name, as in its cosignatures): the largest tree
                           size it has cosigned for the hub, the `old` size of the next
                           add-checkpoint request
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.audit.errors import StorageError
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


class CosignatureStore:
    """Cosignatures per checkpoint and the size each witness last cosigned."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        try:
            metadata.create_all(engine, checkfirst=True)
        except SQLAlchemyError as error:
            raise StorageError(f"cannot prepare the cosignature tables: {error}") from error

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
            self.set_witness_size(cosignature.name, tree_size)
        except (SQLAlchemyError, IntegrityError) as error:
            raise StorageError(f"recording a cosignature failed: {error}") from error

    def set_witness_size(self, witness_name: str, tree_size: int) -> None:
        """What the witness said it last cosigned (after a cosignature, or from a 409)."""
        try:
            with self._engine.begin() as conn:
                updated = conn.execute(
                    update(witness_sizes)
                    .where(witness_sizes.c.witness_name == witness_name)
                    .values(tree_size=tree_size)
                )
                if updated.rowcount == 0:
                    conn.execute(
                        insert(witness_sizes).values(witness_name=witness_name, tree_size=tree_size)
                    )
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
