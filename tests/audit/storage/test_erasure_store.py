"""Leaves commit to salted hashes; erasing a child (issue 18), on both backends.

The log holds decisions about two children, an emergency access grant with free text about the
first, an IG query about the first and a rejection. Erasing the first child must leave nothing
of it readable (the store's API, and on SQLite the raw database file), leave the tree exactly
as it was (every leaf hash, subtree, the head and its checkpoints), and the partner verifier
must still verify every checkpoint, every consistency proof between them and an inclusion
proof for every leaf, with a copy exported after the erasure and with one exported before.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from services.audit.domain.commitment import COMMITTED_PREFIX
from services.audit.export import consistency_evidence, export_log, inclusion_evidence
from services.audit.indexer import (
    AccessEvent,
    ErasureEvent,
    ErasurePhase,
    LogEntry,
    entry_for_access,
    entry_for_erasure,
)
from services.audit.storage import ChildErasure, DecisionQuery, check_tree_full
from services.audit.storage_sql import (
    SqlAuditStore,
    child_keys,
    leaf_openings,
    linkage_keys,
    nodes,
)
from services.audit.verify import (
    read_export,
    verify_consistency_files,
    verify_inclusion_files,
    verify_log,
)
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.errors import CodecError
from tests.audit.break_glass_records import grant_record
from tests.audit.linkage_changes import merge, split
from tests.audit.logs import build_log, sign_now
from tests.audit.records import audit_records, encode, logged, rejection
from tests.factories import FIXED_NOW, catalog, notices

CATALOG = catalog()
MARKER = "Zebra-crossing-7731 free text about the child"


def _child_log() -> tuple[list[LogEntry], str, str]:
    """Entries about two children (keys returned) and one naming nobody."""
    gen = notices(23)
    first, second = gen.notice("SAFEGUARDING_CONTACT"), gen.notice("SAFEGUARDING_CONTACT")
    key_a, key_b = first["subject"]["linkage_key"], second["subject"]["linkage_key"]
    assert key_a != key_b
    records = [
        *audit_records(first),
        grant_record(first, request_id="bg-erase-1", justification=MARKER),
        *audit_records(second, decided_at=FIXED_NOW + dt.timedelta(hours=1)),
        rejection(offset=99),
    ]
    entries = [logged(encode(CATALOG, r), offset=i) for i, r in enumerate(records)]
    entries.append(
        entry_for_access(
            AccessEvent(
                access_id="ig-query-1",
                at_ms=1,
                actor="ig.officer",
                roles=("IG_OFFICER",),
                action="subject_access_report",
                parameters={"subject_linkage_key": key_a},
            )
        )
    )
    return entries, key_a, key_b


def _raw_bytes(store: SqlAuditStore) -> bytes:
    """Every byte of an SQLite store on disk: the database file, its WAL and shared memory."""
    database = Path(str(store.engine.url.database))
    return b"".join(
        p.read_bytes() for p in (database, database.with_name(database.name + "-wal")) if p.exists()
    )


def _erasure(phase: ErasurePhase, child_ref: str, stores: dict[str, int]) -> LogEntry:
    return entry_for_erasure(
        ErasureEvent(
            erasure_id="er-1",
            phase=phase,
            at_ms=2,
            actor="ig.officer",
            record_type="CHILD_PROTECTION",
            rule="test-rule",
            child_ref=child_ref,
            stores=stores,
        )
    )


def test_erasing_a_child_leaves_nothing_readable_and_every_proof_verifying(
    store: SqlAuditStore, log_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    entries, key_a, key_b = _child_log()
    build_log(store, log_key, entries=entries, batch=5)
    # The child index once merged the two children (a wrong merge, later split).
    linkage = [merge(key_a, key_b), split(key_a, key_b)]
    store.append_linkage(linkage, appended_at_ms=2)
    assert store.linkage_changes() == linkage
    head = store.head()
    assert head.size == len(entries)
    leaves_before = store.leaves(0, head.size)
    with store.engine.connect() as conn:
        nodes_before = conn.execute(select(nodes).order_by(nodes.c.level, nodes.c.node_index)).all()

    # Leaves naming a child hold a commitment: no linkage key, no free text, in any leaf.
    named = [leaf for leaf in leaves_before if leaf.columns.subject_linkage_key is not None]
    assert {leaf.columns.subject_linkage_key for leaf in named} == {key_a, key_b}
    for leaf in leaves_before:
        assert key_a.encode() not in leaf.tree_input
        assert MARKER.encode() not in leaf.tree_input
    for leaf in named:
        assert leaf.tree_input.startswith(COMMITTED_PREFIX)
        assert leaf.opened
    # ... while the child's records still read (the opening) through the store.
    found = store.find(DecisionQuery(subject_linkage_key=key_a))
    assert found
    assert any(MARKER.encode() in leaf.data for leaf in found)
    a_leaves = [leaf.leaf_index for leaf in named if leaf.columns.subject_linkage_key == key_a]
    if store.dialect == "sqlite":
        raw = _raw_bytes(store)
        assert key_a.encode() not in raw
        assert MARKER.encode() not in raw
    export_log(store, tmp_path / "before", catalog=CATALOG)
    with store.engine.connect() as conn:
        # What a forensic reader of the file would look for: the child's wrapped key and its
        # sealed openings (the store key, which stays, would open them).
        sealed_a = [
            bytes(v)
            for v in conn.execute(
                select(child_keys.c.wrapped_key).union_all(
                    select(leaf_openings.c.sealed).where(leaf_openings.c.leaf_index.in_(a_leaves))
                )
            ).scalars()
        ]
    assert len(sealed_a) == len(a_leaves) + 2  # two children's keys, the first's openings
    with store.engine.connect() as conn:
        sealed_a += [
            bytes(v)
            for v in conn.execute(
                select(linkage_keys.c.sealed).where(
                    linkage_keys.c.child_ref == store.child_ref(key_a)
                )
            ).scalars()
        ]
    assert len(sealed_a) == len(a_leaves) + 3

    erased = store.erase_child(key_a)
    assert erased.leaves == len(a_leaves)
    assert store.erase_child(key_a) == ChildErasure(child_ref=erased.child_ref, leaves=0)
    assert store.child_readable(key_a) is False
    assert store.child_readable(key_b) is True
    # The linkage history keeps both changes; the erased child is no longer named in it.
    changes = store.linkage_changes()
    assert [c.event_id for c in changes] == [c.event_id for c in linkage]
    assert all(key_a not in (c.child_key, *c.other_keys) for c in changes)
    assert all(key_b in (c.child_key, *c.other_keys) for c in changes)

    # Unreadable: not found by the key, each of its leaves erased, no record decodes.
    assert store.find(DecisionQuery(subject_linkage_key=key_a)) == []
    for index in a_leaves:
        leaf = store.leaf(index)
        assert leaf.erased
        assert leaf.data == leaf.tree_input
        assert leaf.columns.subject_linkage_key is None
        with pytest.raises(CodecError):
            read_logged_record(CATALOG, leaf.data)
    # The other child still opens.
    for leaf in store.find(DecisionQuery(subject_linkage_key=key_b)):
        assert leaf.opened
        assert not leaf.erased
        assert read_logged_record(CATALOG, leaf.data).record["subject_linkage_key"] == key_b

    # The tree is exactly as it was.
    assert store.head() == head
    after = store.leaves(0, head.size)
    assert [(x.leaf_hash, x.tree_input) for x in after] == [
        (x.leaf_hash, x.tree_input) for x in leaves_before
    ]
    with store.engine.connect() as conn:
        assert conn.execute(select(nodes).order_by(nodes.c.level, nodes.c.node_index)).all() == (
            nodes_before
        )
    check_tree_full(store)

    # The erasure is logged (intent, deletion, confirmation), naming no child in the clear.
    steps = [
        _erasure(ErasurePhase.INTENT, erased.child_ref, {"audit": len(a_leaves)}),
        _erasure(ErasurePhase.DELETION, erased.child_ref, {"audit": erased.leaves}),
        _erasure(ErasurePhase.CONFIRMATION, erased.child_ref, {"audit": 0}),
    ]
    store.append(steps, appended_at_ms=3)
    assert sign_now(store, log_key, at_ms=1_900_000_000_000) is not None
    for step in steps:
        assert key_a.encode() not in step.data
        assert erased.child_ref.encode() not in step.data
    check_tree_full(store)
    if store.dialect == "sqlite":
        raw = _raw_bytes(store)
        assert key_a.encode() not in raw
        assert MARKER.encode() not in raw
        assert key_b.encode() not in raw
        with store.engine.connect() as conn:
            kept = {bytes(v) for v in conn.execute(select(child_keys.c.wrapped_key)).scalars()}
        gone = [value for value in sealed_a if value not in kept]
        assert len(gone) == len(a_leaves) + 2
        assert not [value for value in gone if value in raw]

    # The partner verifier, after the erasure: the whole log, every checkpoint ...
    public = log_key.public_key()
    export_log(store, tmp_path / "after", catalog=CATALOG)
    exported, notes = read_export(tmp_path / "after")
    report = verify_log(entries=exported, notes=notes, public_key=public, catalog=CATALOG)
    assert report.entries == store.head().size
    assert report.unsigned_entries == 0
    erased_views = [e for e in exported if e.leaf_index in a_leaves]
    assert all(e.record is None and "committed" in (e.view or {}) for e in erased_views)
    # ... every consistency proof between checkpoints ...
    history = store.checkpoints()
    assert len(history) >= 3
    for i, old in enumerate(history):
        for new in history[i + 1 :]:
            evidence = consistency_evidence(
                store, old_size=old.checkpoint.tree_size, new_size=new.checkpoint.tree_size
            )
            verify_consistency_files(
                old_note=evidence.old.note,
                new_note=evidence.new.note,
                proof=evidence.proof,
                public_key=public,
            )
    # ... and an inclusion proof for every leaf against the latest checkpoint.
    for index in range(store.head().size):
        inclusion = inclusion_evidence(store, leaf_index=index, catalog=CATALOG)
        verify_inclusion_files(
            entry=inclusion.entry,
            proof=inclusion.proof,
            note=inclusion.checkpoint.note,
            public_key=public,
            catalog=CATALOG,
        )

    # A copy exported before the erasure (with the openings) still verifies, against its own
    # checkpoints and, leaf by leaf, against the checkpoint signed after the erasure.
    before, before_notes = read_export(tmp_path / "before")
    verify_log(entries=before, notes=before_notes, public_key=public, catalog=CATALOG)
    latest = history[-1]
    for entry in before:
        inclusion = inclusion_evidence(store, leaf_index=entry.leaf_index)
        verify_inclusion_files(
            entry=(tmp_path / "before" / "entries.jsonl")
            .read_text()
            .splitlines()[entry.leaf_index]
            .encode(),
            proof=inclusion.proof,
            note=latest.note,
            public_key=public,
            catalog=CATALOG,
        )
    # And a partner's commitments-only copy holds nothing of either child, and verifies.
    export_log(store, tmp_path / "partner", catalog=CATALOG, openings=False)
    text = (tmp_path / "partner" / "entries.jsonl").read_bytes()
    assert key_b.encode() not in text
    partner, partner_notes = read_export(tmp_path / "partner")
    verify_log(entries=partner, notes=partner_notes, public_key=public, catalog=CATALOG)


def test_a_re_delivered_record_commits_to_the_same_leaf(store: SqlAuditStore) -> None:
    entries, _, _ = _child_log()
    store.append(entries, appended_at_ms=1)
    head = store.head()
    result = store.append(entries, appended_at_ms=2)
    assert (result.appended, result.skipped) == (0, len(entries))
    assert store.head() == head


def test_an_opening_moved_to_another_leaf_is_caught(store: SqlAuditStore) -> None:
    """An opening copied onto another leaf does not open there (its AAD names the leaf)."""
    from services.audit.errors import StorageCorrupt
    from tests.audit.tamper import tamper

    entries, _, _ = _child_log()
    store.append(entries, appended_at_ms=1)
    tamper(
        store,
        "audit_leaf_openings",
        "UPDATE audit_leaf_openings SET sealed = (SELECT sealed FROM audit_leaf_openings "
        "WHERE leaf_index = 0) WHERE leaf_index = 1",
    )
    with pytest.raises(StorageCorrupt, match="sealed opening does not open"):
        store.leaf(1)


def test_a_store_from_before_commitments_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store file written before leaves were committed: plain leaves, the key in the clear
    in its index column, no key or opening tables. It opens, reads and extends."""
    from services.audit.storage_sql import open_store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    entries, key_a, _ = _child_log()
    old = open_store(url)
    # As the indexer before this change wrote them: nothing committed.
    monkeypatch.setattr(old, "_committed", lambda conn, batch: (list(batch), {}))
    old.append(entries[:4], appended_at_ms=1)
    with old.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_leaf_openings")
        conn.exec_driver_sql("DROP TABLE audit_child_keys")
    old.close()

    store = open_store(url)
    try:
        legacy = store.find(DecisionQuery(subject_linkage_key=key_a))
        assert [x.leaf_index for x in legacy] == [0, 1, 2, 3]
        assert all(not x.erased and x.salt is None and x.data == x.tree_input for x in legacy)
        store.append(entries[4:], appended_at_ms=2)
        found = store.find(DecisionQuery(subject_linkage_key=key_a))
        assert len(found) > 4
        assert all(x.opened for x in found[4:])
        check_tree_full(store)
        # Erasure reaches the committed leaves; the plain ones cannot be erased in place.
        # (its committed decisions, and the IG query about it, which is no decision)
        assert store.erase_child(key_a).leaves == len(found) - 4 + 1
        assert [x.leaf_index for x in store.find(DecisionQuery(subject_linkage_key=key_a))] == [
            0,
            1,
            2,
            3,
        ]
        check_tree_full(store)
    finally:
        store.close()
