"""Grouping notices the policies cannot tell apart (pure)."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from services.hubkit.notice import to_json_value
from services.policy.equivalence import (
    NoticeGroup,
    PolicyVocabulary,
    equivalence_key,
    group_notices,
    rego_vocabulary,
    sample_members,
)
from tests.factories import notices

REGO = """
package safehub.sharing

# a comment naming "COMMENTED_OUT" and notice.commented_key must not count
_school_age(notice) if notice.subject.age_years >= data.safehub.rules.R9.min_age

_kind(notice) := object.get(notice.detail, "kind", "") # trailing comment "NOPE"

_raw := `raw literal`

_escaped := "say \\"hi\\""
"""


def test_vocabulary_reads_literals_field_names_and_numbers_not_comments() -> None:
    data = {"safehub": {"rules": {"R9": {"min_age": 4, "max_age": 16}}, "x": ["URN-1"]}}
    vocab = rego_vocabulary([REGO + "\n_few(xs) if count(xs) <= 3\n"], data)
    assert {"kind", "raw literal", 'say "hi"', "URN-1", "R9", "min_age"} <= vocab.strings
    assert {"subject", "age_years", "detail", "kind", "min_age"} <= vocab.keys
    assert "COMMENTED_OUT" not in vocab.strings
    assert "NOPE" not in vocab.strings
    assert "commented_key" not in vocab.keys
    assert {3.0, 4.0, 16.0} <= set(vocab.numbers)
    assert 9.0 not in vocab.numbers  # from "R9": part of a name, not a number


VOCAB = PolicyVocabulary(
    strings=frozenset({"VCS_UPDATE", "RETURN_INTERVIEW_OUTCOME", "URN-999999", "ENGAGEMENT"}),
    keys=frozenset({"notice_type", "kind", "school_urn", "age_years", "looked_after"}),
    numbers=(4.0, 16.0),
)


def _notice(**detail: Any) -> dict[str, Any]:
    return {
        "notice_id": str(uuid.uuid4()),
        "notice_type": "VCS_UPDATE",
        "created_at": "2026-11-18T10:00:00.000+00:00",
        "subject": {"given_name": "Avery", "age_years": 9, "looked_after": False, "upn": None},
        "detail": {"kind": "ENGAGEMENT", "school_urn": "URN-999999", "actions": ["a"], **detail},
        "third_parties": [],
    }


def test_names_ids_text_and_times_do_not_split_a_group() -> None:
    a, b = _notice(), _notice()
    b["subject"]["given_name"] = "Wren"
    b["created_at"] = "2026-11-19T08:00:00.000+00:00"
    b["detail"]["actions"] = ["something else"]
    assert equivalence_key(a, VOCAB) == equivalence_key(b, VOCAB)


def test_values_the_policy_names_split_groups() -> None:
    base = equivalence_key(_notice(), VOCAB)
    assert equivalence_key(_notice(kind="RETURN_INTERVIEW_OUTCOME"), VOCAB) != base
    assert equivalence_key(_notice(school_urn="URN-123456"), VOCAB) != base
    older = _notice()
    older["subject"]["age_years"] = 17
    assert equivalence_key(older, VOCAB) != base
    at_the_limit = _notice()
    at_the_limit["subject"]["age_years"] = 16
    assert equivalence_key(at_the_limit, VOCAB) != base
    flagged = _notice()
    flagged["subject"]["looked_after"] = True
    assert equivalence_key(flagged, VOCAB) != base


def test_numbers_between_the_same_mentioned_numbers_do_not_split_a_group() -> None:
    ages = {}
    for age in (5, 9, 15, 16, 17, 40, 3):
        notice = _notice()
        notice["subject"]["age_years"] = age
        ages[age] = equivalence_key(notice, VOCAB)
    assert ages[5] == ages[9] == ages[15]  # all between 4 and 16
    assert ages[17] == ages[40]  # both above 16
    assert len({ages[3], ages[9], ages[16], ages[17]}) == 4


def test_presence_and_shape_always_split_groups() -> None:
    base = equivalence_key(_notice(), VOCAB)
    changes: list[Callable[[dict[str, Any]], object]] = [
        lambda n: n["subject"].update(upn="UPN1"),  # null -> present
        lambda n: n["subject"].update(given_name=""),  # empty string
        lambda n: n["detail"].update(actions=[]),  # empty list
        lambda n: n["detail"].update(actions=["a", "b"]),  # list length
        lambda n: n.update(third_parties=[{"name": "x"}]),
        lambda n: n["detail"].pop("actions"),  # field missing
    ]
    for change in changes:
        changed = _notice()
        change(changed)
        assert equivalence_key(changed, VOCAB) != base


def test_which_strings_are_equal_within_a_notice_is_kept() -> None:
    same, different = _notice(), _notice()
    same["detail"]["reference"] = same["notice_id"]
    different["detail"]["reference"] = str(uuid.uuid4())
    assert equivalence_key(same, VOCAB) != equivalence_key(different, VOCAB)


def test_kinds_never_collide() -> None:
    as_bool, as_int = _notice(), _notice()
    as_bool["subject"]["looked_after"] = True
    as_int["subject"]["looked_after"] = 1
    assert equivalence_key(as_bool, VOCAB) != equivalence_key(as_int, VOCAB)


def test_record_form_groups_like_json_form() -> None:
    generator = notices(seed=3)
    records = [generator.notice("MISSING_EPISODE") for _ in range(40)]
    vocab = PolicyVocabulary(
        frozenset({"MISSING_EPISODE", "RETURNED", "REPORTED"}), frozenset({"notice_type", "status"})
    )
    as_records = group_notices(records, vocab)
    as_json = group_notices([to_json_value(r) for r in records], vocab)
    assert as_records == as_json
    assert any(isinstance(r["created_at"], dt.datetime) for r in records)
    assert isinstance(records[0]["notice_id"], str | uuid.UUID)


def test_groups_keep_first_appearance_order() -> None:
    a, b = _notice(), _notice(kind="RETURN_INTERVIEW_OUTCOME")
    groups = group_notices([a, b, copy.deepcopy(a), b], VOCAB)
    assert groups == (NoticeGroup((0, 2)), NoticeGroup((1, 3)))
    assert groups[0].representative == 0


def test_sample_checks_distinct_groups_and_never_a_representative() -> None:
    groups = tuple(NoticeGroup(tuple(range(10 * g, 10 * g + 1 + g % 3))) for g in range(30))
    sample = sample_members(groups, 12, seed=5)
    assert len(sample) == 12
    assert len({number for number, _ in sample}) == 12
    for number, member in sample:
        assert member in groups[number].members[1:]
    assert sample == sample_members(groups, 12, seed=5)
    singles = tuple(NoticeGroup((i,)) for i in range(5))
    assert sample_members(singles, 3, seed=1) == ()
