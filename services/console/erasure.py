"""Erasing a child from everything the console keeps (issue 18's crypto-shredding): every
stored feed projection (projection_store.py: the child's key, items, places and covers), the
agency checks ledger (research.py: the child's key and checks) and the screening ledger
(screening.py: the child's key, the amendment reasons sealed under it, the linkage key) and
the emergency access grants (break_glass.py: the grants' rows, sealed under the ledger key).
Each part deletes the child's data key in the same transaction as its rows and truncates the
write-ahead log after, so nothing about the child can be read back from the file, its log or
a backup of them. `ConsoleRuntime.erase_child` is the one place this is wired.

A child known by several linkage keys (the child index merged records) is erased key by key:
the caller names every key (ChildAliases.group).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ChildErased", "child_readable", "erase_child"]


@runtime_checkable
class _ErasesChild(Protocol):
    def erase_child(self, linkage_key: str) -> int: ...


@runtime_checkable
class _HoldsChild(Protocol):
    def holds_child(self, linkage_key: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class ChildErased:
    """What went: counts only (what they were is gone)."""

    feed_items: int
    research_checks: int
    decisions_blanked: int
    break_glass_grants: int = 0


def erase_child(
    linkage_key: str,
    *,
    projections: Iterable[object],
    research: _ErasesChild,
    screening: _ErasesChild,
    grants: _ErasesChild | None = None,
) -> ChildErased:
    """Erase the child known by `linkage_key` from every projection that keeps items (an
    in-memory projection keeps nothing at rest) and from both ledgers."""
    items = sum(p.erase_child(linkage_key) for p in projections if isinstance(p, _ErasesChild))
    return ChildErased(
        feed_items=items,
        research_checks=research.erase_child(linkage_key),
        decisions_blanked=screening.erase_child(linkage_key),
        break_glass_grants=0 if grants is None else grants.erase_child(linkage_key),
    )


def child_readable(
    linkage_key: str,
    *,
    projections: Iterable[object],
    research: _HoldsChild,
    screening: _HoldsChild,
    grants: _HoldsChild | None = None,
) -> bool:
    """Whether any store `erase_child` erases still keeps the child's wrapped data key or a
    row naming the child (the erasure job asks after erasing; false for a key never held)."""
    stores: list[object] = [*projections, research, screening, grants]
    return any(s.holds_child(linkage_key) for s in stores if isinstance(s, _HoldsChild))
