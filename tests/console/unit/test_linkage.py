"""The alias map (services/console/domain/linkage.py): merges and splits from the child index,
applied in order, group a child's keys. Properties over any sequence of changes, then the
cases a person would check by hand."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.console.domain.linkage import (
    ChildAliases,
    LinkageChange,
    LinkageKind,
    linkage_change_from_record,
)

KEYS = [f"{c}" * 64 for c in "0123456789ab"]
_ids = itertools.count()


def _change(
    kind: LinkageKind, child: str, *others: str, event_id: str | None = None
) -> LinkageChange:
    return LinkageChange(
        event_id=event_id or str(uuid.UUID(int=next(_ids))),
        kind=kind,
        child_key=child,
        other_keys=tuple(others),
    )


def merge(child: str, *others: str) -> LinkageChange:
    return _change(LinkageKind.MERGE, child, *others)


def split(child: str, *others: str) -> LinkageChange:
    return _change(LinkageKind.SPLIT, child, *others)


@st.composite
def changes(draw: st.DrawFn) -> LinkageChange:
    child = draw(st.sampled_from(KEYS))
    others = draw(
        st.lists(st.sampled_from([k for k in KEYS if k != child]), min_size=1, max_size=3)
    )
    kind = draw(st.sampled_from(list(LinkageKind)))
    return _change(kind, child, *dict.fromkeys(others))


def partition(aliases: ChildAliases) -> set[frozenset[str]]:
    return {aliases.group_of(k) for k in KEYS}


def assert_a_partition(aliases: ChildAliases) -> None:
    for key in KEYS:
        group = aliases.group_of(key)
        assert key in group
        assert aliases.surviving_key(key) in group
        for member in group:  # one group per child: every member sees the same group
            assert aliases.group_of(member) == group
            assert aliases.surviving_key(member) == aliases.surviving_key(key)
    seen: set[str] = set()
    for group in partition(aliases):
        assert not seen & group  # no key in two groups
        seen |= group


@given(st.lists(changes(), max_size=25))
def test_every_key_is_in_exactly_one_group(sequence: list[LinkageChange]) -> None:
    aliases = ChildAliases()
    for change in sequence:
        aliases.apply(change)
        assert_a_partition(aliases)
        named = aliases.group_of(change.child_key)
        if change.kind is LinkageKind.MERGE:  # a merge joins what it names...
            assert all(o in named for o in change.other_keys)
        else:  # ...and a split always detaches what it names
            assert not any(o in named for o in change.other_keys)


@given(st.lists(changes(), max_size=20), st.data())
def test_a_split_undoes_the_merge_it_names(
    sequence: list[LinkageChange], data: st.DataObject
) -> None:
    aliases = ChildAliases()
    for change in sequence:
        aliases.apply(change)
    child = data.draw(st.sampled_from(KEYS))
    apart = [k for k in KEYS if k not in aliases.group_of(child)]
    if not apart:
        return
    others = data.draw(st.lists(st.sampled_from(apart), min_size=1, max_size=3, unique=True))
    before = partition(aliases)
    survivors = {k: aliases.surviving_key(k) for k in KEYS}

    aliases.apply(merge(child, *others))
    assert aliases.group_of(child) >= {child, *others}
    aliases.apply(split(child, *others))

    assert partition(aliases) == before
    # Children the merge did not touch keep the key they are shown under.
    untouched = [k for k in KEYS if k != child and k not in others]
    for key in untouched:
        if not aliases.group_of(key) & {child, *others}:
            assert aliases.surviving_key(key) == survivors[key]


@given(st.lists(changes(), max_size=20))
def test_replaying_the_topic_changes_nothing(sequence: list[LinkageChange]) -> None:
    aliases = ChildAliases()
    for change in sequence:
        aliases.apply(change)
    once = partition(aliases)
    survivors = {k: aliases.surviving_key(k) for k in KEYS}
    for change in sequence:  # a reconnect reads the topic from the beginning again
        assert aliases.apply(change) == frozenset()
    assert partition(aliases) == once
    assert {k: aliases.surviving_key(k) for k in KEYS} == survivors
    assert len(aliases) == len({c.event_id for c in sequence})


A, B, C, D = KEYS[:4]


def test_a_key_nobody_named_is_a_child_of_its_own() -> None:
    aliases = ChildAliases()
    assert aliases.group_of(A) == {A}
    assert aliases.surviving_key(A) == A
    assert aliases.groups() == set()


def test_a_merge_shows_both_keys_under_the_surviving_one() -> None:
    aliases = ChildAliases()
    assert aliases.apply(merge(A, B)) == {A, B}
    assert aliases.group_of(B) == {A, B}
    assert aliases.surviving_key(B) == A
    # The right child had itself been merged before: its whole group joins.
    aliases.apply(merge(C, D))
    aliases.apply(merge(A, C))
    assert aliases.group_of(D) == {A, B, C, D}
    assert aliases.surviving_key(D) == A


def test_a_split_gives_the_split_off_child_back_its_own_merges() -> None:
    aliases = ChildAliases()
    aliases.apply(merge(C, D))  # the right child was two records already
    aliases.apply(merge(A, B))
    aliases.apply(merge(A, C))
    assert aliases.apply(split(A, C)) == {A, B, C, D}  # every key whose group changed
    assert aliases.group_of(A) == {A, B}
    assert aliases.group_of(D) == {C, D}
    assert aliases.surviving_key(D) == C


def test_a_split_detaches_a_key_joined_through_several_merges() -> None:
    aliases = ChildAliases()
    aliases.apply(merge(A, B))
    aliases.apply(merge(B, C))  # C joined through B, not directly through A
    aliases.apply(split(A, C))
    assert aliases.group_of(C) == {C}
    assert aliases.group_of(A) == {A, B}


def test_a_change_record_from_the_topic() -> None:
    record = {
        "event_id": uuid.UUID(int=7),
        "kind": "MERGE",
        "child_key": A,
        "other_keys": [B, A, B],
        "decided_by": "u-manager",
        "review_id": "r-1",
        "match_probability": 0.8,
        "occurred_at": None,
    }
    change = linkage_change_from_record(record)
    assert change == LinkageChange(str(uuid.UUID(int=7)), LinkageKind.MERGE, A, (B,))
    with pytest.raises(ValueError, match="at least one other key"):
        linkage_change_from_record({**record, "other_keys": [A]})
    with pytest.raises(ValueError, match="RENAME"):
        linkage_change_from_record({**record, "kind": "RENAME"})
