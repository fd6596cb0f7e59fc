"""The linkage history in the audit store, on both backends: changes kept in the order read,
each event id once, rejected records as leaves of the log in the same transaction, the
position to resume from, and append-only like the log."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import sqlalchemy

from services.audit.errors import StorageError
from services.audit.indexer import EntryKind, LogEntry, SourcePosition
from services.audit.linkage import LinkageChanged, keys_of_child, read_linkage_change
from services.audit.storage import check_tree
from services.audit.storage_sql import SqlAuditStore
from services.hubkit.topology import LINKAGE_TOPIC
from tests.audit.linkage_changes import A, B, C, D, merge, split
from tests.audit.logs import decision_entries
from tests.factories import catalog

CATALOG = catalog()


def _at(change: LinkageChanged, offset: int) -> LinkageChanged:
    return dataclasses.replace(change, source=SourcePosition(LINKAGE_TOPIC, 0, offset))


def _rejected(offset: int) -> LogEntry:
    read = read_linkage_change(
        CATALOG, b"not avro", source=SourcePosition(LINKAGE_TOPIC, 0, offset)
    )
    assert isinstance(read, LogEntry)
    return read


def test_changes_are_kept_in_order_once_each_and_survive_a_restart(
    store: SqlAuditStore, store_url: str, reopen: Callable[[str], SqlAuditStore]
) -> None:
    assert store.linkage_changes() == []
    assert store.next_source_offset(LINKAGE_TOPIC, 0) is None
    history = [_at(merge(A, B, C), 0), _at(merge(D, A), 1), _at(split(A, C), 2)]
    result = store.append_linkage(history[:2], appended_at_ms=1)
    assert (result.recorded, result.repeated, result.rejected.appended) == (2, 0, 0)
    # The first two again (a re-delivery), then the third.
    result = store.append_linkage(history, appended_at_ms=2)
    assert (result.recorded, result.repeated) == (1, 2)
    assert store.linkage_changes() == history
    assert store.next_source_offset(LINKAGE_TOPIC, 0) == 3
    store.close()

    reopened = reopen(store_url)
    try:
        assert reopened.linkage_changes() == history
        assert keys_of_child(reopened.linkage_changes(), D) == {A, B, D}
        # The log itself is untouched: linkage changes are not leaves.
        assert reopened.head().size == 0
    finally:
        reopened.close()


def test_a_change_repeated_within_one_batch_is_recorded_once(store: SqlAuditStore) -> None:
    first = _at(merge(A, B), 0)
    result = store.append_linkage([first, _at(first, 1)], appended_at_ms=1)
    assert (result.recorded, result.repeated) == (1, 1)
    assert store.linkage_changes() == [first]


def test_rejected_records_become_leaves_in_the_same_transaction(store: SqlAuditStore) -> None:
    store.append(decision_entries(1), appended_at_ms=1)  # 6 leaves already in the log
    result = store.append_linkage(
        [_at(merge(A, B), 4), _at(split(A, B), 6)],
        rejected=[_rejected(5), _rejected(7)],
        appended_at_ms=2,
    )
    assert result.recorded == 2
    assert (result.rejected.first_index, result.rejected.appended) == (6, 2)
    rejected = store.entries_of_kind(EntryKind.REJECTED, limit=10, offset=0)
    assert [leaf.source for leaf in rejected] == [
        SourcePosition(LINKAGE_TOPIC, 0, 5),
        SourcePosition(LINKAGE_TOPIC, 0, 7),
    ]
    # The position to resume from counts both: the last record read was a rejected one.
    assert store.next_source_offset(LINKAGE_TOPIC, 0) == 8
    assert store.next_source_offset("audit.decisions.v1", 0) == 6
    check_tree(store)


def test_a_failed_batch_records_nothing(store: SqlAuditStore) -> None:
    good = _at(merge(A, B), 0)
    # A NOT NULL column left empty: the database refuses the batch halfway through.
    bad = dataclasses.replace(_at(merge(A, C), 1), occurred_at_ms=None)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="linkage changes failed"):
        store.append_linkage([good, bad], rejected=[_rejected(2)], appended_at_ms=1)
    assert store.linkage_changes() == []
    assert store.head().size == 0


def test_the_linkage_history_is_append_only(store: SqlAuditStore) -> None:
    store.append_linkage([_at(merge(A, B), 0)], appended_at_ms=1)
    for statement in (
        "UPDATE audit_linkage_events SET kind = 'SPLIT'",
        "DELETE FROM audit_linkage_events",
    ):
        with (
            pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"),
            store.engine.begin() as conn,
        ):
            conn.exec_driver_sql(statement)
    assert len(store.linkage_changes()) == 1
