"""Where a follower resumes from stored offsets (hubkit.feed_follower.resume_plan)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.hubkit.feed_follower import resume_plan


def test_offsets_inside_the_partitions_are_resumed_as_stored() -> None:
    plan = resume_plan({0: 5, 1: 9}, beginnings={0: 0, 1: 2}, ends={0: 7, 1: 9})
    assert (plan.starts, plan.recreated, plan.lost) == ({0: 5, 1: 9}, False, {})


def test_an_offset_past_the_end_means_the_topic_was_created_again() -> None:
    plan = resume_plan({0: 5, 1: 900}, beginnings={0: 0, 1: 0}, ends={0: 7, 1: 12})
    assert plan.recreated
    assert plan.starts == {}  # every partition from the beginning


def test_records_deleted_before_they_were_read_are_counted() -> None:
    plan = resume_plan({0: 5, 1: 9}, beginnings={0: 8, 1: 2}, ends={0: 20, 1: 9})
    assert (plan.starts, plan.recreated, plan.lost) == ({1: 9}, False, {0: 3})


@given(
    st.dictionaries(
        st.integers(0, 5),
        st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
        max_size=6,
    )
)
def test_a_resumed_partition_is_always_within_the_partition(
    partitions: dict[int, tuple[int, int, int]],
) -> None:
    stored = {p: s for p, (s, _, _) in partitions.items()}
    beginnings = {p: min(b, e) for p, (_, b, e) in partitions.items()}
    ends = {p: max(b, e) for p, (_, b, e) in partitions.items()}
    plan = resume_plan(stored, beginnings, ends)
    for partition, start in plan.starts.items():
        assert beginnings[partition] <= start <= ends[partition]
    assert plan.recreated == any(stored[p] > ends[p] for p in stored)
    if not plan.recreated:
        assert set(plan.starts) | set(plan.lost) == set(stored)
