"""The named parts of the sharing rules a notice exercised: grants, restrictions, vetoes and
refusals (the keys of `data.safehub.rules.<kind>`), as the policy's `rule_parts` entrypoint
reports them. Pure.

A decision names only rule ids (R1..R15), which is too coarse to say what an input tested:
R5 fires on every police intelligence notice, while its police-confidential restriction
applies only to an account marked POLICE_CONFIDENTIAL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.hubkit.policy_contract import entrypoint_query

__all__ = [
    "RULE_PARTS_ENTRYPOINT",
    "RULE_PARTS_QUERY",
    "RULE_PART_KINDS",
    "PartEntry",
    "RulePart",
    "part_entries",
    "read_rule_parts",
]

RULE_PARTS_ENTRYPOINT = "safehub/sharing/rule_parts"
"""Input as for the decisions ({"notice": ..., "context": ...}): the names of the parts that
fired for any subscriber, by kind (policies/safehub/sharing/rule_parts.rego)."""
RULE_PARTS_QUERY = entrypoint_query(RULE_PARTS_ENTRYPOINT)

RulePartKind = Literal["grants", "restrictions", "vetoes", "refusals"]
RULE_PART_KINDS: tuple[RulePartKind, ...] = ("grants", "restrictions", "vetoes", "refusals")


@dataclass(frozen=True, slots=True, order=True)
class RulePart:
    """One named part of the rules, e.g. ("restrictions", "police_confidential_account")."""

    kind: RulePartKind
    name: str


def read_rule_parts(answer: Any) -> frozenset[RulePart]:
    """The parts one `rule_parts` answer names; anything not in that shape is ignored."""
    if not isinstance(answer, Mapping):
        return frozenset()
    parts: set[RulePart] = set()
    for kind in RULE_PART_KINDS:
        names = answer.get(kind)
        for name in names if isinstance(names, list) else ():
            if isinstance(name, str):
                parts.add(RulePart(kind, name))
    return frozenset(parts)


@dataclass(frozen=True, slots=True)
class PartEntry:
    """What `data.safehub.rules` says of one part: the rule ids it reports, and its reason."""

    rule_ids: tuple[str, ...]
    reason: str


def part_entries(rules: Any) -> dict[RulePart, PartEntry]:
    """Every part `data.safehub.rules` defines (its `grants`, `restrictions`, ...)."""
    entries: dict[RulePart, PartEntry] = {}
    for kind in RULE_PART_KINDS:
        defined = rules.get(kind) if isinstance(rules, Mapping) else None
        for name, entry in defined.items() if isinstance(defined, Mapping) else ():
            ids = entry.get("rule_ids") if isinstance(entry, Mapping) else None
            reason = entry.get("reason") if isinstance(entry, Mapping) else None
            entries[RulePart(kind, str(name))] = PartEntry(
                tuple(str(i) for i in ids) if isinstance(ids, list) else (),
                reason if isinstance(reason, str) else "",
            )
    return entries
