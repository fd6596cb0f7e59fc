"""Field paths: how a dot path into a notice's JSON form covers the paths beneath it.

The one rule the gateway's redaction and the IG ceilings share: a permitted path covers
itself and every path under it ("detail.cpis_flag" covers "detail.cpis_flag.plan_type").
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["is_permitted"]


def is_permitted(path: str, permitted: Iterable[str]) -> bool:
    """True when `path` is permitted itself or lies under a permitted path."""
    allowed = permitted if isinstance(permitted, frozenset | set) else frozenset(permitted)
    # `path` is covered by `p` iff p is `path` or one of its dot-separated ancestors.
    end = path.find(".")
    while end != -1:
        if path[:end] in allowed:
            return True
        end = path.find(".", end + 1)
    return path in allowed
