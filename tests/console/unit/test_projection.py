"""One subscriber's feed as the console holds it: idempotent on notice id."""

from __future__ import annotations

import dataclasses
import datetime as dt

from services.console.domain.projection import Applied, FeedProjection
from tests.console.factories import CHILD, NOW, OTHER_CHILD, decision, entry


def test_a_redelivered_item_changes_nothing() -> None:
    projection = FeedProjection("mash-manager")
    item = entry()
    assert projection.apply(item).applied is Applied.NEW
    assert projection.apply(item).applied is Applied.UNCHANGED
    assert len(projection) == 1
    assert [e.notice_id for e in projection.for_child(CHILD)] == [item.notice_id]


def test_a_new_view_of_the_same_notice_replaces_the_old_one() -> None:
    projection = FeedProjection("mash-manager")
    first = entry(policy_revision="sha256:one")
    projection.apply(first)
    again = dataclasses.replace(first, policy_revision="sha256:two", view_json="{}", view={})
    change = projection.apply(again)
    assert change.applied is Applied.UPDATED
    assert projection.get(first.notice_id) is again
    assert len(projection.for_child(CHILD)) == 1  # not listed twice


def test_items_for_another_subscriber_are_never_shown() -> None:
    projection = FeedProjection("mash-manager")
    change = projection.apply(entry(subscriber_id="school-dsl"))
    assert change.applied is Applied.REFUSED
    assert not change.visible
    assert len(projection) == 0


def test_a_decision_marks_the_notices_it_covers() -> None:
    projection = FeedProjection("mash-manager")
    contact = entry()
    other = entry()
    projection.apply(contact)
    projection.apply(other)
    made = decision(contact)
    change = projection.apply(made)
    assert change.affected == (contact.notice_id,)
    assert projection.decisions_covering(contact.notice_id) == [made]
    assert projection.decisions_covering(other.notice_id) == []


def test_a_child_chronology_is_in_time_order_and_per_child() -> None:
    projection = FeedProjection("mash-manager")
    late = entry(received_at=NOW, created_at=NOW - dt.timedelta(hours=1))
    early = entry(received_at=NOW, created_at=NOW - dt.timedelta(days=2))
    no_time = entry(received_at=NOW - dt.timedelta(hours=5))
    elsewhere = entry(linkage_key=OTHER_CHILD)
    for item in (late, early, no_time, elsewhere):
        projection.apply(item)
    assert projection.for_child(CHILD) == [early, no_time, late]
    assert set(projection.linkage_keys()) == {CHILD, OTHER_CHILD}
