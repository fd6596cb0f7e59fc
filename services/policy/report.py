"""Plain-English text for IG officers: a decision explained, a simulation diff. Pure.

Words come from the policy's own data (field labels, role names, purposes, ISA clause
titles, rule summaries), so what is printed matches what the rules say. Notices are named
by notice id and the child's pseudonymous linkage key, never by name.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.hubkit.field_paths import present_paths, withheld_paths
from services.hubkit.sharing_decisions import SharingDecision
from services.policy.diff import NoticeRef, SimulationDiff, SubscriberDiff, read_decisions
from services.policy.rule_parts import PartEntry, RulePart, part_entries

__all__ = [
    "OUTCOME_WORDS",
    "PolicyLabels",
    "render_decisions",
    "render_diff",
    "render_unapplied_parts",
    "render_unexercised",
    "short_key",
]

OUTCOME_WORDS = {
    "PERMIT": "everything in the notice is shared",
    "PARTIAL": "part of the notice is shared",
    "FLAG_ONLY": "only a flag that information is held, and whom to contact, is shared",
    "DENY": "nothing is shared",
}
_WIDTH = 96
_KEY_CHARS = 16


def short_key(linkage_key: str) -> str:
    """The first characters of a pseudonymous linkage key: enough to look it up."""
    return linkage_key[:_KEY_CHARS] + ("…" if len(linkage_key) > _KEY_CHARS else "")


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


_RULE_PART_KINDS = ("grants", "restrictions", "vetoes", "refusals")


def _rule_parts(rules: Any) -> dict[str, tuple[str, ...]]:
    parts: dict[str, list[str]] = {}
    for kind in _RULE_PART_KINDS:
        entries = _get(rules, kind) if isinstance(rules, Mapping) else None
        for name, entry in entries.items() if isinstance(entries, Mapping) else ():
            ids = entry.get("rule_ids") if isinstance(entry, Mapping) else None
            for rule_id in ids if isinstance(ids, list) else ():
                parts.setdefault(str(rule_id), []).append(str(name))
    return {rule_id: tuple(sorted(names)) for rule_id, names in parts.items()}


def _rule_order(rule_id: str) -> tuple[int, str]:
    return (len(rule_id), rule_id)


@dataclass(frozen=True, slots=True)
class PolicyLabels:
    """The words a policy uses for its fields, roles, purposes, clauses and rules."""

    fields: Mapping[str, str]
    roles: Mapping[str, str]
    purposes: Mapping[str, str]
    clauses: Mapping[str, str]
    rules: Mapping[str, str]
    notice_types: Mapping[str, str]
    subscribers: Mapping[str, Mapping[str, Any]]
    rule_parts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Rule id -> the named grants, restrictions, vetoes and refusals in rules/data.json
    that report it (a decision names only the rule ids, not these parts)."""
    parts: Mapping[RulePart, PartEntry] = field(default_factory=dict)
    """Every named part of rules/data.json, with its rule ids and reason."""

    @staticmethod
    def from_data(data: Mapping[str, Any]) -> PolicyLabels:
        """From the policy's merged data document (`data` with the `safehub` root)."""
        notice_types = _get(data, "safehub", "isa", "notice_types")
        subscribers = _get(data, "safehub", "subscribers")
        return PolicyLabels(
            fields=_strings(_get(data, "safehub", "fields", "labels")),
            roles=_strings(_get(data, "safehub", "isa", "roles")),
            purposes=_strings(_get(data, "safehub", "isa", "purposes")),
            clauses=_strings(_get(data, "safehub", "isa", "clauses")),
            rules=_strings(_get(data, "safehub", "isa", "rules")),
            notice_types={
                str(k): str(v.get("label", k))
                for k, v in (notice_types.items() if isinstance(notice_types, Mapping) else ())
                if isinstance(v, Mapping)
            },
            subscribers=dict(subscribers) if isinstance(subscribers, Mapping) else {},
            rule_parts=_rule_parts(_get(data, "safehub", "rules")),
            parts=part_entries(_get(data, "safehub", "rules")),
        )

    def field(self, path: str) -> str:
        return self.fields.get(path, path)

    def subscriber(self, subscriber_id: str) -> str:
        entry = self.subscribers.get(subscriber_id) or {}
        role = self.roles.get(str(entry.get("role")), str(entry.get("role", "")))
        contact = entry.get("contact")
        label = f"{subscriber_id}: {role}" if role else subscriber_id
        return f"{label} ({contact})" if contact else label


