"""Which linkage keys are one child: the child index's merges and splits, applied in order.

The child index announces every change on `childindex.linkage.v1` (LINKAGE_CHANGED,
schemas/avro/safehub.childindex.LinkageChanged.avsc): MERGE joins `other_keys` into
`child_key`'s child, SPLIT detaches them from it. The console replays the topic from the
beginning into `ChildAliases` and shows a child's chronology as the notices of every key in
the child's group. Notices keep the key they were published under: nothing delivered is
rewritten, the grouping is only how the console reads them.

The state is the set of links the merges made (key - key, undirected); a group is a set of
keys connected by links. So:
- MERGE(c, others) adds the links c - o: c's group and each o's group become one.
- SPLIT(c, others) removes the links c - o. That alone undoes the merge it names exactly
  (the keys it joined go back to the groups they were in). If a named key is still in c's
  group through other links (the index merged through several steps), the links between the
  named keys and the rest of the group are cut too: a split always detaches what it names,
  and the named keys stay together where links join them (the child that is split off keeps
  its own earlier merges).
- Each event applies once (by event_id): replaying the topic changes nothing.
- Every key is in exactly one group; a key no event has named is a group of its own.

The surviving key of a group (the key its child is shown under) is the key most recently
named as `child_key` by a merge that still stands in the group, as the index names it.

Pure state: no I/O, no clock. The Kafka loop (services/console/linkage_feed.py) feeds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["ChildAliases", "LinkageChange", "LinkageKind", "linkage_change_from_record"]


class LinkageKind(StrEnum):
    MERGE = "MERGE"
    SPLIT = "SPLIT"


@dataclass(frozen=True, slots=True)
class LinkageChange:
    event_id: str
    kind: LinkageKind
    child_key: str
    other_keys: tuple[str, ...]


def linkage_change_from_record(record: Mapping[str, Any]) -> LinkageChange:
    """A decoded LinkageChanged record; ValueError for one that names no keys to change."""
    child_key = str(record["child_key"])
    others = tuple(dict.fromkeys(str(k) for k in record["other_keys"] if str(k) != child_key))
    if not child_key or not others:
        raise ValueError("a linkage change names a child and at least one other key")
    return LinkageChange(
        event_id=str(uuid.UUID(str(record["event_id"]))),
        kind=LinkageKind(str(record["kind"])),
        child_key=child_key,
        other_keys=others,
    )


class ChildAliases:
    """key -> its group of keys (one child), from merges and splits applied in order."""

    def __init__(self) -> None:
        self._links: dict[str, set[str]] = {}
        self._group: dict[str, frozenset[str]] = {}
        """Keys in a group of more than one; any other key is a group of its own."""
        self._named_at: dict[str, int] = {}
        """When each key was last named as a merge's child_key (the order of applied events)."""
        self._seen: set[str] = set()
        self._applied = 0

    def __len__(self) -> int:
        """How many changes have been applied."""
        return self._applied

    def group_of(self, key: str) -> frozenset[str]:
        """Every key of `key`'s child, `key` included."""
        return self._group.get(key) or frozenset((key,))

    def surviving_key(self, key: str) -> str:
        """The key `key`'s child is shown under."""
        group = self._group.get(key)
        if group is None:
            return key
        return max(group, key=lambda k: (self._named_at.get(k, -1), k))

    def groups(self) -> set[frozenset[str]]:
        """Every group of more than one key."""
        return set(self._group.values())

    def apply(self, change: LinkageChange) -> frozenset[str]:
        """Apply one change; the keys whose group changed (none for a repeated event)."""
        if change.event_id in self._seen:
            return frozenset()
        self._seen.add(change.event_id)
        self._applied += 1
        touched = self.group_of(change.child_key).union(
            *(self.group_of(k) for k in change.other_keys)
        )
        before = {k: self.group_of(k) for k in touched}
        if change.kind is LinkageKind.MERGE:
            self._named_at[change.child_key] = self._applied
            for other in change.other_keys:
                self._link(change.child_key, other)
        else:
            self._split(change.child_key, change.other_keys)
        self._regroup(touched)
        return frozenset(k for k in touched if self.group_of(k) != before[k])

    def _link(self, a: str, b: str) -> None:
        self._links.setdefault(a, set()).add(b)
        self._links.setdefault(b, set()).add(a)

    def _unlink(self, a: str, b: str) -> None:
        self._links.get(a, set()).discard(b)
        self._links.get(b, set()).discard(a)

    def _split(self, child_key: str, others: tuple[str, ...]) -> None:
        for other in others:
            self._unlink(child_key, other)
        named = set(others)
        if not named & _connected(self._links, child_key):
            return
        # Still joined through other links: cut every link between the named keys and the
        # rest of the group, keeping the links among the named keys.
        for key in named:
            for neighbour in list(self._links.get(key, ())):
                if neighbour not in named:
                    self._unlink(key, neighbour)

    def _regroup(self, keys: frozenset[str]) -> None:
        """Recompute the groups of `keys` (every key a change could have touched)."""
        placed: set[str] = set()
        for key in keys:
            if key in placed:
                continue
            group = frozenset(_connected(self._links, key))
            placed |= group
            for member in group:
                if len(group) > 1:
                    self._group[member] = group
                else:
                    self._group.pop(member, None)
                    self._links.pop(member, None)


def _connected(links: Mapping[str, Iterable[str]], start: str) -> set[str]:
    found = {start}
    frontier = [start]
    while frontier:
        for neighbour in links.get(frontier.pop(), ()):
            if neighbour not in found:
                found.add(neighbour)
                frontier.append(neighbour)
    return found
