"""What a candidate policy would change, per subscriber: the simulation diff. Pure.

Input: for each group of equivalent notices (one notice when every notice was evaluated on
its own) the notices in it and the decisions of the current and the candidate policy for
its representative. Output: per subscriber, how many notices become shared or withheld,
which outcomes change, which fields are newly shared or withheld (counted in notices), and
a few examples named by notice id and pseudonymous linkage key only: never a name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.hubkit.errors import SharingDecisionInvalid
from services.hubkit.sharing_decisions import SharingDecision, parse_decisions

__all__ = [
    "EXAMPLES_PER_CHANGE",
    "DecisionChange",
    "GroupOutcome",
    "NoticeRef",
    "SimulationDiff",
    "SubscriberDiff",
    "compare_decisions",
    "compute_diff",
    "notice_ref",
    "read_decisions",
]

EXAMPLES_PER_CHANGE = 3


@dataclass(frozen=True, slots=True)
class NoticeRef:
    """How the diff names a notice: its id, type and the child's pseudonymous key."""

    notice_id: str
    notice_type: str
    linkage_key: str


def notice_ref(notice: Mapping[str, Any]) -> NoticeRef:
    subject = notice.get("subject")
    key = subject.get("linkage_key") if isinstance(subject, Mapping) else None
    return NoticeRef(
        notice_id=str(notice.get("notice_id") or "?"),
        notice_type=str(notice.get("notice_type") or "?"),
        linkage_key=str(key or "?"),
    )


Decisions = Mapping[str, SharingDecision | None]
"""Decision per subscriber; None when the policy's answer for it was not a valid decision
(the gateway would refuse it and disclose nothing)."""


def read_decisions(result: Any) -> dict[str, SharingDecision | None]:
    """Parse one policy answer subscriber by subscriber, keeping invalid ones as None."""
    if not isinstance(result, Mapping):
        return {}
    decisions: dict[str, SharingDecision | None] = {}
    for subscriber_id in result:
        try:
            decisions[subscriber_id] = parse_decisions(result, [subscriber_id])[subscriber_id]
        except SharingDecisionInvalid:
            decisions[subscriber_id] = None
    return decisions


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    members: tuple[NoticeRef, ...]
    current: Decisions
    candidate: Decisions


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """How one subscriber's decision on one notice changes. Pure comparison result."""

    newly_shared: bool
    newly_withheld: bool
    outcome: tuple[str, str] | None
    fields_shared: frozenset[str]
    fields_withheld: frozenset[str]
    other: tuple[str, ...]
    """Other differences in what is recorded: "rules fired", "explanation", ..."""

    @property
    def any(self) -> bool:
        return bool(
            self.newly_shared
            or self.newly_withheld
            or self.outcome
            or self.fields_shared
            or self.fields_withheld
            or self.other
        )


def _outcome(decision: SharingDecision | None, present: bool) -> str:
    if not present:
        return "NOT A SUBSCRIBER"
    return "INVALID" if decision is None else decision.outcome.value


def compare_decisions(
    current: SharingDecision | None,
    candidate: SharingDecision | None,
    *,
    in_current: bool = True,
    in_candidate: bool = True,
) -> DecisionChange:
    """Compare a subscriber's decision under the two policies.

    An invalid decision or a missing subscriber discloses nothing (the gateway fails closed).
    """
    before = frozenset(current.permitted_fields) if current and current.discloses else frozenset()
    after = (
        frozenset(candidate.permitted_fields) if candidate and candidate.discloses else frozenset()
    )
    outcome_before = _outcome(current, in_current)
    outcome_after = _outcome(candidate, in_candidate)
    other: list[str] = []
    if current is not None and candidate is not None:
        if current.rule_ids != candidate.rule_ids:
            other.append("rules fired")
        if current.explanation != candidate.explanation:
            other.append("explanation")
        if current.lawful_basis != candidate.lawful_basis:
            other.append("lawful basis")
        if current.purpose != candidate.purpose:
            other.append("purpose")
        if current.isa_clause != candidate.isa_clause:
            other.append("ISA clause")
    return DecisionChange(
        newly_shared=not before and bool(after),
        newly_withheld=bool(before) and not after,
        outcome=None if outcome_before == outcome_after else (outcome_before, outcome_after),
        fields_shared=after - before,
        fields_withheld=before - after,
        other=tuple(other),
    )


