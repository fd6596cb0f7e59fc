"""The audit store on both backends (SQLite file and a real PostgreSQL server): appends,
idempotency, restarts, proofs from stored nodes, queries, checkpoint history, append-only."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
import sqlalchemy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoint import Checkpoint, encode_signed_note, sign_checkpoint
from services.audit.domain.commitment import committed_leaf
from services.audit.domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    leaf_hash,
    merkle_tree_hash,
    verify_consistency,
    verify_inclusion,
)
from services.audit.errors import (
    InclusionProofInvalid,
    NotFound,
    ProofRequestInvalid,
    StorageCorrupt,
)
from services.audit.indexer import (
    AccessEvent,
    EntryKind,
    LogEntry,
    SourcePosition,
    entry_for_access,
    entry_for_undecodable,
)
from services.audit.storage import (
    DecisionQuery,
    check_tree,
    check_tree_full,
    consistency_proof_between,
    inclusion_proof_for,
)
from services.audit.storage_sql import SqlAuditStore
from tests.audit.logs import decision_entries
from tests.audit.records import audit_records, encode, logged, rejection
from tests.audit.tamper import tamper
from tests.factories import FIXED_NOW, catalog, notices

CATALOG = catalog()
T0 = FIXED_NOW


def _signed(store: SqlAuditStore, key: Ed25519PrivateKey, *, at_ms: int) -> Checkpoint:
    head = store.head()
    cp = Checkpoint("safehub.audit.test", head.size, head.root, at_ms)
    store.add_checkpoint(cp, encode_signed_note(sign_checkpoint(cp, key)))
    return cp


def _expected_inputs(store: SqlAuditStore, entries: list[LogEntry]) -> list[bytes]:
    """The leaf inputs the store must hold for `entries` (in leaf order): an entry naming a
    child committed to under the salt the store opened it with, any other as it is."""
    stored = store.leaves(0, len(entries))
    expected = []
    for entry, leaf in zip(entries, stored, strict=True):
        if entry.columns.subject_linkage_key is None:
            expected.append(entry.data)
            continue
        assert leaf.salt is not None
        assert leaf.data == entry.data
        expected.append(committed_leaf(leaf.salt, entry.data))
    return expected


def test_an_empty_store_is_the_empty_tree(store: SqlAuditStore) -> None:
    head = store.head()
    assert (head.size, head.root) == (0, EMPTY_ROOT)
    assert store.checkpoints() == []
    assert store.latest_checkpoint() is None
    assert store.next_source_offset("audit.decisions.v1", 0) is None
    assert check_tree(store) == head


def test_append_builds_the_rfc9162_tree_and_index(store: SqlAuditStore) -> None:
    entries = decision_entries(3)
    result = store.append(entries, appended_at_ms=1)
    assert (result.first_index, result.appended, result.skipped) == (0, 18, 0)
    assert store.head().root == merkle_tree_hash(_expected_inputs(store, entries))
    leaf = store.leaf(4)
    assert leaf.data == entries[4].data
    assert leaf.kind is EntryKind.DECISION
    assert leaf.columns == entries[4].columns
    assert leaf.source == SourcePosition("audit.decisions.v1", 0, 4)
    assert store.next_source_offset("audit.decisions.v1", 0) == 18
    assert [x.leaf_index for x in store.leaves(5, 9)] == [5, 6, 7, 8]
    with pytest.raises(NotFound):
        store.leaf(18)


def test_redelivered_records_are_skipped_not_appended_twice(store: SqlAuditStore) -> None:
    entries = decision_entries(2)
    store.append(entries[:8], appended_at_ms=1)
    # A crash after the DB commit and before the offset commit re-delivers 3..7, then more.
    result = store.append(entries[3:], appended_at_ms=2)
    assert (result.first_index, result.appended, result.skipped) == (8, 4, 5)
    # The same record twice inside one batch is one leaf as well.
    again = store.append([entries[0], entries[0]], appended_at_ms=3)
    assert (again.appended, again.skipped) == (0, 2)
    assert store.head().size == 12
    assert store.head().root == merkle_tree_hash(_expected_inputs(store, entries))


def test_a_re_emitted_decision_with_new_content_is_logged_and_marked(
    store: SqlAuditStore,
) -> None:
    notice = notices(5).notice("SAFEGUARDING_CONTACT")
    first = audit_records(notice, decided_at=T0)[0]
    retried = audit_records(notice, decided_at=T0 + dt.timedelta(seconds=3))[0]
    assert first["decision_id"] == retried["decision_id"]
    a = logged(encode(CATALOG, first))
    b = logged(encode(CATALOG, retried))
    store.append([a], appended_at_ms=1)
    result = store.append([b, b], appended_at_ms=2)
    assert (result.appended, result.skipped, result.duplicates) == (1, 1, 1)
    leaves = store.leaves_for_entry(str(first["decision_id"]))
    assert [(x.leaf_index, x.duplicate_of) for x in leaves] == [(0, None), (1, 0)]
    # The record of processing counts the decision once.
    summary = store.processing_summary(decided_from_ms=None, decided_to_ms=None)
    assert sum(row.count for row in summary) == 1


def test_the_log_survives_reopening_and_continues_at_the_next_index(
    store_url: str, reopen: Callable[[str], SqlAuditStore]
) -> None:
    entries = decision_entries(4)
    first = reopen(store_url)
    first.append(entries[:10], appended_at_ms=1)
    head = first.head()
    first.close()

    second = reopen(store_url)
    assert second.head() == head
    assert CompactRange.from_subtrees(second, head.size).root() == head.root
    result = second.append(entries[10:], appended_at_ms=2)
    assert result.first_index == 10
    assert second.head().root == merkle_tree_hash(_expected_inputs(second, entries))
    second.close()


def test_a_failed_batch_leaves_no_trace_and_no_index_is_reused(store: SqlAuditStore) -> None:
    entries = decision_entries(3)
    store.append(entries[:5], appended_at_ms=1)
    before = store.head()

    def fail_on_nodes(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_NODES"):
            raise RuntimeError("simulated crash mid-batch")

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", fail_on_nodes)
    try:
        with pytest.raises(RuntimeError, match="mid-batch"):
            store.append(entries[5:], appended_at_ms=2)
    finally:
        sqlalchemy.event.remove(store.engine, "before_cursor_execute", fail_on_nodes)
    assert store.head() == before
    assert store.leaves(0, 100)[-1].leaf_index == 4
    result = store.append(entries[5:], appended_at_ms=3)
    assert result.first_index == 5
    assert store.head().root == merkle_tree_hash(_expected_inputs(store, entries))
    check_tree(store)


def test_proofs_from_stored_nodes_verify_for_every_leaf_and_size(store: SqlAuditStore) -> None:
    data = [f"entry-{i}".encode() for i in range(21)]
    for chunk in (data[:1], data[1:7], data[7:8], data[8:16], data[16:]):
        store.append([entry_for_undecodable(data=d) for d in chunk], appended_at_ms=1)
    roots = {n: merkle_tree_hash(data[:n]) for n in range(22)}
    for size in range(1, 22):
        for index in range(size):
            proof = inclusion_proof_for(store, leaf_index=index, tree_size=size)
            verify_inclusion(proof, leaf_hash=leaf_hash(data[index]), root_hash=roots[size])
    for old in range(0, 22):
        for new in range(old, 22):
            consistency = consistency_proof_between(store, old_size=old, new_size=new)
            verify_consistency(consistency, old_root=roots[old], new_root=roots[new])
    with pytest.raises(ProofRequestInvalid):
        inclusion_proof_for(store, leaf_index=0, tree_size=22)


def test_queries_filter_on_every_index_column(store: SqlAuditStore) -> None:
    entries = decision_entries(4, seed=21)
    reject = logged(encode(CATALOG, rejection(offset=99)))
    access = entry_for_access(
        AccessEvent("q-1", 5, "ig-1", ("IG_OFFICER",), "decisions", {"notice_id": "x"})
    )
    store.append([*entries, reject, access], appended_at_ms=1)
    first_notice = entries[0].columns.notice_id
    subject = entries[0].columns.subject_linkage_key

    def find(**kw: object) -> list[int]:
        return [x.leaf_index for x in store.find(DecisionQuery(**kw))]  # type: ignore[arg-type]

    assert find(notice_id=first_notice) == [0, 1, 2, 3, 4, 5]
    assert find(subject_linkage_key=subject) == [0, 1, 2, 3, 4, 5]
    assert find(recipient="school-dsl") == [5, 11, 17, 23]
    assert find(organisation="LA-E09000099", role="SOCIAL_WORKER") == [3, 9, 15, 21]
    hour = 3_600_000
    t0 = int(T0.timestamp() * 1000)
    assert find(decided_from_ms=t0 + hour, decided_to_ms=t0 + 3 * hour) == list(range(6, 18))
    assert find(outcome="DENY") == [4, 10, 16, 22]
    assert find(rule_id="R9") == [5, 11, 17, 23]
    assert find(rule_id="R14", outcome="PARTIAL") == [3, 9, 15, 21]
    assert find(event="NOTICE_REJECTED") == [24]
    assert find(limit=2, offset=3) == [3, 4]
    assert store.find(DecisionQuery(recipient="school-dsl"))[0].columns.rule_ids == ("R14", "R9")
    # IG queries are leaves but never decision results.
    assert 25 not in find()
    assert store.leaf(25).kind is EntryKind.ACCESS


def test_processing_summary_counts_decisions_per_purpose_recipient_outcome(
    store: SqlAuditStore,
) -> None:
    store.append(decision_entries(3), appended_at_ms=1)
    rows = store.processing_summary(decided_from_ms=None, decided_to_ms=None)
    assert {(r.recipient_subscriber_id, r.purpose, r.outcome): r.count for r in rows} == {
        ("mash-manager", "SAFEGUARDING_TRIAGE", "PERMIT"): 3,
        ("mash-health-navigator", "SAFEGUARDING_TRIAGE", "PERMIT"): 3,
        ("mash-police-researcher", "SAFEGUARDING_TRIAGE", "PERMIT"): 3,
        ("responsible-la", "CHILD_PROTECTION_ENQUIRY", "PARTIAL"): 3,
        ("return-interview-provider", None, "DENY"): 3,
        ("school-dsl", "OPERATION_ENCOMPASS", "FLAG_ONLY"): 3,
    }
    t0 = int(T0.timestamp() * 1000)
    later = store.processing_summary(decided_from_ms=t0 + 1, decided_to_ms=None)
    assert sum(r.count for r in later) == 12


def test_checkpoint_history_is_kept_and_never_forks(
    store: SqlAuditStore, log_key: Ed25519PrivateKey
) -> None:
    entries = decision_entries(2)
    store.append(entries[:4], appended_at_ms=1)
    first = _signed(store, log_key, at_ms=1000)
    store.append(entries[4:], appended_at_ms=2)
    second = _signed(store, log_key, at_ms=2000)
    # Recording the same checkpoint again is a no-op.
    store.add_checkpoint(first, encode_signed_note(sign_checkpoint(first, log_key)))
    assert [c.checkpoint for c in store.checkpoints()] == [first, second]
    latest = store.latest_checkpoint()
    assert latest is not None
    assert latest.checkpoint == second
    assert latest.published_at_ms is None
    store.mark_published(second.tree_size, at_ms=2500)
    store.mark_published(second.tree_size, at_ms=2600)
    assert store.checkpoint(second.tree_size).published_at_ms == 2500
    forked = Checkpoint(first.origin, first.tree_size, b"\x07" * 32, 3000)
    with pytest.raises(StorageCorrupt, match="root"):
        store.add_checkpoint(forked, encode_signed_note(sign_checkpoint(forked, log_key)))
    beyond = Checkpoint(first.origin, 99, b"\x07" * 32, 3000)
    with pytest.raises(StorageCorrupt, match="holds"):
        store.add_checkpoint(beyond, b"")
    with pytest.raises(NotFound):
        store.checkpoint(7)
    check_tree(store)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_leaves SET data = data",
        "DELETE FROM audit_leaves",
        "UPDATE audit_nodes SET hash = hash",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_leaf_rules",
    ],
)
def test_log_tables_are_append_only(
    store: SqlAuditStore, log_key: Ed25519PrivateKey, statement: str
) -> None:
    store.append(decision_entries(2), appended_at_ms=1)
    _signed(store, log_key, at_ms=1)
    with (
        pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"),
        store.engine.begin() as conn,
    ):
        conn.exec_driver_sql(statement)


def test_check_tree_catches_a_tampered_subtree_or_head(
    store: SqlAuditStore, log_key: Ed25519PrivateKey
) -> None:
    store.append(decision_entries(3), appended_at_ms=1)
    _signed(store, log_key, at_ms=1)
    check_tree(store)
    tamper(store, "audit_nodes", "UPDATE audit_nodes SET hash = :h WHERE level = 4", h=b"\0" * 32)
    with pytest.raises(StorageCorrupt):
        check_tree(store)


def test_a_rewritten_leaf_no_longer_proves_against_the_signed_checkpoint(
    store: SqlAuditStore, log_key: Ed25519PrivateKey
) -> None:
    entries = decision_entries(2)
    store.append(entries, appended_at_ms=1)
    cp = _signed(store, log_key, at_ms=1)
    original = entries[3].data
    forged = original[:-1] + bytes([original[-1] ^ 1])
    tamper(
        store, "audit_leaves", "UPDATE audit_leaves SET data = :d WHERE leaf_index = 3", d=forged
    )
    leaf = store.leaf(3)
    proof = inclusion_proof_for(store, leaf_index=3, tree_size=cp.tree_size)
    with pytest.raises(InclusionProofInvalid, match="does not match the checkpoint"):
        verify_inclusion(proof, leaf_hash=leaf_hash(leaf.tree_input), root_hash=cp.root_hash)


def test_two_writers_in_parallel_serialise_on_the_head(
    store_url: str, reopen: Callable[[str], SqlAuditStore]
) -> None:
    """The indexer and the IG API append from different processes: no lost or reused index."""
    first, second = reopen(store_url), reopen(store_url)
    errors: list[BaseException] = []

    def write(store: SqlAuditStore, tag: str) -> None:
        try:
            for i in range(25):
                store.append(
                    [entry_for_undecodable(data=f"{tag}-{i}-{j}".encode()) for j in range(3)],
                    appended_at_ms=i,
                )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(first, "a")),
        threading.Thread(target=write, args=(second, "b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    leaves = first.leaves(0, 1000)
    assert [x.leaf_index for x in leaves] == list(range(150))
    assert first.head().root == merkle_tree_hash([x.tree_input for x in leaves])
    check_tree(first)
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("audit_nodes", "UPDATE audit_nodes SET hash = :x WHERE level = 1 AND node_index = 2"),
        ("audit_leaves", "UPDATE audit_leaves SET data = :x WHERE leaf_index = 5"),
        ("audit_leaves", "UPDATE audit_leaves SET leaf_hash = :x WHERE leaf_index = 5"),
    ],
)
def test_the_full_check_finds_a_row_edited_anywhere(
    store: SqlAuditStore, log_key: Ed25519PrivateKey, table: str, statement: str
) -> None:
    store.append(decision_entries(3), appended_at_ms=1)
    _signed(store, log_key, at_ms=1)
    assert check_tree_full(store) == store.head()
    tamper(store, table, statement, x=b"\x02" * 32)
    check_tree(store)  # the O(log n) check only reads the right edge...
    with pytest.raises(StorageCorrupt):
        check_tree_full(store)  # ...the full one reads everything