def _wrap(label: str, text: str, indent: int = 2, label_width: int = 15) -> list[str]:
    first = " " * indent + f"{label:<{label_width}}"
    rest = " " * len(first)
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def _field_list(paths: Iterable[str], labels: PolicyLabels) -> str:
    words = [labels.field(p) for p in sorted(paths)]
    return "; ".join(words) if words else "none"


def _basis_lines(decision: SharingDecision) -> list[str]:
    basis = decision.lawful_basis
    if not decision.discloses:
        return _wrap("Lawful basis:", basis.article6)  # "none: nothing disclosed"
    parts = [basis.article6]
    if basis.special_category_condition:
        parts.append(basis.special_category_condition)
    if basis.dpa_part3:
        parts.append(basis.dpa_part3)
    parts.append(f"statutory gateway: {basis.statutory_gateway}")
    lines: list[str] = []
    for number, part in enumerate(parts):
        lines += _wrap("Lawful basis:" if number == 0 else "", part)
    return lines


def _decision_lines(
    subscriber_id: str,
    decision: SharingDecision | None,
    notice: Mapping[str, Any],
    labels: PolicyLabels,
) -> list[str]:
    lines = [labels.subscriber(subscriber_id)]
    if decision is None:
        return [
            *lines,
            "  The policy's answer is not a valid decision: the gateway would refuse it,",
            "  so nothing would be shared (fail closed).",
        ]
    shared = sorted(set(decision.permitted_fields) & present_paths(notice))
    withheld = withheld_paths(notice, decision.permitted_fields)
    purpose = labels.purposes.get(decision.purpose)
    clause = labels.clauses.get(decision.isa_clause or "")
    outcome = decision.outcome.value
    lines += _wrap("Decision:", f"{outcome}: {OUTCOME_WORDS[outcome]}")
    lines += _wrap("Why:", decision.explanation)
    lines += _wrap("Rules:", ", ".join(decision.rule_ids))
    lines += _wrap("Purpose:", f"{decision.purpose}: {purpose}" if purpose else decision.purpose)
    lines += _basis_lines(decision)
    if decision.isa_clause:
        lines += _wrap("ISA clause:", f"{decision.isa_clause} {clause or ''}".strip())
    lines += _wrap(f"Shared ({len(shared)}):", _field_list(shared, labels))
    lines += _wrap(f"Withheld ({len(withheld)}):", _field_list(withheld, labels))
    return lines


def render_decisions(
    notice: Mapping[str, Any],
    result: Any,
    *,
    labels: PolicyLabels,
    policy: str,
    read_from: str,
    subscriber: str | None = None,
) -> list[str]:
    """The decision for each subscriber (or one), as an IG officer reads it."""
    notice_type = str(notice.get("notice_type"))
    type_label = labels.notice_types.get(notice_type, "unknown type")
    sender = f"{_get(notice, 'source', 'agency')} ({_get(notice, 'source', 'organisation_code')})"
    lines = [
        f"Notice {notice.get('notice_id')}",
        *_wrap("Type:", f"{notice_type} ({type_label})"),
        *_wrap("From:", f"{sender}, created {notice.get('created_at')}"),
        *_wrap("Child:", f"linkage key {_get(notice, 'subject', 'linkage_key')}"),
        *_wrap("Read from:", read_from),
        *_wrap("Policy:", policy),
        "",
    ]
    decisions = read_decisions(result)
    chosen = [subscriber] if subscriber else sorted(decisions)
    fired: set[str] = set()
    for subscriber_id in chosen:
        if subscriber_id not in decisions:
            lines += [f"{subscriber_id}: not a subscriber of this policy", ""]
            continue
        decision = decisions[subscriber_id]
        lines += [*_decision_lines(subscriber_id, decision, notice, labels), ""]
        if decision is not None:
            fired.update(decision.rule_ids)
    if fired:
        lines.append("The rules named above:")
        for rule in sorted(fired, key=lambda r: (len(r), r)):
            lines += _wrap(
                f"{rule}", labels.rules.get(rule, "(no summary in isa/data.json)"), label_width=5
            )
    return lines


