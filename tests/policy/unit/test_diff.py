"""The simulation diff: comparing decisions and aggregating them per subscriber (pure)."""

from __future__ import annotations

import re
from typing import Any

from services.policy.diff import (
    EXAMPLES_PER_CHANGE,
    GroupOutcome,
    NoticeRef,
    compare_decisions,
    compute_diff,
    notice_ref,
    read_decisions,
)
from services.policy.report import PolicyLabels, render_diff, render_unexercised, short_key

BASIS = {"article6": "Art 6(1)(e)", "statutory_gateway": "CA 2004 s11"}
NONE = {"article6": "none: nothing disclosed", "statutory_gateway": "none: nothing disclosed"}


def _answer(outcome: str, fields: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "permitted_fields": fields,
        "purpose": extra.get("purpose", "OPERATION_ENCOMPASS"),
        "lawful_basis": NONE if outcome == "DENY" else BASIS,
        "isa_clause": extra.get("isa_clause"),
        "rule_ids": extra.get("rule_ids", ["R15"]),
        "explanation": extra.get("explanation", "Withheld because ..."),
    }


# The gateway refuses a disclosure that does not name the notice and the child.
IDENTITY = ["notice_id", "notice_type", "subject.linkage_key"]
DENY = _answer("DENY", [])
PARTIAL = _answer(
    "PARTIAL",
    [*IDENTITY, "subject.given_name"],
    rule_ids=["R7"],
    explanation="Shared because ...",
    isa_clause="ISA-5.1",
)


def _one(answer: dict[str, Any]) -> Any:
    return read_decisions({"s": answer})["s"]


def test_deny_to_partial_is_newly_shared_with_its_fields() -> None:
    change = compare_decisions(_one(DENY), _one(PARTIAL))
    assert change.newly_shared
    assert not change.newly_withheld
    assert change.outcome == ("DENY", "PARTIAL")
    assert change.fields_shared == {*IDENTITY, "subject.given_name"}
    assert change.fields_withheld == frozenset()
    assert set(change.other) == {"rules fired", "explanation", "lawful basis", "ISA clause"}


def test_partial_to_deny_is_newly_withheld() -> None:
    change = compare_decisions(_one(PARTIAL), _one(DENY))
    assert change.newly_withheld
    assert not change.newly_shared
    assert change.fields_withheld == {*IDENTITY, "subject.given_name"}


def test_a_field_more_or_less_is_not_a_newly_shared_notice() -> None:
    wider = _answer(
        "PARTIAL",
        [*IDENTITY, "subject.given_name", "created_at"],
        rule_ids=["R7"],
        explanation="Shared because ...",
        isa_clause="ISA-5.1",
    )
    change = compare_decisions(_one(PARTIAL), _one(wider))
    assert not change.newly_shared
    assert not change.newly_withheld
    assert change.outcome is None
    assert change.fields_shared == {"created_at"}
    assert change.any


def test_the_same_decision_is_no_change() -> None:
    assert not compare_decisions(_one(PARTIAL), _one(PARTIAL)).any


def test_an_invalid_answer_discloses_nothing() -> None:
    assert read_decisions({"s": dict(PARTIAL, outcome="SHARE_EVERYTHING")}) == {"s": None}
    assert read_decisions({"s": dict(PARTIAL, permitted_fields=["created_at"])}) == {"s": None}
    change = compare_decisions(_one(PARTIAL), None)
    assert change.newly_withheld
    assert change.outcome == ("PARTIAL", "INVALID")


def _refs(count: int, notice_type: str = "VCS_UPDATE", start: int = 0) -> tuple[NoticeRef, ...]:
    return tuple(NoticeRef(f"n{i}", notice_type, f"{i:064x}") for i in range(start, start + count))


