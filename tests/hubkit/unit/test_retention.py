"""Retention rules (hubkit.retention): the IG-owned file, review dates, holds, topic settings."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from services.hubkit.audit_trail import AUDIT_REVIEW_YEARS, retention_review_date
from services.hubkit.retention import (
    RETENTION_FILE,
    Anchor,
    LegalHold,
    Period,
    RetentionInvalid,
    RetentionRules,
    TopicKind,
    UnknownRecordType,
    review_due,
    topic_kind,
    topic_retention,
)
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import load_topology

POLICIES = REPO_ROOT / "policies"
SHIPPED: dict[str, Any] = json.loads((POLICIES / RETENTION_FILE).read_text())
RULES = RetentionRules.load(POLICIES)
TODAY = dt.date(2026, 12, 5)
CHILD = "ab" * 32
OTHER_CHILD = "cd" * 32


def _hold(**scope: str) -> LegalHold:
    return LegalHold(
        hold_id="HOLD-TEST",
        child_key=scope.get("child_key"),
        record_type=scope.get("record_type"),
        reason="synthetic inquiry",
        placed_by="IG officer",
        placed_at=dt.date(2026, 1, 1),
        review_by=dt.date(2027, 1, 1),
    )


# --- the shipped file ---------------------------------------------------------------------


def test_the_shipped_rules_load_and_cover_every_topic_kind() -> None:
    assert set(RULES.topics) == set(TopicKind)
    looked_after = RULES.record_type("LOOKED_AFTER_CHILD_CASE_RECORD")
    assert looked_after.anchor is Anchor.DATE_OF_BIRTH
    assert looked_after.period.years == 75
    assert "reg 50" in looked_after.legal_basis


def test_audit_records_follow_the_review_date_every_audit_record_carries() -> None:
    """The file and audit_trail.retention_review_date must not drift apart."""
    audit = RULES.record_type("AUDIT_RECORD")
    assert audit.anchor is Anchor.RECORD_CREATED
    assert audit.period.years == AUDIT_REVIEW_YEARS
    made = dt.datetime(2028, 2, 29, 9, 30, tzinfo=dt.UTC)
    answer = review_due(audit, made.date(), holds=(), today=TODAY)
    assert answer.due_on == retention_review_date(made)


def test_local_policy_periods_say_so() -> None:
    for record in RULES.record_types.values():
        if record.basis_kind == "LOCAL_POLICY":
            assert record.legal_basis.startswith("Local policy"), record.name


# --- review dates -------------------------------------------------------------------------


def test_a_looked_after_record_is_due_on_the_75th_birthday() -> None:
    record = RULES.record_type("LOOKED_AFTER_CHILD_CASE_RECORD")
    born = dt.date(2010, 6, 14)
    before = review_due(record, born, holds=(), today=dt.date(2085, 6, 13))
    on = review_due(record, born, holds=(), today=dt.date(2085, 6, 14))
    assert before.due_on == on.due_on == dt.date(2085, 6, 14)
    assert (before.is_due, on.is_due) == (False, True)


def test_a_29_february_birthday_falls_due_on_28_february_in_a_common_year() -> None:
    born = dt.date(2008, 2, 29)
    protection = RULES.record_type("CHILD_PROTECTION_RECORD")
    assert review_due(protection, born, holds=(), today=TODAY).due_on == dt.date(2033, 2, 28)
    looked_after = RULES.record_type("LOOKED_AFTER_CHILD_CASE_RECORD")
    assert review_due(looked_after, born, holds=(), today=TODAY).due_on == dt.date(2083, 2, 28)
    health = RULES.record_type("CHILD_HEALTH_RECORD")
    at_17 = review_due(health, dt.date(2004, 2, 29), holds=(), today=TODAY, age_at_end=17)
    assert at_17.due_on == dt.date(2030, 2, 28)
    # Due on the 28th, not 1 March: a leap day never keeps a record a day past its period.
    due = review_due(protection, born, holds=(), today=dt.date(2033, 2, 28))
    assert due.is_due


def test_a_29_february_anchor_keeps_its_day_when_the_due_year_is_a_leap_year() -> None:
    assert Period(years=28).after(dt.date(2000, 2, 29)) == dt.date(2028, 2, 29)
    assert Period(years=1, days=1).after(dt.date(2000, 2, 29)) == dt.date(2001, 3, 1)


@pytest.mark.parametrize(
    ("age_at_end", "due"),
    [(10, dt.date(2034, 5, 1)), (16, dt.date(2034, 5, 1)), (17, dt.date(2035, 5, 1))],
)
def test_a_health_record_is_kept_to_26_when_the_child_was_17_at_the_end(
    age_at_end: int, due: dt.date
) -> None:
    record = RULES.record_type("CHILD_HEALTH_RECORD")
    answer = review_due(record, dt.date(2009, 5, 1), holds=(), today=TODAY, age_at_end=age_at_end)
    assert answer.due_on == due


def test_a_health_record_with_no_age_at_the_end_takes_the_longer_period() -> None:
    record = RULES.record_type("CHILD_HEALTH_RECORD")
    answer = review_due(record, dt.date(2009, 5, 1), holds=(), today=TODAY)
    assert answer.due_on == dt.date(2035, 5, 1)
    assert "not given" in answer.note


def test_periods_in_days_count_on_from_the_anchor() -> None:
    raw = copy.deepcopy(SHIPPED)
    raw["record_types"]["MASH_CONTACT_RECORD"]["period"] = {"days": 30}
    record = RetentionRules.from_data(raw).record_type("MASH_CONTACT_RECORD")
    assert review_due(record, dt.date(2026, 2, 1), holds=(), today=TODAY).due_on == dt.date(
        2026, 3, 3
    )


# --- legal holds --------------------------------------------------------------------------


def test_a_legal_hold_on_the_child_wins_over_a_date_long_past() -> None:
    record = RULES.record_type("MASH_CONTACT_RECORD")
    hold = _hold(child_key=CHILD)
    held = review_due(record, dt.date(2010, 1, 1), holds=(hold,), today=TODAY, child_key=CHILD)
    assert held.due_on < TODAY
    assert held.held_by == (hold,)
    assert not held.is_due
    other = review_due(
        record, dt.date(2010, 1, 1), holds=(hold,), today=TODAY, child_key=OTHER_CHILD
    )
    assert other.is_due
    assert other.held_by == ()
    # Without a child key, a hold on a child cannot be matched, and does not hold.
    assert review_due(record, dt.date(2010, 1, 1), holds=(hold,), today=TODAY).is_due


def test_a_legal_hold_on_a_record_type_holds_every_child() -> None:
    hold = _hold(record_type="MASH_CONTACT_RECORD")
    contact = RULES.record_type("MASH_CONTACT_RECORD")
    audit = RULES.record_type("AUDIT_RECORD")
    long_ago = dt.date(2010, 1, 1)
    assert review_due(contact, long_ago, holds=(hold,), today=TODAY).held_by == (hold,)
    assert review_due(audit, long_ago, holds=(hold,), today=TODAY).is_due


def test_the_shipped_example_hold_holds_its_child() -> None:
    (hold,) = RULES.holds
    assert hold.child_key is not None
    record = RULES.record_type("MASH_CONTACT_RECORD")
    answer = review_due(
        record, dt.date(2010, 1, 1), holds=RULES.holds, today=TODAY, child_key=hold.child_key
    )
    assert answer.held_by == (hold,)


# --- validation ---------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return edit


LA = "record_types/LOOKED_AFTER_CHILD_CASE_RECORD"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _set(f"{LA}/anchor", "BIRTHDAY"),
            r"LOOKED_AFTER_CHILD_CASE_RECORD'\.anchor is 'BIRTHDAY'; valid values: DATE_OF_BIRTH",
        ),
        (_set(f"{LA}/period", {"years": -1}), r"\.period\.years must be a whole number"),
        (_set(f"{LA}/period", {"years": True}), r"\.period\.years must be a whole number"),
        (_set(f"{LA}/period", {"months": 3}), r"unknown keys \['months'\]"),
        (_set(f"{LA}/period", {}), r"\.period is zero"),
        (_set(f"{LA}/stores", ["backups"]), r"names 'backups'; valid stores: audit_index"),
        (_set(f"{LA}/basis_kind", "GUIDANCE"), r"basis_kind is 'GUIDANCE'; valid values"),
        (_drop(f"{LA}/legal_basis"), r"\.legal_basis must be a non-empty string"),
        (_set("record_types", {}), r"names no record type"),
        (_set("legal_holds/0/scope", {}), r"exactly one of child_key or record_type"),
        (_set("legal_holds/0/scope", {"child_key": "Jane Doe"}), r"not a pseudonymous child key"),
        (_set("legal_holds/0/scope", {"record_type": "NOPE"}), r"valid record types: AUDIT_RECORD"),
        (
            _set("legal_holds/0/placed_at", "2 March 2026"),
            r"placed_at is '2 March 2026'; write dates",
        ),
        (_set("legal_holds/0/review_by", "2020-01-01"), r"review_by is before placed_at"),
        (_set("legal_holds", {}), r"'legal_holds' must be a list"),
        (_drop("topics/FEED"), r"'topics' has no entry for FEED"),
        (_set("topics/FEEDS", {"retention_ms": -1, "why": "x"}), r"unknown kinds \['FEEDS'\]"),
        (_set("topics/FEED/retention_ms", 1000), r"'topics\.FEED'\.retention_ms must be -1"),
        (_set("topics/FEED/retention_ms", "90d"), r"'topics\.FEED'\.retention_ms must be -1"),
        (_set("topics/NOTICES_SEEN/retention_ms", -1), r"compacted: retention_ms does not apply"),
        (_set("topics/AUDIT/cleanup_policy", "archive"), r"valid values: delete, compact"),
    ],
)
def test_a_file_that_cannot_be_applied_is_refused_naming_file_and_place(
    edit: Edit, message: str
) -> None:
    raw = copy.deepcopy(SHIPPED)
    edit(raw)
    with pytest.raises(RetentionInvalid, match=message) as error:
        RetentionRules.from_data(raw)
    assert str(error.value).startswith(f"policies/{RETENTION_FILE}: ")


def test_a_repeated_hold_id_is_refused() -> None:
    raw = copy.deepcopy(SHIPPED)
    raw["legal_holds"].append(copy.deepcopy(raw["legal_holds"][0]))
    with pytest.raises(RetentionInvalid, match="repeats a hold id"):
        RetentionRules.from_data(raw)


def test_a_missing_or_broken_file_is_refused(tmp_path: Any) -> None:
    with pytest.raises(RetentionInvalid, match="missing"):
        RetentionRules.load(tmp_path)
    (tmp_path / RETENTION_FILE).parent.mkdir(parents=True)
    (tmp_path / RETENTION_FILE).write_text("{")
    with pytest.raises(RetentionInvalid, match="not valid JSON"):
        RetentionRules.load(tmp_path)


def test_an_unknown_record_type_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownRecordType) as error:
        RULES.record_type("LAC")
    assert "LOOKED_AFTER_CHILD_CASE_RECORD" in str(error.value)
    assert error.value.known == tuple(sorted(RULES.record_types))


# --- topics -------------------------------------------------------------------------------


def test_every_topic_of_the_real_topology_has_a_kind_and_a_setting() -> None:
    topology = load_topology(POLICIES)
    kinds = {topic: topic_kind(topic, topology) for topic in topology.all_topics}
    assert {kinds[s.feed_topic] for s in topology.subscribers} == {TopicKind.FEED}
    assert {kinds[t] for t in topology.notice_topics} == {TopicKind.NOTICES}
    assert kinds["audit.decisions.v1"] is TopicKind.AUDIT
    assert kinds["audit.access.v1"] is TopicKind.AUDIT
    assert kinds["audit.checkpoints.v1"] is TopicKind.AUDIT_CHECKPOINTS
    assert kinds["gateway.notices-seen.v1"] is TopicKind.NOTICES_SEEN
    seen = topic_retention("gateway.notices-seen.v1", topology, RULES)
    assert seen.kafka_config() == topology.config("gateway.notices-seen.v1")
    with pytest.raises(KeyError, match="unknown topic"):
        topic_kind("feed.nobody.v1", topology)


def test_checkpoints_and_feeds_are_kept_for_good_and_audit_records_leave_kafka() -> None:
    assert RULES.topics[TopicKind.AUDIT_CHECKPOINTS].retention_ms == -1
    assert RULES.topics[TopicKind.AUDIT_CHECKPOINTS].plain() == "kept for good"
    # The audit store is the record (its committed leaves cannot be rebuilt from the topics):
    # an erased child's audit records must leave Kafka too, after an outage's worth of days.
    audit = RULES.topics[TopicKind.AUDIT].retention_ms
    assert audit is not None
    assert 0 < audit <= 90 * 86_400_000
    # A console rebuilds its projection from the start of its feed: a feed that dropped old
    # items would cut children's chronologies on every rebuild.
    assert RULES.topics[TopicKind.FEED].retention_ms == -1
    notices = RULES.topics[TopicKind.NOTICES].retention_ms
    assert notices is not None
    assert notices > 0
    assert RULES.topics[TopicKind.NOTICES].plain() == f"deleted after {notices // 86_400_000} days"