def _examples(title: str, refs: Sequence[NoticeRef]) -> list[str]:
    return [
        f"      {title} notice {ref.notice_id} ({ref.notice_type}), "
        f"child {short_key(ref.linkage_key)}"
        for ref in refs
    ]


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {count:,}" for key, count in sorted(counter.items()))


def _field_rows(title: str, counter: Mapping[str, int], labels: PolicyLabels) -> list[str]:
    if not counter:
        return [f"  {title}: none"]
    rows = [f"  {title} (in how many notices):"]
    width = max(len(path) for path in counter)
    for path, count in sorted(counter.items(), key=lambda item: (-item[1], item[0])):
        label = labels.field(path)
        rows.append(f"    {count:>7,}  {path:<{width}}  {label if label != path else ''}".rstrip())
    return rows


def _subscriber_section(entry: SubscriberDiff, labels: PolicyLabels) -> list[str]:
    lines = [labels.subscriber(entry.subscriber_id)]
    if not entry.in_current:
        lines.append("  A new subscriber: it is not in the current policy.")
    if not entry.in_candidate:
        lines.append("  Removed: the candidate policy no longer has this subscriber.")
    shared = sum(entry.newly_shared.values())
    withheld = sum(entry.newly_withheld.values())
    lines.append(
        f"  Notices newly shared: {shared:,}"
        + (f" ({_counts(entry.newly_shared)})" if shared else "")
    )
    lines += _examples("e.g.", entry.examples_shared)
    lines.append(
        f"  Notices newly withheld: {withheld:,}"
        + (f" ({_counts(entry.newly_withheld)})" if withheld else "")
    )
    lines += _examples("e.g.", entry.examples_withheld)
    if entry.outcome_changes:
        lines.append("  Outcome changes:")
        for (before, after), count in sorted(entry.outcome_changes.items()):
            lines.append(f"    {count:>7,}  {before} -> {after}")
    else:
        lines.append("  Outcome changes: none")
    lines += _field_rows("Fields newly shared", entry.fields_shared, labels)
    lines += _field_rows("Fields newly withheld", entry.fields_withheld, labels)
    if entry.other_changes:
        lines += _wrap("Also changed:", f"{_counts(entry.other_changes)} (in how many notices)")
    if entry.examples_changed:
        lines.append("  Notices whose decision changed in another way, e.g.:")
        lines += _examples("", entry.examples_changed)
    return lines


def render_diff(
    diff: SimulationDiff,
    *,
    labels: PolicyLabels,
    header: Sequence[tuple[str, str]],
    parts_fired: Iterable[RulePart] | None = None,
    parts_unanswered: Sequence[str] = (),
) -> list[str]:
    """The simulation diff: a header (label, text), the totals, then each affected
    subscriber, then the subscribers for whom nothing changes, then what the input never
    exercised (rules, and with `parts_fired` the named parts of the rules)."""
    lines = ["Simulation: current policy against a candidate policy", ""]
    for label, text in header:
        lines += _wrap(f"{label}:", text, indent=0, label_width=20)
    lines += _wrap("Notices by type:", _counts(diff.by_type) or "none", indent=0, label_width=20)
    share = f" ({diff.notices_changed / diff.notices:.1%})" if diff.notices else ""
    lines += [
        "",
        f"Result: {diff.notices_changed:,} of {diff.notices:,} notices{share} would be decided "
        f"differently, for {len(diff.affected)} of {len(diff.subscribers)} subscribers.",
    ]
    for entry in diff.affected:
        lines += ["", *_subscriber_section(entry, labels)]
    unchanged = [s.subscriber_id for s in diff.subscribers if not s.changed]
    if unchanged:
        lines += ["", *_wrap("No change for:", ", ".join(unchanged), indent=0)]
    return (
        lines
        + render_unexercised(diff.rules_fired, labels=labels)
        + render_unapplied_parts(parts_fired, labels=labels, unanswered=parts_unanswered)
    )


