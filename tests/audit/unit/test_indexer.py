"""The indexer's pure core: records to log entries, append plans, checkpoint planning."""

from __future__ import annotations

import datetime as dt

import pytest

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.merkle import CompactRange, leaf_hash, merkle_tree_hash
from services.audit.errors import StorageCorrupt
from services.audit.indexer import (
    ACCESS_PREFIX,
    AccessEvent,
    EntryKind,
    SourcePosition,
    decode_access,
    entry_for_access,
    entry_for_bytes,
    entry_for_undecodable,
    plan_appends,
    plan_checkpoint,
    to_ms,
)
from services.hubkit.codec import MessageType
from tests.audit.records import audit_records, encode, rejection
from tests.factories import FIXED_NOW, catalog, notices

CATALOG = catalog()


def test_a_decision_record_becomes_an_entry_over_its_exact_bytes() -> None:
    notice = notices(1).notice("SAFEGUARDING_CONTACT")
    record = next(
        r for r in audit_records(notice) if r["recipient"]["subscriber_id"] == "school-dsl"
    )
    data = encode(CATALOG, record)
    entry = entry_for_bytes(CATALOG, data, SourcePosition("audit.decisions.v1", 0, 42))
    assert entry.kind is EntryKind.DECISION
    assert entry.data == data
    assert entry.leaf_hash == leaf_hash(data)
    assert entry.entry_id == record["decision_id"]
    assert entry.source == SourcePosition("audit.decisions.v1", 0, 42)
    c = entry.columns
    assert (c.event, c.notice_id, c.subject_linkage_key) == (
        "SHARING_DECISION",
        notice["notice_id"],
        notice["subject"]["linkage_key"],
    )
    assert (c.recipient_subscriber_id, c.recipient_organisation, c.recipient_role) == (
        "school-dsl",
        "URN-999999",
        "DESIGNATED_SAFEGUARDING_LEAD",
    )
    assert c.decided_at_ms == to_ms(FIXED_NOW) == c.disclosed_at_ms
    assert (c.outcome, c.purpose, c.rule_ids) == ("FLAG_ONLY", "OPERATION_ENCOMPASS", ("R14", "R9"))


def test_a_rejection_is_indexed_without_recipient() -> None:
    entry = entry_for_bytes(CATALOG, encode(CATALOG, rejection(offset=7)))
    assert entry.kind is EntryKind.DECISION
    assert entry.columns.event == "NOTICE_REJECTED"
    assert entry.columns.recipient_subscriber_id is None
    assert entry.columns.outcome is None


@pytest.mark.parametrize(
    "data",
    [
        b"not avro at all",
        b"\xc3\x01" + b"\xff" * 8 + b"body",  # unknown fingerprint
    ],
)
def test_bytes_that_do_not_decode_are_still_logged(data: bytes) -> None:
    entry = entry_for_bytes(CATALOG, data)
    assert entry.kind is EntryKind.UNDECODABLE
    assert entry.data == data
    assert entry.entry_id == f"undecodable:{leaf_hash(data).hex()}"


def test_a_message_of_another_type_on_the_audit_topic_is_logged_as_undecodable() -> None:
    other = CATALOG.encode(
        MessageType.CHECKPOINT,
        {
            "origin": "x",
            "tree_size": 1,
            "root_hash": b"\0" * 32,
            "timestamp": 1,
            "key_id": b"abcd",
            "signed_note": "n",
        },
    )
    assert entry_for_bytes(CATALOG, other).kind is EntryKind.UNDECODABLE


def test_access_entries_are_canonical_and_cannot_collide_with_avro() -> None:
    event = AccessEvent(
        access_id="q-1",
        at_ms=5,
        actor="ig-officer-1",
        roles=("IG_OFFICER", "A"),
        action="subject_access_report",
        parameters={"subject_linkage_key": "LK1", "b": "2"},
    )
    entry = entry_for_access(event)
    assert entry.data.startswith(ACCESS_PREFIX)
    assert not entry.data.startswith(b"\xc3")
    assert entry.kind is EntryKind.ACCESS
    assert entry.entry_id == "q-1"
    assert entry.columns.event == "IG_QUERY"
    assert entry.columns.subject_linkage_key == "LK1"
    assert decode_access(entry.data) == event.as_json()
    assert decode_access(entry.data)["roles"] == ["A", "IG_OFFICER"]
    # Same event, same bytes.
    assert entry_for_access(event).data == entry.data
    refused = entry_for_access(AccessEvent("q-2", 6, "someone", (), "decisions", {}, allowed=False))
    assert refused.columns.event == "IG_QUERY_REFUSED"
    with pytest.raises(ValueError, match="not an access entry"):
        decode_access(b"\xc3\x01...")


def _undecodable(n: int) -> list:  # type: ignore[type-arg]
    return [entry_for_undecodable(data=f"d{i}".encode()) for i in range(n)]


def test_plan_appends_assigns_indices_and_reports_completed_subtrees() -> None:
    entries = _undecodable(11)
    plan = plan_appends(range=CompactRange(), entries=entries, known={})
    assert [p.leaf_index for p in plan.leaves] == list(range(11))
    assert plan.range.root() == merkle_tree_hash([e.data for e in entries])
    assert {(n.level, n.index) for n in plan.nodes} == {
        (1, 0),
        (1, 1),
        (1, 2),
        (1, 3),
        (1, 4),
        (2, 0),
        (2, 1),
        (3, 0),
    }
    assert all(n.level > 0 for n in plan.nodes)


def test_plan_appends_skips_redeliveries_and_marks_re_emitted_decisions() -> None:
    notice = notices(2).notice("SAFEGUARDING_CONTACT")
    first = entry_for_bytes(CATALOG, encode(CATALOG, audit_records(notice)[0]))
    later = entry_for_bytes(
        CATALOG,
        encode(CATALOG, audit_records(notice, decided_at=FIXED_NOW + dt.timedelta(seconds=1))[0]),
    )
    other = entry_for_bytes(CATALOG, encode(CATALOG, audit_records(notice)[1]))
    start = CompactRange().extend([leaf_hash(b"x")] * 4)
    plan = plan_appends(
        range=start,
        entries=[first, later, other, other, later],
        known={first.entry_id: {first.leaf_hash: 2}},
    )
    assert [(p.leaf_index, p.entry, p.duplicate_of) for p in plan.leaves] == [
        (4, later, 2),
        (5, other, None),
    ]
    assert plan.skipped == (first, other, later)
    assert plan.duplicates == 1
    assert plan.range.size == 6


def test_plan_checkpoint_signs_only_growth_with_monotonic_time() -> None:
    root = b"\x01" * 32
    assert plan_checkpoint(origin="o", tree_size=0, root_hash=root, previous=None, now_ms=5) is None
    first = plan_checkpoint(origin="o", tree_size=3, root_hash=root, previous=None, now_ms=5)
    assert first == Checkpoint("o", 3, root, 5)
    assert (
        plan_checkpoint(origin="o", tree_size=3, root_hash=root, previous=first, now_ms=9) is None
    )
    # The clock went backwards: the timestamp still moves forward.
    second = plan_checkpoint(origin="o", tree_size=4, root_hash=root, previous=first, now_ms=1)
    assert second is not None
    assert second.timestamp_ms == 6
    with pytest.raises(StorageCorrupt, match="truncated"):
        plan_checkpoint(origin="o", tree_size=2, root_hash=root, previous=first, now_ms=9)
