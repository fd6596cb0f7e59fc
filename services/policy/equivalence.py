"""Grouping notices the policies cannot tell apart, so a simulation evaluates each group once.

Why: OPA needs about 4-5 ms of CPU to decide one notice for every subscriber with these
rules, so replaying 100,000 notices through two policies one by one would take over ten
minutes on two cores. Most of a notice never reaches a decision except as "present or not":
names, identifiers, free text and times. Notices that differ only there get the same
decisions, and a simulation only needs to evaluate one of them.

The grouping key of a notice is its JSON with every leaf abstracted, unless the policies
could act on the exact value:
- a value under a field name the Rego code of either policy names (`notice.detail.kind`,
  `"kind"`) is kept when it is a boolean; when it is a string that appears anywhere in
  either policy (a literal in the Rego, or a key or value in the data); and when it is a
  number either policy mentions. Another number under such a name becomes the interval
  between the mentioned numbers around it: ages 11 and 15 are alike to a rule that only
  compares ages with 4 and 16;
- any other string becomes a placeholder that keeps only whether it is empty and which
  other strings of the same notice it equals; other numbers and booleans become a constant
  of their type. Nulls, empty lists and the shape of records and lists are always kept, so
  every notice in a group holds the same fields.

This is an assumption about the rules (they compare names, identifiers, text and times
only for equality, or test their presence, and compare numbers with the numbers they
mention rather than compute with them), not a proof. `services.policy.simulation`
therefore re-evaluates a sample of group members exactly and falls back to evaluating
every notice when any of them decides differently from its group. Pure functions.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.hubkit.notice import to_json_value

__all__ = [
    "NoticeGroup",
    "PolicyVocabulary",
    "equivalence_key",
    "group_notices",
    "rego_vocabulary",
    "sample_members",
]


@dataclass(frozen=True, slots=True)
class PolicyVocabulary:
    strings: frozenset[str]
    """Every string a policy could compare a notice value with."""
    keys: frozenset[str]
    """Every field name the Rego code could read a value through."""
    numbers: tuple[float, ...] = ()
    """Every number the policy mentions (code and data), sorted."""

    def union(self, other: PolicyVocabulary) -> PolicyVocabulary:
        return PolicyVocabulary(
            self.strings | other.strings,
            self.keys | other.keys,
            tuple(sorted(set(self.numbers) | set(other.numbers))),
        )


def _scan_rego(text: str) -> tuple[set[str], set[str], set[float]]:
    """(string literals, identifiers after a dot, number literals) in Rego source, comments
    skipped. Over-reading is harmless (it only makes groups smaller); missing one is not."""
    literals: set[str] = set()
    dotted: set[str] = set()
    numbers: set[float] = set()
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif char == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            raw = text[i : j + 1]
            try:
                literals.add(json.loads(raw))
            except ValueError:
                literals.add(raw.strip('"'))
            i = j + 1
        elif char == "`":
            end = text.find("`", i + 1)
            end = n if end < 0 else end
            literals.add(text[i + 1 : end])
            i = end + 1
        elif char == "." and i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == "_"):
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            dotted.add(text[i + 1 : j])
            i = j
        elif char.isalpha() or char == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            i = j  # an identifier such as R15: its digits are not a number
        elif char.isdigit():
            j = i + 1
            while j < n and (text[j].isdigit() or text[j] in ".eE"):
                j += 1
            try:
                value = float(text[i:j].rstrip("."))
            except ValueError:
                value = None
            if value is not None:
                numbers.update((value, -value))  # a minus sign is a separate token
            i = j
        else:
            i += 1
    return literals, dotted, numbers


def _data_values(value: Any, strings: set[str], numbers: set[float]) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            strings.add(str(key))
            _data_values(child, strings, numbers)
    elif isinstance(value, list):
        for child in value:
            _data_values(child, strings, numbers)
    elif isinstance(value, str):
        strings.add(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        numbers.add(float(value))


def rego_vocabulary(rego_sources: Iterable[str], data: Any) -> PolicyVocabulary:
    """What one policy (its Rego sources and merged data document) could act on."""
    strings: set[str] = set()
    keys: set[str] = set()
    numbers: set[float] = set()
    for source in rego_sources:
        literals, dotted, found = _scan_rego(source)
        strings |= literals
        # A literal may be a field name too: object.get(notice.detail, "kind", null).
        keys |= literals | dotted
        numbers |= found
    _data_values(data, strings, numbers)
    return PolicyVocabulary(frozenset(strings), frozenset(keys), tuple(sorted(numbers)))


def _abstract(value: Any, key: str | None, vocab: PolicyVocabulary, seen: dict[Any, Any]) -> Any:
    # Hashable and cheap (this runs on every notice): tuples tagged by kind, so a record, a
    # list, a kept number and a placeholder never compare equal to one another (and True
    # never equals 1). Checks are ordered by how often each kind occurs in a notice.
    kind = type(value)
    if kind is str:
        if value == "" or (value in vocab.strings and key in vocab.keys):
            return value
        return _placeholder(value, seen)
    if kind is dict:
        return ("{", *[(k, _abstract(v, k, vocab, seen)) for k, v in value.items()])
    if value is None:
        return None
    named = key in vocab.keys
    if kind is bool:
        return ("b", value if named else True)
    if kind is int or kind is float:
        if not named:
            return ("n", 0)
        # A number the policies mention is kept; any other becomes the interval between the
        # two mentioned numbers around it, so every comparison with a mentioned number (such
        # as an age limit) comes out the same for every notice in the group.
        position = bisect.bisect_left(vocab.numbers, value)
        if position < len(vocab.numbers) and vocab.numbers[position] == value:
            return ("n", value)
        return ("n<", position)
    if kind is list or kind is tuple:
        return ("[", *[_abstract(v, key, vocab, seen) for v in value])
    if kind is dt.datetime or kind is dt.date or kind is uuid.UUID or kind is bytes:
        # Record form (fastavro): the policy sees these as text. Only a named field's text
        # can matter beyond equality, and converting only those keeps grouping fast.
        if named:
            text = to_json_value(value)
            if text in vocab.strings:
                return text
        return _placeholder(str(value) if kind is uuid.UUID else value, seen)
    if isinstance(value, Mapping):
        return ("{", *[(k, _abstract(v, k, vocab, seen)) for k, v in value.items()])
    return ("?", repr(value))  # a type this module does not know: kept exactly


def _placeholder(value: Any, seen: dict[Any, Any]) -> Any:
    """The same placeholder for equal values within the notice, numbered by first sight."""
    token = seen.get(value)
    if token is None:
        token = seen[value] = ("#", len(seen))
    return token


def equivalence_key(notice: Mapping[str, Any], vocab: PolicyVocabulary) -> Hashable:
    """The grouping key of a notice (see the module doc).

    Works on the JSON form and on the record form fastavro reads (datetimes, UUIDs), so a
    large Avro file is grouped without first converting every notice to JSON.
    """
    key: Hashable = _abstract(notice, None, vocab, {})
    return key


@dataclass(frozen=True, slots=True)
class NoticeGroup:
    members: tuple[int, ...]
    """Indexes of the notices in the group, first seen first; members[0] is evaluated."""

    @property
    def representative(self) -> int:
        return self.members[0]


def group_notices(
    notices: Sequence[Mapping[str, Any]], vocab: PolicyVocabulary
) -> tuple[NoticeGroup, ...]:
    """Groups of notices with the same key, in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for index, notice in enumerate(notices):
        groups.setdefault(equivalence_key(notice, vocab), []).append(index)
    return tuple(NoticeGroup(tuple(members)) for members in groups.values())


def sample_members(
    groups: Sequence[NoticeGroup], size: int, *, seed: int
) -> tuple[tuple[int, int], ...]:
    """Up to `size` (group number, member) pairs to check exactly, each from another group.

    Only groups with more than one notice can hide a difference, and the member is never the
    representative (comparing it with itself proves nothing).
    """
    rng = random.Random(seed)
    candidates = [number for number, group in enumerate(groups) if len(group.members) > 1]
    rng.shuffle(candidates)
    return tuple((number, rng.choice(groups[number].members[1:])) for number in candidates[:size])