@dataclass(slots=True)
class SubscriberDiff:
    subscriber_id: str
    in_current: bool = True
    in_candidate: bool = True
    notices_changed: int = 0
    newly_shared: Counter[str] = field(default_factory=Counter)
    """Notices newly shared, by notice type."""
    newly_withheld: Counter[str] = field(default_factory=Counter)
    outcome_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    fields_shared: Counter[str] = field(default_factory=Counter)
    """Field path -> in how many notices it is newly shared."""
    fields_withheld: Counter[str] = field(default_factory=Counter)
    other_changes: Counter[str] = field(default_factory=Counter)
    examples_shared: list[NoticeRef] = field(default_factory=list)
    examples_withheld: list[NoticeRef] = field(default_factory=list)
    examples_changed: list[NoticeRef] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.notices_changed > 0 or self.in_current != self.in_candidate


@dataclass(frozen=True, slots=True)
class SimulationDiff:
    notices: int
    notices_changed: int
    """Notices whose decision changes for at least one subscriber."""
    subscribers: tuple[SubscriberDiff, ...]
    by_type: Mapping[str, int]
    """Notices replayed, by notice type."""
    rules_fired: frozenset[str] = frozenset()
    """Rule ids (R1..) any notice made fire under either policy: what the input exercised."""

    @property
    def affected(self) -> tuple[SubscriberDiff, ...]:
        return tuple(s for s in self.subscribers if s.changed)


def _add_examples(into: list[NoticeRef], members: Sequence[NoticeRef]) -> None:
    for ref in members:
        if len(into) >= EXAMPLES_PER_CHANGE:
            return
        into.append(ref)


def compute_diff(outcomes: Iterable[GroupOutcome]) -> SimulationDiff:
    """Aggregate every group's change, weighted by how many notices the group holds."""
    subscribers: dict[str, SubscriberDiff] = {}
    by_type: Counter[str] = Counter()
    rules_fired: set[str] = set()
    notices = notices_changed = 0
    for outcome in outcomes:
        for decision in (*outcome.current.values(), *outcome.candidate.values()):
            if decision is not None:
                rules_fired.update(decision.rule_ids)
        size = len(outcome.members)
        notices += size
        for ref in outcome.members:
            by_type[ref.notice_type] += 1
        group_changed = False
        for sid in sorted(set(outcome.current) | set(outcome.candidate)):
            entry = subscribers.setdefault(sid, SubscriberDiff(sid))
            in_current, in_candidate = sid in outcome.current, sid in outcome.candidate
            entry.in_current = entry.in_current and in_current
            entry.in_candidate = entry.in_candidate and in_candidate
            change = compare_decisions(
                outcome.current.get(sid),
                outcome.candidate.get(sid),
                in_current=in_current,
                in_candidate=in_candidate,
            )
            if not change.any:
                continue
            group_changed = True
            entry.notices_changed += size
            if change.newly_shared:
                entry.newly_shared.update(ref.notice_type for ref in outcome.members)
                _add_examples(entry.examples_shared, outcome.members)
            if change.newly_withheld:
                entry.newly_withheld.update(ref.notice_type for ref in outcome.members)
                _add_examples(entry.examples_withheld, outcome.members)
            if not (change.newly_shared or change.newly_withheld):
                _add_examples(entry.examples_changed, outcome.members)
            if change.outcome:
                entry.outcome_changes[change.outcome] += size
            for path in change.fields_shared:
                entry.fields_shared[path] += size
            for path in change.fields_withheld:
                entry.fields_withheld[path] += size
            for what in change.other:
                entry.other_changes[what] += size
        if group_changed:
            notices_changed += size
    return SimulationDiff(
        notices=notices,
        notices_changed=notices_changed,
        subscribers=tuple(subscribers[sid] for sid in sorted(subscribers)),
        by_type=dict(by_type),
        rules_fired=frozenset(rules_fired),
    )
