"""Synthetic linkage changes for the audit tests: six child keys, merges and splits, and a
hypothesis strategy for any history of them."""

from __future__ import annotations

import itertools
import uuid

from hypothesis import strategies as st

from services.audit.linkage import LinkageChanged, LinkageChangeKind

KEYS = tuple(f"{i:x}" * 64 for i in range(10, 16))  # six synthetic child keys: "aaa…", "bbb…"
A, B, C, D, E, F = KEYS
_ids = itertools.count(1)


def change(
    kind: LinkageChangeKind,
    child_key: str,
    *other_keys: str,
    event_id: str | None = None,
    decided_by: str = "mash-manager-1",
) -> LinkageChanged:
    n = next(_ids)
    return LinkageChanged(
        event_id=event_id or str(uuid.UUID(int=1_000_000 + n)),  # never one of _EVENT_IDS
        kind=kind,
        child_key=child_key,
        other_keys=other_keys,
        decided_by=decided_by,
        review_id=None,
        match_probability=None,
        occurred_at_ms=1_800_000_000_000 + n,
    )


def merge(child_key: str, *others: str, event_id: str | None = None) -> LinkageChanged:
    return change(LinkageChangeKind.MERGE, child_key, *others, event_id=event_id)


def split(child_key: str, *others: str, event_id: str | None = None) -> LinkageChanged:
    return change(LinkageChangeKind.SPLIT, child_key, *others, event_id=event_id)


_EVENT_IDS = [str(uuid.UUID(int=i)) for i in range(1, 9)]


@st.composite
def histories(draw: st.DrawFn, max_size: int = 25) -> list[LinkageChanged]:
    """Any sequence of merges and splits over six keys; event ids from a small pool, so some
    changes repeat an earlier id (a re-delivery is the same change; a reused id is too)."""
    out: list[LinkageChanged] = []
    by_id: dict[str, LinkageChanged] = {}
    for _ in range(draw(st.integers(0, max_size))):
        event_id = draw(st.sampled_from(_EVENT_IDS))
        if event_id in by_id and draw(st.booleans()):
            out.append(by_id[event_id])  # a re-delivery
            continue
        kind = draw(st.sampled_from(LinkageChangeKind))
        child_key = draw(st.sampled_from(KEYS))
        others = draw(st.lists(st.sampled_from(KEYS), max_size=3))
        made = change(kind, child_key, *others, event_id=event_id)
        by_id.setdefault(event_id, made)
        out.append(made)
    return out
