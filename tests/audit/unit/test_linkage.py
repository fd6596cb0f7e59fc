"""Which keys are one child, from the child index's merges and splits (pure): groups are a
partition whatever the order of changes, a split-off key is another child's, a change seen
twice counts once; and what the indexer makes of each record on the linkage topic."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.indexer import EntryKind, LogEntry, SourcePosition, decode_rejected
from services.audit.linkage import (
    MODEL_DECIDER,
    LinkageChanged,
    LinkageChangeKind,
    child_groups,
    keys_of_child,
    linkage_change_from_record,
    linkage_history,
    read_linkage_change,
)
from services.hubkit.codec import MessageType
from services.hubkit.topology import LINKAGE_TOPIC
from tests.audit.linkage_changes import KEYS, A, B, C, D, E, F, histories, merge, split
from tests.factories import FIXED_NOW, catalog

CATALOG = catalog()


# -- the choice: merged keys are the child's, split-off keys are not -------------------------


def test_a_merge_joins_whole_groups_and_a_split_detaches_only_the_keys_it_names() -> None:
    history = [merge(A, B), merge(C, D), merge(A, D), split(A, C)]
    # D brought C with it; the split detached C alone: D stays merged with A and B.
    assert keys_of_child(history, B) == {A, B, D}
    assert keys_of_child(history, C) == {C}
    assert keys_of_child(history, E) == {E}  # no change names it: a group of one


def test_keys_split_off_together_stay_one_child() -> None:
    # As the child index announces it: C was merged into B, then B (with C) into A; a review
    # splits B off, and the child index detaches B with every key merged into it.
    history = [merge(B, C), merge(A, B, C), split(A, B, C)]
    assert keys_of_child(history, A) == {A}
    assert keys_of_child(history, C) == {B, C}


def test_a_split_off_key_is_not_the_childs_even_for_the_time_it_was_merged() -> None:
    history = [merge(A, B, C), split(A, C)]
    assert keys_of_child(history, A) == {A, B}
    assert keys_of_child(history, C) == {C}
    # Merged again later: theirs again.
    assert keys_of_child([*history, merge(B, C)], A) == {A, B, C}


def test_a_split_of_keys_outside_the_group_or_of_the_child_key_itself_changes_nothing() -> None:
    history = [merge(A, B), merge(C, D), split(A, C, A)]
    assert keys_of_child(history, A) == {A, B}
    assert keys_of_child(history, C) == {C, D}


def test_a_change_seen_again_is_applied_once_where_first_seen() -> None:
    first = merge(A, B)
    history = [first, split(A, B), first]  # the merge re-delivered after the split
    assert keys_of_child(history, A) == {A}
    assert keys_of_child(history, B) == {B}


def test_the_history_of_a_child_shows_its_own_keys_and_only_counts_anyone_elses() -> None:
    joined, detached = merge(A, B, C), split(A, C)
    history = [joined, merge(D, E), detached]
    mine = keys_of_child(history, A)
    views = linkage_history(history, mine)
    assert [(v.change, v.keys, v.other_references) for v in views] == [
        (joined, (A, B), 1),
        (detached, (A,), 1),
    ]
    theirs = linkage_history(history, keys_of_child(history, C))
    assert [(v.change, v.keys, v.other_references) for v in theirs] == [
        (joined, (C,), 2),
        (detached, (C,), 1),
    ]
    assert linkage_history(history, {F}) == []


# -- properties over any history --------------------------------------------------------------


def _reference_groups(history: Sequence[LinkageChanged]) -> dict[str, frozenset[str]]:
    """The same rules, written as plainly as possible: every key carries a label; a merge
    relabels the other keys' groups with the child's label, a split gives the keys it
    detaches one fresh label."""
    label = {k: i for i, k in enumerate(KEYS)}
    fresh = itertools.count(len(KEYS))
    applied: set[str] = set()
    for c in history:
        if c.event_id in applied:
            continue
        applied.add(c.event_id)
        mine = label[c.child_key]
        if c.kind is LinkageChangeKind.MERGE:
            for other in c.other_keys:
                theirs = label[other]
                label = {k: mine if v == theirs else v for k, v in label.items()}
        else:
            split_off = next(fresh)
            for other in c.other_keys:
                if other != c.child_key and label[other] == mine:
                    label[other] = split_off
    return {k: frozenset(j for j in KEYS if label[j] == label[k]) for k in KEYS}


@settings(max_examples=300, deadline=None)
@given(history=histories())
def test_any_history_gives_a_partition_and_every_key_of_a_group_the_same_keys(
    history: list[LinkageChanged],
) -> None:
    groups = {k: keys_of_child(history, k) for k in KEYS}
    for key, keys in groups.items():
        assert key in keys
        for other in keys:
            # Symmetric and consistent: asking with any key of the group gives the same keys.
            assert groups[other] == keys
    assert groups == _reference_groups(history)
    # The map holds the keys the applied changes name (the first change with each id).
    applied = {c.event_id: c for c in reversed(history)}.values()
    assert set(child_groups(history)) == {k for c in applied for k in c.keys}


@settings(max_examples=200, deadline=None)
@given(history=histories(), data=st.data())
def test_a_change_delivered_again_later_changes_no_group(
    history: list[LinkageChanged], data: st.DataObject
) -> None:
    if not history:
        return
    index = data.draw(st.integers(0, len(history) - 1))
    at = data.draw(st.integers(index + 1, len(history)))
    again = [*history[:at], history[index], *history[at:]]
    assert child_groups(again) == child_groups(history)


@settings(max_examples=200, deadline=None)
@given(history=histories())
def test_a_childs_history_names_only_its_own_keys(history: list[LinkageChanged]) -> None:
    for key in KEYS:
        mine = keys_of_child(history, key)
        for view in linkage_history(history, mine):
            assert view.keys
            assert set(view.keys) <= mine
            assert view.other_references == len(set(view.change.keys) - mine)


# -- what the indexer makes of a record on the linkage topic ---------------------------------


def _record(**overrides: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": "MERGE",
        "child_key": A,
        "other_keys": [B],
        "decided_by": "mash-manager-1",
        "review_id": "rv-0001",
        "match_probability": 0.93,
        "occurred_at": FIXED_NOW,
        **overrides,
    }


def _read(data: bytes, offset: int = 7) -> LinkageChanged | LogEntry:
    return read_linkage_change(CATALOG, data, source=SourcePosition(LINKAGE_TOPIC, 0, offset))


def test_a_linkage_changed_record_is_read_as_the_change() -> None:
    record = _record()
    read = _read(CATALOG.encode(MessageType.LINKAGE_CHANGED, record))
    assert read == LinkageChanged(
        event_id=record["event_id"],
        kind=LinkageChangeKind.MERGE,
        child_key=A,
        other_keys=(B,),
        decided_by="mash-manager-1",
        review_id="rv-0001",
        match_probability=0.93,
        occurred_at_ms=int(FIXED_NOW.timestamp() * 1000),
        source=SourcePosition(LINKAGE_TOPIC, 0, 7),
    )
    model = linkage_change_from_record(
        _record(decided_by=MODEL_DECIDER, review_id=None, match_probability=None)
    )
    assert (model.decided_by, model.review_id) == (MODEL_DECIDER, None)
    # A decider that is not of an id's form is kept as its digest, never as the text.
    typed = linkage_change_from_record(_record(decided_by="Jo Bloggs, duty manager"))
    assert typed.decided_by.startswith("sha256:")


def test_a_record_that_is_not_a_well_formed_change_is_rejected_not_dropped() -> None:
    checkpoint = CATALOG.encode(
        MessageType.CHECKPOINT,
        {
            "origin": "x",
            "tree_size": 1,
            "root_hash": bytes(32),
            "timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "key_id": b"k",
            "signed_note": "n",
        },
    )
    cases = {
        "WRONG_SCHEMA": checkpoint,
        "MALFORMED_RECORD": b"Jo Bloggs, 12 Synthetic Street",
    }
    for bad_key in ("Jo Bloggs", A.upper(), A[:-1]):
        for field in ("child_key", "other_keys"):
            value: Any = [bad_key] if field == "other_keys" else bad_key
            cases[f"MALFORMED_RECORD {field} {bad_key[:3]}"] = CATALOG.encode(
                MessageType.LINKAGE_CHANGED, _record(**{field: value})
            )
    for event_id in ("Jo Bloggs", "x" * 500):
        cases[f"MALFORMED_RECORD event_id {event_id[:3]}"] = CATALOG.encode(
            MessageType.LINKAGE_CHANGED, _record(event_id=event_id)
        )
    for name, data in cases.items():
        read = _read(data, offset=11)
        assert isinstance(read, LogEntry), name
        assert read.kind is EntryKind.REJECTED
        assert read.rejection is not None
        assert read.rejection.value == name.split()[0]
        body = decode_rejected(read.data)
        assert (body["topic"], body["offset"], body["length"]) == (LINKAGE_TOPIC, 11, len(data))
        assert b"Bloggs" not in read.data  # the digest of the bytes, never the bytes
