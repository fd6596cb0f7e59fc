"""Field paths: how a dot path into a notice's JSON form covers the paths beneath it.

The one rule the gateway's redaction and the IG ceilings share: a permitted path covers
itself and every path under it ("detail.cpis_flag" covers "detail.cpis_flag.plan_type").
And which paths of a notice hold information, at the granularity policies disclose them:
what the gateway records as withheld, and what the IG policy tools explain as shared or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CONTAINER_FIELDS",
    "holds_information",
    "is_permitted",
    "present_paths",
    "withheld_paths",
]

# Top-level records that are disclosed field by field; every other field goes whole.
CONTAINER_FIELDS = frozenset(
    {"source", "subject", "narrative", "risk", "consent", "family_informed", "detail"}
)


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


def holds_information(value: Any) -> bool:
    """False for what carries nothing to disclose: null, an empty list, an empty object."""
    return value is not None and value != [] and value != {}


def present_paths(notice: Mapping[str, Any]) -> frozenset[str]:
    """The paths at which this notice holds information, at disclosure granularity."""
    paths: set[str] = set()
    for key, value in notice.items():
        if key in CONTAINER_FIELDS and isinstance(value, Mapping):
            paths.update(f"{key}.{child}" for child, v in value.items() if holds_information(v))
        elif holds_information(value):
            paths.add(key)
    return frozenset(paths)


def withheld_paths(
    notice: Mapping[str, Any],
    permitted: Iterable[str],
    *,
    held: frozenset[str] | None = None,
) -> tuple[str, ...]:
    """Paths holding information that `permitted` does not cover (sorted). `held` is
    present_paths(notice) when the caller already has it."""
    allowed = permitted if isinstance(permitted, frozenset) else frozenset(permitted)
    held = present_paths(notice) if held is None else held
    # The same test as is_permitted, for every held path at once: a path permitted as it is
    # drops out of the set difference, one under a permitted path starts with "<that path>.".
    under = tuple(f"{path}." for path in allowed)
    return tuple(sorted(p for p in held - allowed if not p.startswith(under)))