def render_unexercised(fired: Iterable[str], *, labels: PolicyLabels) -> list[str]:
    """A warning naming every rule no notice of the input made fire under either policy.

    A replay can only show changes to rules its notices reach: a week with no MASH decision
    says "no change" for R2's routing however it was edited.
    """
    known = set(labels.rules) | set(labels.rule_parts)
    missing = sorted(known - set(fired), key=_rule_order)
    if not missing:
        return []
    warning = (
        f"Warning: not exercised by this input: {len(missing)} of {len(known)} rules. No notice "
        "made these fire under either policy, so 'no change' says nothing about them:"
    )
    lines = ["", *textwrap.wrap(warning, width=_WIDTH)]
    for rule_id in missing:
        summary = labels.rules.get(rule_id, "(no summary in isa/data.json)")
        parts = labels.rule_parts.get(rule_id)
        text = f"{summary} [rules/data.json: {', '.join(parts)}]" if parts else summary
        lines += _wrap(rule_id, text, label_width=5)
    return lines


_PART_WORDS = {
    "grants": "grant",
    "restrictions": "restriction",
    "vetoes": "veto",
    "refusals": "refusal",
}


def _part_order(item: tuple[RulePart, PartEntry]) -> tuple[tuple[int, str], str, str]:
    part, entry = item
    first = min(entry.rule_ids, key=_rule_order) if entry.rule_ids else "~"
    return _rule_order(first), part.kind, part.name


def render_unapplied_parts(
    fired: Iterable[RulePart] | None,
    *,
    labels: PolicyLabels,
    unanswered: Sequence[str] = (),
) -> list[str]:
    """A warning naming every grant, restriction, veto and refusal of rules/data.json that
    no notice of the input made apply, under either policy, with its rule ids and reason.

    Finer than the rules: R5 fires on every police intelligence notice, but its restriction
    `police_confidential_account` only on an account marked police-confidential, so a week
    with none says "no change" for it however it was edited. `fired` None: neither policy
    could say (both older than the `rule_parts` entrypoint); `unanswered` names a policy
    that could not.
    """
    if fired is None:
        return [
            "",
            *textwrap.wrap(
                "Note: neither policy can say which grants, restrictions, vetoes and refusals "
                "the input applied (both are older than the rule_parts entrypoint).",
                width=_WIDTH,
            ),
        ]
    applied = set(fired)
    missing = sorted(
        ((part, entry) for part, entry in labels.parts.items() if part not in applied),
        key=_part_order,
    )
    lines: list[str] = []
    if unanswered:
        note = (
            f"Note: the {' and the '.join(unanswered)} policy cannot say which parts of the "
            "rules the input applied (older than the rule_parts entrypoint); the parts below "
            "are judged by the other policy alone."
        )
        lines += ["", *textwrap.wrap(note, width=_WIDTH)]
    if not missing:
        return lines
    warning = (
        f"Warning: never applied by this input: {len(missing)} of {len(labels.parts)} named "
        "parts of the rules (grants, restrictions, vetoes and refusals in rules/data.json). "
        "A rule can fire while one of its parts never applies, so 'no change' says nothing "
        "about these parts either:"
    )
    lines += ["", *textwrap.wrap(warning, width=_WIDTH)]
    for part, entry in missing:
        # A part with no rule id (a fail-closed check) is named by its kind and name alone.
        rules = ", ".join(sorted(entry.rule_ids, key=_rule_order))
        kind = _PART_WORDS[part.kind]
        named = f"{rules} {kind}" if rules else kind.capitalize()
        reason = entry.reason or "(no reason in rules/data.json)"
        text = f"{named} {part.name}: {reason}: never applied by this input"
        lines += textwrap.wrap(
            text,
            width=_WIDTH,
            initial_indent="  ",
            subsequent_indent="      ",
            break_on_hyphens=False,
        )
    return lines
