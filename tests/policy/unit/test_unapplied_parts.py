"""The warning naming the grants, restrictions, vetoes and refusals an input never applied
(services.policy.report.render_unapplied_parts), and reading `rule_parts` answers. Pure."""

from __future__ import annotations

from typing import Any

from services.policy.diff import compute_diff
from services.policy.report import PolicyLabels, render_diff, render_unapplied_parts
from services.policy.rule_parts import RulePart, part_entries, read_rule_parts

CONFIDENTIAL = RulePart("restrictions", "police_confidential_account")
ENCOMPASS = RulePart("grants", "operation_encompass")
UNKNOWN_FIELDS = RulePart("restrictions", "unknown_fields")
CONFIDENTIAL_REASON = "the full account is marked confidential to police (R5)"

RULES: dict[str, Any] = {
    "grants": {
        "operation_encompass": {
            "rule_ids": ["R9"],
            "reason": "police attended a domestic abuse incident at which this school-age child "
            "was present, so the school's designated safeguarding lead is told before the "
            "next school day (R9)",
        }
    },
    "restrictions": {
        "police_confidential_account": {"rule_ids": ["R5"], "reason": CONFIDENTIAL_REASON},
        "unknown_fields": {"rule_ids": [], "reason": "they are not fields the sharing rules know"},
    },
    "vetoes": {"police_only_handling": {"rule_ids": ["R6", "R5"], "reason": "police only (R6)"}},
    "refusals": {},
}
LABELS = PolicyLabels.from_data(
    {"safehub": {"isa": {"rules": {"R5": "Intelligence.", "R9": "Encompass."}}, "rules": RULES}}
)
VETO = RulePart("vetoes", "police_only_handling")


def _text(fired: set[RulePart] | None, unanswered: tuple[str, ...] = ()) -> str:
    """The warning with its wrapping undone (one space between words)."""
    lines = render_unapplied_parts(fired, labels=LABELS, unanswered=unanswered)
    return " ".join(" ".join(lines).split())


def test_a_part_never_applied_is_named_with_its_rule_ids_and_reason() -> None:
    text = _text({ENCOMPASS, UNKNOWN_FIELDS, VETO})
    assert "never applied by this input: 1 of 4 named parts of the rules" in text
    assert (
        f"R5 restriction police_confidential_account: {CONFIDENTIAL_REASON}: never applied "
        "by this input" in text
    )
    assert "operation_encompass" not in text


def test_every_part_never_applied_is_listed_in_rule_order_and_wrapped() -> None:
    lines = render_unapplied_parts(set(), labels=LABELS)
    names = [
        name
        for line in lines
        for name in ("police_confidential_account", "police_only_handling", "operation_encompass")
        if f" {name}: " in line
    ]
    assert names == ["police_confidential_account", "police_only_handling", "operation_encompass"]
    assert "  R5, R6 veto police_only_handling: police only (R6): never applied" in "\n".join(lines)
    # A part without a rule id (a fail-closed check) is named by kind and name alone.
    assert "  Restriction unknown_fields: they are not fields" in "\n".join(lines)
    assert all(len(line) <= 96 for line in lines)
    # The long Encompass reason is wrapped under its part, indented past the first line.
    start = next(i for i, line in enumerate(lines) if "operation_encompass" in line)
    assert lines[start].startswith("  R9 grant operation_encompass: ")
    assert lines[start + 1].startswith("      ")


def test_nothing_to_say_when_every_part_applied() -> None:
    assert render_unapplied_parts(set(part_entries(RULES)), labels=LABELS) == []


def test_a_policy_that_cannot_say_is_named() -> None:
    text = _text({ENCOMPASS}, unanswered=("current",))
    assert "the current policy cannot say which parts" in text
    assert "police_confidential_account" in text
    neither = _text(None, unanswered=("current", "candidate"))
    assert "neither policy can say" in neither
    assert "police_confidential_account" not in neither


def test_the_diff_ends_with_both_warnings_rules_then_parts() -> None:
    text = "\n".join(
        render_diff(compute_diff([]), labels=LABELS, header=[], parts_fired={ENCOMPASS})
    )
    rules_at = text.index("not exercised by this input")
    parts_at = text.index("never applied by this input: 3 of 4")
    assert rules_at < parts_at
    # Without parts (a caller that does not ask), only the rule-level warning.
    plain = "\n".join(render_diff(compute_diff([]), labels=LABELS, header=[]))
    assert "not exercised by this input" in plain
    assert "named parts" not in plain


def test_rule_parts_answers_are_read_by_kind_and_name() -> None:
    answer = {
        "grants": ["operation_encompass"],
        "restrictions": ["police_confidential_account", 7],
        "vetoes": "not a list",
        "unknown kind": ["x"],
    }
    assert read_rule_parts(answer) == {ENCOMPASS, CONFIDENTIAL}
    assert read_rule_parts(None) == frozenset()
