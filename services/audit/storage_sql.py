"""`AuditStore` on SQLAlchemy Core: SQLite by default, PostgreSQL as the production option.

One code path for both; the only dialect-specific parts are connection set-up (SQLite
pragmas) and the append-only triggers.

Tables
    audit_log_head          one row: tree size, root, the tree's right edge (compact range);
                            every append locks it first, so writers serialise on it
    audit_leaves            one row per leaf: index, leaf hash, the logged bytes, entry id,
                            duplicate_of, the Kafka position read from, and index columns
                            (notice, subject linkage key, recipient, decided-at, outcome...)
    audit_leaf_rules        (leaf, rule id) pairs, for "decisions where rule R5 fired"
    audit_nodes             every completed perfect subtree above the leaves: (level, index)
    audit_checkpoints       signed checkpoint history, one per tree size
    audit_checkpoint_publications  when each checkpoint reached the checkpoint topic
    audit_linkage_events    the child index's merges and splits, in the order read (`seq`),
                            one row per event id, with the Kafka position read from
    audit_child_keys        child_ref -> the child's data key, wrapped under the store key
                            (services/hubkit/child_keys.py); erasure deletes the row
    audit_leaf_openings     leaf_index -> child_ref and the leaf's opening (the child's linkage
                            key and the record as travelled) sealed under the child's data key;
                            erasure deletes the child's rows
    audit_linkage_keys      child_ref -> the linkage key, sealed under the child's data key:
                            linkage changes recorded since issue 18 name children by child_ref
                            (`child_key`, `other_keys`), opened back to keys when read; erasure
                            deletes the child's row, after which its reference names no one

Entries naming a child are committed on append (`services.audit.domain.commitment`): their
`audit_leaves.data` is the commitment, their `subject_linkage_key` column is NULL, and the
child is found through `audit_leaf_openings.child_ref`, a keyed hash (`ChildKeys.child_ref`,
scheme "linkage") that cannot be reversed or recomputed without the store key. Rows of older
logs (plain leaves, the key in the clear) stay as they were: the log is append-only.

Every table but the head and the two erasable tables is append-only, enforced by triggers,
so a bug cannot rewrite the log; a person with database rights still can, which is what the
signed checkpoints and the verifier catch.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Row,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.commitment import is_committed, leaf_salt
from services.audit.domain.merkle import EMPTY_ROOT, HASH_SIZE, CompactRange
from services.audit.errors import NotFound, StorageCorrupt, StorageError
from services.audit.indexer import (
    EntryKind,
    IndexColumns,
    LogEntry,
    SourcePosition,
    committed_entry,
    plan_appends,
)
from services.audit.linkage import LinkageChanged, LinkageChangeKind
from services.audit.storage import (
    AppendResult,
    ChildErasure,
    DecisionQuery,
    LinkageAppendResult,
    ProcessingCount,
    StoredCheckpoint,
    StoredLeaf,
    TreeHead,
)
from services.hubkit.child_keys import (
    ChildKeys,
    StoreKeyFile,
    StoreKeySource,
    derive_key,
    open_sealed,
    seal,
)
from services.hubkit.errors import SealedValueUnreadable, StoreKeyInvalid

__all__ = [
    "APPEND_ONLY_TABLES",
    "LEAF_SALT_LABEL",
    "STORE_LABEL",
    "SqlAuditStore",
    "append_only_trigger_names",
    "append_only_triggers",
    "default_store_key_path",
    "leaf_row",
    "metadata",
    "open_store",
]

STORE_LABEL = "audit"
"""The store's name in its key derivations (`ChildKeys(store_key, store=STORE_LABEL)`)."""
LEAF_SALT_LABEL = b"safehub.audit.leaf-salt.v1"
"""HKDF label of the child's salt secret, derived from the child's data key: the data key
seals the openings, the derived secret keys the salts (one key, one use)."""
_LINKAGE_SCHEME = "linkage"

metadata = MetaData()

# BIGINT everywhere, except that SQLite only makes "INTEGER PRIMARY KEY" the rowid.
_LeafIndex = BigInteger().with_variant(Integer(), "sqlite")

log_head = Table(
    "audit_log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(HASH_SIZE), nullable=False),
    Column("compact_range", LargeBinary, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="audit_log_head_single_row"),
)