def test_groups_count_by_their_size_and_examples_are_capped() -> None:
    outcomes = [
        GroupOutcome(
            _refs(5),
            {"school": _one(DENY), "la": _one(PARTIAL)},
            {"school": _one(PARTIAL), "la": _one(PARTIAL)},
        ),
        GroupOutcome(
            _refs(3, "MISSING_EPISODE", 10),
            {"school": _one(DENY), "la": _one(PARTIAL)},
            {"school": _one(DENY), "la": _one(PARTIAL)},
        ),
    ]
    diff = compute_diff(outcomes)
    assert (diff.notices, diff.notices_changed) == (8, 5)
    assert diff.by_type == {"VCS_UPDATE": 5, "MISSING_EPISODE": 3}
    school = next(s for s in diff.subscribers if s.subscriber_id == "school")
    assert school.notices_changed == 5
    assert school.newly_shared == {"VCS_UPDATE": 5}
    assert school.outcome_changes == {("DENY", "PARTIAL"): 5}
    assert school.fields_shared == dict.fromkeys([*IDENTITY, "subject.given_name"], 5)
    assert len(school.examples_shared) == EXAMPLES_PER_CHANGE
    assert [s.subscriber_id for s in diff.affected] == ["school"]


def test_a_new_subscriber_is_reported_as_such() -> None:
    outcome = GroupOutcome(
        _refs(2), {"la": _one(PARTIAL)}, {"la": _one(PARTIAL), "school": _one(PARTIAL)}
    )
    diff = compute_diff([outcome])
    school = next(s for s in diff.subscribers if s.subscriber_id == "school")
    assert not school.in_current
    assert school.in_candidate
    assert school.outcome_changes == {("NOT A SUBSCRIBER", "PARTIAL"): 2}
    assert school.newly_shared == {"VCS_UPDATE": 2}


def test_notice_ref_names_only_ids_and_keys() -> None:
    ref = notice_ref(
        {
            "notice_id": "n1",
            "notice_type": "VCS_UPDATE",
            "subject": {"linkage_key": "k" * 64, "given_name": "Avery"},
        }
    )
    assert ref == NoticeRef("n1", "VCS_UPDATE", "k" * 64)
    assert short_key("0123456789abcdef0123") == "0123456789abcdef…"


def test_rendered_diff_names_notices_by_id_and_key_never_by_name() -> None:
    outcome = GroupOutcome(_refs(2), {"school": _one(DENY)}, {"school": _one(PARTIAL)})
    labels = PolicyLabels.from_data(
        {
            "safehub": {
                "fields": {"labels": {"subject.given_name": "the child's given name"}},
                "isa": {"roles": {"DSL": "the school's safeguarding lead"}},
                "subscribers": {"school": {"role": "DSL", "contact": "School"}},
            }
        }
    )
    text = "\n".join(render_diff(compute_diff([outcome]), labels=labels, header=[("Notices", "2")]))
    assert "Result: 2 of 2 notices (100.0%) would be decided differently, for 1 of 1" in text
    assert "school: the school's safeguarding lead (School)" in text
    assert "Notices newly shared: 2 (VCS_UPDATE 2)" in text
    assert re.search(r"2  subject\.given_name +the child's given name", text)
    assert f"notice n0 (VCS_UPDATE), child {'0' * 16}…" in text
    assert "DENY -> PARTIAL" in text
    assert "Avery" not in text


def test_unexercised_rules_are_named_with_their_summary() -> None:
    data = {
        "safehub": {
            "isa": {"rules": {"R4": "Sexual health stays with the navigator.", "R9": "Encompass."}},
            "rules": {
                "vetoes": {"sensitive_health_setting": {"rule_ids": ["R4"]}},
                "grants": {"operation_encompass": {"rule_ids": ["R9"]}},
            },
        }
    }
    labels = PolicyLabels.from_data(data)
    text = "\n".join(render_unexercised({"R9", "R15"}, labels=labels))
    assert "not exercised by this input: 1 of 2 rules" in text
    assert (
        "R4   Sexual health stays with the navigator. [rules/data.json: sensitive_health_setting]"
        in text
    )
    assert "R9 " not in text
    assert render_unexercised({"R4", "R9"}, labels=labels) == []