leaves = Table(
    "audit_leaves",
    metadata,
    Column("leaf_index", _LeafIndex, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(HASH_SIZE), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("entry_id", String(128), nullable=False),
    Column("duplicate_of", BigInteger, nullable=True),
    Column("event", String(32)),
    Column("notice_id", String(64)),
    Column("notice_type", String(64)),
    Column("subject_linkage_key", String(128)),
    Column("recipient_subscriber_id", String(128)),
    Column("recipient_agency", String(64)),
    Column("recipient_organisation", String(64)),
    Column("recipient_role", String(64)),
    Column("decided_at_ms", BigInteger),
    Column("disclosed_at_ms", BigInteger),
    Column("outcome", String(16)),
    Column("purpose", String(64)),
    Column("policy_revision", String(128)),
    Column("source_topic", String(255)),
    Column("source_partition", Integer),
    Column("source_offset", BigInteger),
    Column("appended_at_ms", BigInteger, nullable=False),
    # The idempotency key: a re-delivered record is the same id with the same bytes.
    UniqueConstraint("entry_id", "leaf_hash", name="audit_leaves_entry_content"),
    Index("audit_leaves_entry_id", "entry_id"),
    Index("audit_leaves_notice", "notice_id"),
    Index("audit_leaves_subject", "subject_linkage_key", "decided_at_ms"),
    Index("audit_leaves_recipient", "recipient_subscriber_id", "decided_at_ms"),
    Index("audit_leaves_organisation", "recipient_organisation", "recipient_role"),
    Index("audit_leaves_decided_at", "decided_at_ms"),
    Index("audit_leaves_outcome", "outcome"),
    Index("audit_leaves_purpose", "purpose"),
    Index("audit_leaves_event", "event"),
    Index("audit_leaves_source", "source_topic", "source_partition", "source_offset"),
)

leaf_rules = Table(
    "audit_leaf_rules",
    metadata,
    Column("leaf_index", ForeignKey("audit_leaves.leaf_index"), nullable=False),
    Column("rule_id", String(64), nullable=False),
    PrimaryKeyConstraint("leaf_index", "rule_id"),
    Index("audit_leaf_rules_rule", "rule_id", "leaf_index"),
)

nodes = Table(
    "audit_nodes",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("node_index", BigInteger, nullable=False),
    Column("hash", LargeBinary(HASH_SIZE), nullable=False),
    PrimaryKeyConstraint("level", "node_index"),
)

checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("origin", String(255), nullable=False),
    Column("root_hash", LargeBinary(HASH_SIZE), nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("note", LargeBinary, nullable=False),
)

publications = Table(
    "audit_checkpoint_publications",
    metadata,
    Column(
        "tree_size",
        ForeignKey("audit_checkpoints.tree_size"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("published_at_ms", BigInteger, nullable=False),
    Column("to_topic", Boolean, nullable=False, default=True),
)

linkage_events = Table(
    "audit_linkage_events",
    metadata,
    # The order the changes were read in is the order they are applied in.
    Column("seq", _LeafIndex, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("child_key", String(64), nullable=False),
    Column("other_keys", Text, nullable=False),  # a JSON array of child keys
    Column("decided_by", String(160), nullable=False),
    Column("review_id", String(160)),
    Column("match_probability", Float),
    Column("occurred_at_ms", BigInteger, nullable=False),
    Column("source_topic", String(255)),
    Column("source_partition", Integer),
    Column("source_offset", BigInteger),
    Column("recorded_at_ms", BigInteger, nullable=False),
    # A change re-delivered (or announced twice) is recorded once.
    UniqueConstraint("event_id", name="audit_linkage_events_event_id"),
    Index("audit_linkage_events_source", "source_topic", "source_partition", "source_offset"),
)

child_keys = Table(
    "audit_child_keys",
    metadata,
    Column("child_ref", String(64), primary_key=True, autoincrement=False),
    Column("wrapped_key", LargeBinary, nullable=False),
)

leaf_openings = Table(
    "audit_leaf_openings",
    metadata,
    Column("leaf_index", ForeignKey("audit_leaves.leaf_index"), primary_key=True),
    Column("child_ref", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Index("audit_leaf_openings_child", "child_ref", "leaf_index"),
)

linkage_keys = Table(
    "audit_linkage_keys",
    metadata,
    Column("child_ref", String(64), primary_key=True, autoincrement=False),
    Column("sealed", LargeBinary, nullable=False),
)

APPEND_ONLY_TABLES = (
    "audit_leaves",
    "audit_leaf_rules",
    "audit_nodes",
    "audit_checkpoints",
    "audit_checkpoint_publications",
    "audit_linkage_events",
)

_CHUNK = 500  # rows per IN (...) list, well under every backend's parameter limit


def _sqlite_triggers(tables: Sequence[str] = APPEND_ONLY_TABLES) -> list[str]:
    statements = []
    for table in tables:
        for action in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
                f"BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    return statements


def _postgres_triggers(tables: Sequence[str] = APPEND_ONLY_TABLES) -> list[str]:
    statements = [
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'table %% is append-only', TG_TABLE_NAME; END $$"
    ]
    for table in tables:
        statements += [
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
        ]
    return statements


def append_only_triggers(dialect: str, tables: Sequence[str]) -> list[str]:
    """The statements that make `tables` append-only on `dialect` (UPDATE, DELETE and, on
    PostgreSQL, TRUNCATE refused), as for the log's own tables; for tables kept beside the log
    on the same database (the witnesses' cosignatures, `services.audit.cosignatures`)."""
    return _postgres_triggers(tables) if dialect == "postgresql" else _sqlite_triggers(tables)


def append_only_trigger_names(dialect: str, tables: Sequence[str]) -> set[str]:
    """The names `append_only_triggers` gives its triggers (to check a schema is ready)."""
    suffixes = (
        ("append_only", "no_truncate") if dialect == "postgresql" else ("no_update", "no_delete")
    )
    return {f"{table}_{suffix}" for table in tables for suffix in suffixes}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers (the IG API) never block the indexer. synchronous=FULL: a committed batch
    # survives power loss as well as kill -9. busy_timeout: writers in two processes queue.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erasure deletes a child's wrapped key and openings: zero the freed bytes, so the file's
    # free pages keep nothing of them (the console's and child index's stores do the same).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _encode_range(compact: CompactRange) -> bytes:
    return b"".join(compact.hashes)


def _decode_range(size: int, blob: bytes) -> CompactRange:
    hashes = tuple(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))
    try:
        return CompactRange(size=size, hashes=hashes)
    except ValueError as error:
        raise StorageCorrupt(f"the stored tree head is damaged: {error}") from error


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class SqlAuditStore:
    """The audit store on an SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, store_key: bytes) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        try:
            self._keys = ChildKeys(store_key, store=STORE_LABEL)
        except StoreKeyInvalid as error:
            engine.dispose()
            raise StorageError(f"the audit store's key is unusable: {error}") from None
        try:
            self._create_schema()
        except BaseException:
            engine.dispose()
            raise

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._dialect

    # -- schema -------------------------------------------------------------------------------

    def _expected_triggers(self) -> set[str]:
        return append_only_trigger_names(self._dialect, APPEND_ONLY_TABLES)

    def _schema_ready(self) -> bool:
        """True when tables, triggers and the head row exist: opening then needs no write, so
        a reader (the API, the CLI) never waits for the indexer's write lock."""
        with self._engine.connect() as conn:
            if not set(metadata.tables) <= set(inspect(conn).get_table_names()):
                return False
            query = (
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                if self._dialect == "postgresql"
                else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            )
            triggers = {row[0] for row in conn.exec_driver_sql(query)}
            if not self._expected_triggers() <= triggers:
                return False
            return conn.execute(select(func.count()).select_from(log_head)).scalar_one() == 1

    def _create_schema(self) -> None:
        try:
            if self._schema_ready():
                return
            with self._engine.begin() as conn:
                if self._dialect == "postgresql":
                    # Two processes opening a fresh database must not race on DDL.
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7203410351)")
                metadata.create_all(conn)
                triggers = (
                    _postgres_triggers() if self._dialect == "postgresql" else _sqlite_triggers()
                )
                for statement in triggers:
                    conn.exec_driver_sql(statement)
            with contextlib.suppress(IntegrityError), self._engine.begin() as conn:
                conn.execute(
                    insert(log_head).values(
                        id=1,
                        tree_size=0,
                        root_hash=EMPTY_ROOT,
                        compact_range=b"",
                        updated_at_ms=0,
                    )
                )
        except SQLAlchemyError as error:
            raise StorageError(f"cannot prepare the audit store: {error}") from error

    # -- appending ----------------------------------------------------------------------------

    def append(self, entries: Sequence[LogEntry], *, appended_at_ms: int) -> AppendResult:
        try:
            with self._engine.begin() as conn:
                return self._append(conn, entries, appended_at_ms)
        except (StorageError, NotFound):
            raise
        except SQLAlchemyError as error:
            raise StorageError(f"appending {len(entries)} entries failed: {error}") from error

    def _append(
        self, conn: Connection, entries: Sequence[LogEntry], appended_at_ms: int
    ) -> AppendResult:
        # Lock the head first: on PostgreSQL a row lock, on SQLite the database write lock.
        # Everything read after this is what the previous writer committed.
        conn.execute(update(log_head).where(log_head.c.id == 1).values(id=1))
        row = conn.execute(select(log_head).where(log_head.c.id == 1)).one()
        current = _decode_range(row.tree_size, row.compact_range)
        if current.root() != row.root_hash:
            raise StorageCorrupt(
                f"the stored head's root {row.root_hash.hex()} is not the root of its own right "
                "edge; stop appending and investigate the database"
            )
        head_before = TreeHead(current.size, row.root_hash)
        if not entries:
            return AppendResult(current.size, 0, 0, 0, head_before)
        known: dict[str, dict[bytes, int]] = {}
        ids = sorted({e.entry_id for e in entries})
        for chunk in _chunks(ids):
            found = conn.execute(
                select(leaves.c.entry_id, leaves.c.leaf_hash, leaves.c.leaf_index).where(
                    leaves.c.entry_id.in_(chunk)
                )
            )
            for entry_id, digest, index in found:
                known.setdefault(entry_id, {})[bytes(digest)] = index
        entries, child_of = self._committed(conn, entries)
        plan = plan_appends(range=current, entries=entries, known=known)
        if plan.leaves:
            conn.execute(
                insert(leaves),
                [
                    leaf_row(p.leaf_index, p.entry, p.duplicate_of, appended_at_ms)
                    for p in plan.leaves
                ],
            )
            openings = [
                self._opening_row(p.leaf_index, p.entry, child_of[p.entry.entry_id])
                for p in plan.leaves
                if p.entry.opening is not None
            ]
            if openings:
                conn.execute(insert(leaf_openings), openings)
            rules = [
                {"leaf_index": p.leaf_index, "rule_id": rule}
                for p in plan.leaves
                for rule in p.entry.columns.rule_ids
            ]
            if rules:
                conn.execute(insert(leaf_rules), rules)
            if plan.nodes:
                conn.execute(
                    insert(nodes),
                    [{"level": n.level, "node_index": n.index, "hash": n.hash} for n in plan.nodes],
                )
            conn.execute(
                update(log_head)
                .where(log_head.c.id == 1)
                .values(
                    tree_size=plan.range.size,
                    root_hash=plan.range.root(),
                    compact_range=_encode_range(plan.range),
                    updated_at_ms=appended_at_ms,
                )
            )
        return AppendResult(
            first_index=current.size,
            appended=len(plan.leaves),
            skipped=len(plan.skipped),
            duplicates=plan.duplicates,
            head=TreeHead(plan.range.size, plan.range.root()),
        )

    # -- committed leaves and erasure ---------------------------------------------------------

    def _child_ref(self, subject_linkage_key: str) -> str:
        return self._keys.child_ref(_LINKAGE_SCHEME, subject_linkage_key)

    def _data_keys(
        self, conn: Connection, refs: Sequence[str], *, create: bool
    ) -> dict[str, bytes]:
        """The data keys of these children (wrapped rows opened); missing ones made and
        stored when `create`, otherwise left out (an erased child has none)."""
        found: dict[str, bytes] = {}
        for chunk in _chunks(sorted(set(refs))):
            for ref, wrapped in conn.execute(
                select(child_keys.c.child_ref, child_keys.c.wrapped_key).where(
                    child_keys.c.child_ref.in_(chunk)
                )
            ):
                found[ref] = self._unwrap(ref, bytes(wrapped))
        if create:
            for ref in sorted(set(refs) - set(found)):
                data_key, wrapped = self._keys.new_data_key(ref)
                conn.execute(insert(child_keys).values(child_ref=ref, wrapped_key=wrapped))
                found[ref] = data_key
        return found

    def _unwrap(self, ref: str, wrapped: bytes) -> bytes:
        try:
            return self._keys.unwrap(ref, wrapped)
        except SealedValueUnreadable as error:
            raise StorageCorrupt(
                f"a child's data key in the audit store does not open ({error}); the store "
                "key is not the one this store was made with (SAFEHUB_AUDIT_STORE_KEY_PATH)"
            ) from None

    def _committed(
        self, conn: Connection, entries: Sequence[LogEntry]
    ) -> tuple[list[LogEntry], dict[str, tuple[str, str, bytes]]]:
        """Commit every entry that names a child under a salt from the child's secret; the
        others as they are. Also returns, per committed entry id, (child_ref, linkage key,
        data key) for sealing its opening."""
        named = {
            e.columns.subject_linkage_key
            for e in entries
            if e.columns.subject_linkage_key is not None and e.opening is None
        }
        refs = {key: self._child_ref(key) for key in named}
        data_keys = self._data_keys(conn, list(refs.values()), create=True)
        secrets_of = {ref: derive_key(k, LEAF_SALT_LABEL) for ref, k in data_keys.items()}
        out: list[LogEntry] = []
        child_of: dict[str, tuple[str, str, bytes]] = {}
        for entry in entries:
            key = entry.columns.subject_linkage_key
            if key is None or entry.opening is not None:
                out.append(entry)
                continue
            ref = refs[key]
            salt = leaf_salt(secrets_of[ref], entry_id=entry.entry_id, record=entry.data)
            out.append(committed_entry(entry, salt=salt))
            child_of[entry.entry_id] = (ref, key, data_keys[ref])
        return out, child_of

    @staticmethod
    def _opening_row(index: int, entry: LogEntry, child: tuple[str, str, bytes]) -> dict[str, Any]:
        ref, key, data_key = child
        assert entry.opening is not None
        plaintext = key.encode() + b"\x00" + entry.opening
        return {
            "leaf_index": index,
            "child_ref": ref,
            "sealed": seal(data_key, plaintext, aad=_opening_aad(index, ref)),
        }

    def erase_child(self, subject_linkage_key: str) -> ChildErasure:
        ref = self._child_ref(subject_linkage_key)
        try:
            with self._engine.begin() as conn:
                # The head lock first, as every writer: an append committing this child's
                # key and openings concurrently is wholly before or wholly after the erasure.
                conn.execute(update(log_head).where(log_head.c.id == 1).values(id=1))
                removed = conn.execute(
                    leaf_openings.delete().where(leaf_openings.c.child_ref == ref)
                ).rowcount
                conn.execute(child_keys.delete().where(child_keys.c.child_ref == ref))
                conn.execute(linkage_keys.delete().where(linkage_keys.c.child_ref == ref))
            if self._dialect == "sqlite":
                # The WAL still holds the pages as they were before the deletion: copy the
                # zeroed pages into the file and empty the WAL. Best effort while a reader
                # holds an old snapshot; the next erasure (or checkpoint) finishes it.
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except SQLAlchemyError as error:
            raise StorageError(f"erasing a child from the audit store failed: {error}") from error
        return ChildErasure(child_ref=ref, leaves=int(removed or 0))

    def child_readable(self, subject_linkage_key: str) -> bool:
        ref = self._child_ref(subject_linkage_key)
        with self._reading() as conn:
            for table in (child_keys, leaf_openings, linkage_keys):
                found = conn.execute(
                    select(table.c.child_ref).where(table.c.child_ref == ref).limit(1)
                ).first()
                if found is not None:
                    return True
        return False

    def child_ref(self, subject_linkage_key: str) -> str:
        """The store's keyed reference to a child (what erasure entries digest)."""
        return self._child_ref(subject_linkage_key)

    # -- reading the tree ---------------------------------------------------------------------

    def head(self) -> TreeHead:
        with self._reading() as conn:
            row = conn.execute(select(log_head.c.tree_size, log_head.c.root_hash)).one()
        return TreeHead(row.tree_size, bytes(row.root_hash))

    def subtree_hash(self, level: int, index: int) -> bytes:
        with self._reading() as conn:
            if level == 0:
                value = conn.execute(
                    select(leaves.c.leaf_hash).where(leaves.c.leaf_index == index)
                ).scalar_one_or_none()
            else:
                value = conn.execute(
                    select(nodes.c.hash).where(nodes.c.level == level, nodes.c.node_index == index)
                ).scalar_one_or_none()
        if value is None:
            raise StorageCorrupt(
                f"perfect subtree (level {level}, index {index}) is not stored although a proof "
                "needs it; the store is damaged or the tree is smaller than asked"
            )
        return bytes(value)

    def leaf(self, leaf_index: int) -> StoredLeaf:
        found = self.leaves(leaf_index, leaf_index + 1)
        if not found:
            raise NotFound(f"the log has no leaf {leaf_index}")
        return found[0]

    def leaves(self, start: int, end: int) -> list[StoredLeaf]:
        query = (
            select(leaves)
            .where(leaves.c.leaf_index >= start, leaves.c.leaf_index < end)
            .order_by(leaves.c.leaf_index)
        )
        return self._load(query)

    def leaves_for_entry(self, entry_id: str) -> list[StoredLeaf]:
        return self._load(
            select(leaves).where(leaves.c.entry_id == entry_id).order_by(leaves.c.leaf_index)
        )

    def find(self, query: DecisionQuery) -> list[StoredLeaf]:
        c = leaves.c
        statement = select(leaves).where(c.kind == query.kind.value)
        equal = {
            c.notice_id: query.notice_id,
            c.recipient_subscriber_id: query.recipient,
            c.recipient_organisation: query.organisation,
            c.recipient_role: query.role,
            c.outcome: query.outcome,
            c.event: query.event,
            c.purpose: query.purpose,
        }
        for column, value in equal.items():
            if value is not None:
                statement = statement.where(column == value)
        if query.subject_linkage_key is not None:
            # Committed leaves name the child only through their opening's keyed reference;
            # leaves of older logs hold the key in the clear.
            statement = statement.where(
                or_(
                    c.subject_linkage_key == query.subject_linkage_key,
                    c.leaf_index.in_(
                        select(leaf_openings.c.leaf_index).where(
                            leaf_openings.c.child_ref == self._child_ref(query.subject_linkage_key)
                        )
                    ),
                )
            )
        if query.decided_from_ms is not None:
            statement = statement.where(c.decided_at_ms >= query.decided_from_ms)
        if query.decided_to_ms is not None:
            statement = statement.where(c.decided_at_ms < query.decided_to_ms)
        if query.rule_id is not None:
            statement = statement.where(
                c.leaf_index.in_(
                    select(leaf_rules.c.leaf_index).where(leaf_rules.c.rule_id == query.rule_id)
                )
            )
        statement = statement.order_by(c.leaf_index).limit(query.limit).offset(query.offset)
        return self._load(statement)

    def entries_of_kind(self, kind: EntryKind, *, limit: int, offset: int) -> list[StoredLeaf]:
        return self._load(
            select(leaves)
            .where(leaves.c.kind == kind.value)
            .order_by(leaves.c.leaf_index)
            .limit(limit)
            .offset(offset)
        )

    def count_of_kind(self, kind: EntryKind) -> int:
        with self._reading() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(leaves).where(leaves.c.kind == kind.value)
                ).scalar_one()
            )

    def processing_summary(
        self, *, decided_from_ms: int | None, decided_to_ms: int | None
    ) -> list[ProcessingCount]:
        c = leaves.c
        group = (
            c.purpose,
            c.recipient_subscriber_id,
            c.recipient_agency,
            c.recipient_organisation,
            c.recipient_role,
            c.outcome,
        )
        statement = (
            select(*group, func.count().label("n"))
            .where(
                c.kind == EntryKind.DECISION.value,
                c.event == "SHARING_DECISION",
                # A decision re-emitted under the same id is one decision, counted once.
                c.duplicate_of.is_(None),
            )
            .group_by(*group)
        )
        if decided_from_ms is not None:
            statement = statement.where(c.decided_at_ms >= decided_from_ms)
        if decided_to_ms is not None:
            statement = statement.where(c.decided_at_ms < decided_to_ms)
        with self._reading() as conn:
            rows = conn.execute(statement).all()
        counts = [
            ProcessingCount(
                purpose=r.purpose,
                recipient_subscriber_id=r.recipient_subscriber_id,
                recipient_agency=r.recipient_agency,
                recipient_organisation=r.recipient_organisation,
                recipient_role=r.recipient_role,
                outcome=r.outcome,
                count=int(r.n),
            )
            for r in rows
        ]
        return sorted(
            counts,
            key=lambda p: (
                p.purpose or "",
                p.recipient_organisation or "",
                p.recipient_role or "",
                p.recipient_subscriber_id or "",
                p.outcome or "",
            ),
        )

    def next_source_offset(self, topic: str, partition: int) -> int | None:
        found = []
        with self._reading() as conn:
            # A topic's records are leaves, linkage changes, or (the linkage topic) both.
            for table in (leaves, linkage_events):
                value = conn.execute(
                    select(func.max(table.c.source_offset)).where(
                        table.c.source_topic == topic, table.c.source_partition == partition
                    )
                ).scalar_one_or_none()
                if value is not None:
                    found.append(int(value))
        return max(found) + 1 if found else None

    # -- linkage ------------------------------------------------------------------------------

    def append_linkage(
        self,
        changes: Sequence[LinkageChanged],
        *,
        rejected: Sequence[LogEntry] = (),
        appended_at_ms: int,
    ) -> LinkageAppendResult:
        try:
            with self._engine.begin() as conn:
                # The head lock first (also when nothing is rejected): writers stay serialised
                # on one row, and the batch commits whole or not at all.
                logged = self._append(conn, rejected, appended_at_ms)
                ids = sorted({c.event_id for c in changes})
                known: set[str] = set()
                for chunk in _chunks(ids):
                    known.update(
                        conn.execute(
                            select(linkage_events.c.event_id).where(
                                linkage_events.c.event_id.in_(chunk)
                            )
                        ).scalars()
                    )
                rows = []
                for change in changes:
                    if change.event_id in known:
                        continue
                    known.add(change.event_id)
                    rows.append(_linkage_row(change, appended_at_ms))
                refs = self._seal_linkage_keys(conn, rows)
                for row in rows:
                    # Children named by their keyed reference, never the key (issue 18).
                    row["child_key"] = refs[row["child_key"]]
                    row["other_keys"] = json.dumps([refs[k] for k in json.loads(row["other_keys"])])
                # One statement per row keeps `seq` in the order given on every backend.
                for row in rows:
                    conn.execute(insert(linkage_events).values(**row))
        except (StorageError, NotFound):
            raise
        except SQLAlchemyError as error:
            raise StorageError(
                f"recording {len(changes)} linkage changes failed: {error}"
            ) from error
        return LinkageAppendResult(
            recorded=len(rows), repeated=len(changes) - len(rows), rejected=logged
        )

    def linkage_changes(self) -> list[LinkageChanged]:
        with self._reading() as conn:
            rows = conn.execute(select(linkage_events).order_by(linkage_events.c.seq)).all()
            changes = [_linkage_change(r) for r in rows]
            named = {k for c in changes for k in (c.child_key, *c.other_keys)}
            keys = self._open_linkage_keys(conn, sorted(named))
        # A reference whose child was erased stays a reference: it matches no linkage key, so
        # no report counts it as anyone's key. Rows from before issue 18 hold keys as they were.
        return [
            replace(
                c,
                child_key=keys.get(c.child_key, c.child_key),
                other_keys=tuple(keys.get(k, k) for k in c.other_keys),
            )
            for c in changes
        ]

    def _seal_linkage_keys(
        self, conn: Connection, rows: Sequence[dict[str, Any]]
    ) -> dict[str, str]:
        """Every linkage key the rows name -> its child reference; a key not sealed yet is
        sealed under its child's data key (made if the child has none)."""
        named = sorted(
            {str(r["child_key"]) for r in rows}
            | {str(k) for r in rows for k in json.loads(r["other_keys"])}
        )
        refs = {key: self._child_ref(key) for key in named}
        held: set[str] = set()
        for chunk in _chunks(sorted(set(refs.values()))):
            held.update(
                conn.execute(
                    select(linkage_keys.c.child_ref).where(linkage_keys.c.child_ref.in_(chunk))
                ).scalars()
            )
        missing = {key: ref for key, ref in refs.items() if ref not in held}
        data_keys = self._data_keys(conn, list(missing.values()), create=True)
        for key, ref in missing.items():
            conn.execute(
                insert(linkage_keys).values(
                    child_ref=ref,
                    sealed=seal(data_keys[ref], key.encode(), aad=_linkage_key_aad(ref)),
                )
            )
        return refs

    def _open_linkage_keys(self, conn: Connection, refs: Sequence[str]) -> dict[str, str]:
        """Child reference -> linkage key, for the references whose child is not erased."""
        sealed: dict[str, bytes] = {}
        for chunk in _chunks(refs):
            for ref, value in conn.execute(
                select(linkage_keys.c.child_ref, linkage_keys.c.sealed).where(
                    linkage_keys.c.child_ref.in_(chunk)
                )
            ):
                sealed[str(ref)] = bytes(value)
        data_keys = self._data_keys(conn, list(sealed), create=False)
        opened: dict[str, str] = {}
        for ref, value in sealed.items():
            if ref not in data_keys:
                continue
            try:
                opened[ref] = open_sealed(data_keys[ref], value, aad=_linkage_key_aad(ref)).decode()
            except SealedValueUnreadable:
                raise StorageCorrupt(
                    "a sealed linkage key does not open under its child's key: it was altered "
                    "or moved from another row"
                ) from None
        return opened

    # -- checkpoints --------------------------------------------------------------------------

    def add_checkpoint(self, checkpoint: Checkpoint, note: bytes) -> StoredCheckpoint:
        size = checkpoint.tree_size
        head = self.head()
        if size > head.size:
            raise StorageCorrupt(
                f"refusing to record a checkpoint at size {size}: the store holds {head.size}"
            )
        root = head.root if size == head.size else CompactRange.from_subtrees(self, size).root()
        if root != checkpoint.root_hash:
            raise StorageCorrupt(
                f"refusing to record a checkpoint with root {checkpoint.root_hash.hex()} at size "
                f"{size}: the stored tree's root there is {root.hex()}"
            )
        try:
            with self._engine.begin() as conn:
                existing = conn.execute(
                    select(checkpoints).where(checkpoints.c.tree_size == size)
                ).one_or_none()
                if existing is None:
                    conn.execute(
                        insert(checkpoints).values(
                            tree_size=size,
                            origin=checkpoint.origin,
                            root_hash=checkpoint.root_hash,
                            timestamp_ms=checkpoint.timestamp_ms,
                            note=note,
                        )
                    )
                elif bytes(existing.root_hash) != checkpoint.root_hash:
                    raise StorageCorrupt(
                        f"the log already signed root {bytes(existing.root_hash).hex()} at size "
                        f"{size}; refusing to record a second root (a split view)"
                    )
        except SQLAlchemyError as error:
            raise StorageError(f"recording the checkpoint failed: {error}") from error
        return self.checkpoint(size)

    def mark_published(self, tree_size: int, *, at_ms: int) -> None:
        try:
            with contextlib.suppress(IntegrityError), self._engine.begin() as conn:
                conn.execute(
                    insert(publications).values(
                        tree_size=tree_size, published_at_ms=at_ms, to_topic=True
                    )
                )
        except SQLAlchemyError as error:
            raise StorageError(f"recording the publication failed: {error}") from error

    def checkpoints(self) -> list[StoredCheckpoint]:
        return self._checkpoints(None)

    def checkpoint(self, tree_size: int) -> StoredCheckpoint:
        found = self._checkpoints(tree_size)
        if not found:
            raise NotFound(f"the log has signed no checkpoint at size {tree_size}")
        return found[0]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._reading() as conn:
            size = conn.execute(select(func.max(checkpoints.c.tree_size))).scalar_one_or_none()
        return None if size is None else self.checkpoint(int(size))

    def _checkpoints(self, tree_size: int | None) -> list[StoredCheckpoint]:
        statement = (
            select(checkpoints, publications.c.published_at_ms)
            .select_from(checkpoints.outerjoin(publications))
            .order_by(checkpoints.c.tree_size)
        )
        if tree_size is not None:
            statement = statement.where(checkpoints.c.tree_size == tree_size)
        with self._reading() as conn:
            rows = conn.execute(statement).all()
        return [
            StoredCheckpoint(
                checkpoint=Checkpoint(
                    origin=r.origin,
                    tree_size=int(r.tree_size),
                    root_hash=bytes(r.root_hash),
                    timestamp_ms=int(r.timestamp_ms),
                ),
                note=bytes(r.note),
                published_at_ms=None if r.published_at_ms is None else int(r.published_at_ms),
            )
            for r in rows
        ]

    # -- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self) -> Any:
        try:
            with self._engine.connect() as conn:
                yield conn
        except (DBAPIError, SQLAlchemyError) as error:
            raise StorageError(f"reading the audit store failed: {error}") from error

    def _load(self, statement: Any) -> list[StoredLeaf]:
        with self._reading() as conn:
            rows = conn.execute(statement).all()
            indices = [r.leaf_index for r in rows]
            rules: dict[int, list[str]] = {}
            for chunk in _chunks(indices):
                for index, rule in conn.execute(
                    select(leaf_rules.c.leaf_index, leaf_rules.c.rule_id)
                    .where(leaf_rules.c.leaf_index.in_(chunk))
                    .order_by(leaf_rules.c.leaf_index, leaf_rules.c.rule_id)
                ):
                    rules.setdefault(index, []).append(rule)
            opened = self._openings(
                conn, {int(r.leaf_index): r.entry_id for r in rows if is_committed(r.data)}
            )
        return [
            _stored_leaf(r, tuple(rules.get(r.leaf_index, ())), opened.get(r.leaf_index))
            for r in rows
        ]

    def _openings(
        self, conn: Connection, entry_ids: dict[int, str]
    ) -> dict[int, tuple[str, bytes, bytes]]:
        """(linkage key, record, salt) of every committed leaf (index -> entry id) that
        still opens; an erased leaf has no row."""
        rows: list[tuple[int, str, bytes]] = []
        for chunk in _chunks(sorted(entry_ids)):
            rows.extend(
                (int(i), str(ref), bytes(sealed))
                for i, ref, sealed in conn.execute(
                    select(
                        leaf_openings.c.leaf_index,
                        leaf_openings.c.child_ref,
                        leaf_openings.c.sealed,
                    ).where(leaf_openings.c.leaf_index.in_(chunk))
                )
            )
        data_keys = self._data_keys(conn, [ref for _, ref, _ in rows], create=False)
        secrets_of = {ref: derive_key(k, LEAF_SALT_LABEL) for ref, k in data_keys.items()}
        found: dict[int, tuple[str, bytes, bytes]] = {}
        for index, ref, sealed in rows:
            data_key = data_keys.get(ref)
            if data_key is None:
                continue  # the key is gone: nothing of this leaf opens
            try:
                plain = open_sealed(data_key, sealed, aad=_opening_aad(index, ref))
            except SealedValueUnreadable:
                raise StorageCorrupt(
                    f"leaf {index}'s sealed opening does not open under its child's key: it "
                    "was altered or moved from another row"
                ) from None
            key, _, record = plain.partition(b"\x00")
            salt = leaf_salt(secrets_of[ref], entry_id=entry_ids[index], record=record)
            found[index] = (key.decode(), record, salt)
        return found

    def close(self) -> None:
        self._engine.dispose()


def leaf_row(
    index: int, entry: LogEntry, duplicate_of: int | None, appended_at_ms: int
) -> dict[str, Any]:
    """The audit_leaves row for an entry at an index."""
    columns = entry.columns
    source = entry.source
    return {
        "leaf_index": index,
        "leaf_hash": entry.leaf_hash,
        "data": entry.data,
        "kind": entry.kind.value,
        "entry_id": entry.entry_id,
        "duplicate_of": duplicate_of,
        "event": columns.event,
        "notice_id": columns.notice_id,
        "notice_type": columns.notice_type,
        # A committed entry names its child only through its sealed opening.
        "subject_linkage_key": None if entry.opening is not None else columns.subject_linkage_key,
        "recipient_subscriber_id": columns.recipient_subscriber_id,
        "recipient_agency": columns.recipient_agency,
        "recipient_organisation": columns.recipient_organisation,
        "recipient_role": columns.recipient_role,
        "decided_at_ms": columns.decided_at_ms,
        "disclosed_at_ms": columns.disclosed_at_ms,
        "outcome": columns.outcome,
        "purpose": columns.purpose,
        "policy_revision": columns.policy_revision,
        "source_topic": source.topic if source else None,
        "source_partition": source.partition if source else None,
        "source_offset": source.offset if source else None,
        "appended_at_ms": appended_at_ms,
    }


def _linkage_row(change: LinkageChanged, recorded_at_ms: int) -> dict[str, Any]:
    source = change.source
    return {
        "event_id": change.event_id,
        "kind": change.kind.value,
        "child_key": change.child_key,
        "other_keys": json.dumps(list(change.other_keys)),
        "decided_by": change.decided_by,
        "review_id": change.review_id,
        "match_probability": change.match_probability,
        "occurred_at_ms": change.occurred_at_ms,
        "source_topic": source.topic if source else None,
        "source_partition": source.partition if source else None,
        "source_offset": source.offset if source else None,
        "recorded_at_ms": recorded_at_ms,
    }


def _linkage_change(row: Row[Any]) -> LinkageChanged:
    try:
        other_keys = json.loads(row.other_keys)
        kind = LinkageChangeKind(row.kind)
    except ValueError as error:
        raise StorageCorrupt(
            f"linkage change {row.seq} is damaged in the store ({error}); investigate the database"
        ) from error
    return LinkageChanged(
        event_id=row.event_id,
        kind=kind,
        child_key=row.child_key,
        other_keys=tuple(str(k) for k in other_keys),
        decided_by=row.decided_by,
        review_id=row.review_id,
        match_probability=row.match_probability,
        occurred_at_ms=int(row.occurred_at_ms),
        source=SourcePosition(row.source_topic, int(row.source_partition), int(row.source_offset))
        if row.source_topic is not None
        else None,
    )


def _linkage_key_aad(child_ref: str) -> bytes:
    return f"audit_linkage_keys:{child_ref}".encode()


def _opening_aad(leaf_index: int, child_ref: str) -> bytes:
    """What an opening is: this table, this leaf, this child (a sealed opening copied to
    another row or another child does not open)."""
    return f"audit_leaf_openings:{leaf_index}:{child_ref}".encode()


def _stored_leaf(
    row: Row[Any], rule_ids: tuple[str, ...], opened: tuple[str, bytes, bytes] | None
) -> StoredLeaf:
    source = (
        SourcePosition(row.source_topic, int(row.source_partition), int(row.source_offset))
        if row.source_topic is not None
        else None
    )
    leaf_input = bytes(row.data)
    committed = is_committed(leaf_input)
    subject, record, salt = opened if opened is not None else (None, leaf_input, None)
    return StoredLeaf(
        leaf_index=int(row.leaf_index),
        leaf_hash=bytes(row.leaf_hash),
        data=record,
        leaf_input=leaf_input if opened is not None else None,
        salt=salt,
        erased=committed and opened is None,
        kind=EntryKind(row.kind),
        entry_id=row.entry_id,
        duplicate_of=None if row.duplicate_of is None else int(row.duplicate_of),
        columns=IndexColumns(
            event=row.event,
            notice_id=row.notice_id,
            notice_type=row.notice_type,
            subject_linkage_key=subject if subject is not None else row.subject_linkage_key,
            recipient_subscriber_id=row.recipient_subscriber_id,
            recipient_agency=row.recipient_agency,
            recipient_organisation=row.recipient_organisation,
            recipient_role=row.recipient_role,
            decided_at_ms=row.decided_at_ms,
            disclosed_at_ms=row.disclosed_at_ms,
            outcome=row.outcome,
            purpose=row.purpose,
            policy_revision=row.policy_revision,
            rule_ids=rule_ids,
        ),
        source=source,
        appended_at_ms=int(row.appended_at_ms),
    )


def default_store_key_path(url: str) -> Path | None:
    """Where the store key of an SQLite store lives when nothing says otherwise: beside the
    database file (`<file>.store.key`), so every process opening that file (indexer, IG API,
    CLI, tests) finds the same key. None for PostgreSQL, which needs the key named."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    database = Path(parsed.database)
    return database.with_name(database.name + ".store.key")


def open_store(
    url: str, *, echo: bool = False, store_key: StoreKeySource | None = None
) -> SqlAuditStore:
    """Open (creating if needed) the audit store at an SQLAlchemy URL. `store_key` is the root
    of the per-child data keys (`services.hubkit.child_keys`); default: a key file beside an
    SQLite database (`default_store_key_path`, made on first start)."""
    parsed = make_url(url)
    if store_key is None:
        path = default_store_key_path(url)
        if path is None:
            raise StorageError(
                "the audit store on PostgreSQL needs its store key: set "
                "SAFEHUB_AUDIT_STORE_KEY_PATH (a 32-byte key file, made on first start)"
            )
        store_key = StoreKeyFile(path)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            raise StorageError(
                "the audit store needs a file: use sqlite:///<path>, not an in-memory database"
            )
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo)
        event.listen(engine, "connect", _sqlite_pragmas)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    else:
        raise StorageError(f"unsupported audit store backend {parsed.get_backend_name()!r}")
    try:
        key = store_key.store_key()
    except (OSError, StoreKeyInvalid) as error:
        engine.dispose()
        raise StorageError(f"cannot read the audit store's key: {error}") from None
    return SqlAuditStore(engine, store_key=key)
