"""Redaction: a subscriber's view holds exactly the permitted field paths, nothing else.

A path is a dot path into the notice's JSON form. A path naming an object or array carries
it whole. Withheld fields are absent from the view, never blanked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from services.hubkit.field_paths import is_permitted

__all__ = ["CONTAINER_FIELDS", "is_permitted", "present_paths", "redact", "withheld_paths"]

# Top-level records that are disclosed field by field; every other field goes whole.
CONTAINER_FIELDS = frozenset(
    {"source", "subject", "narrative", "risk", "consent", "family_informed", "detail"}
)


def _holds_information(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def present_paths(notice: Mapping[str, Any]) -> frozenset[str]:
    """The paths at which this notice holds information, at disclosure granularity."""
    paths: set[str] = set()
    for key, value in notice.items():
        if key in CONTAINER_FIELDS and isinstance(value, Mapping):
            paths.update(f"{key}.{child}" for child, v in value.items() if _holds_information(v))
        elif _holds_information(value):
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
    # The same test as is_permitted (hubkit.field_paths), for every held path at once: a
    # path permitted as it is drops out of the set difference, one under a permitted path
    # starts with "<that path>.".
    under = tuple(f"{path}." for path in allowed)
    return tuple(sorted(p for p in held - allowed if not p.startswith(under)))


@functools.lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[str, ...]:
    # The policy names the same few hundred paths for every notice.
    return tuple(path.split("."))


def redact(notice: Mapping[str, Any], permitted: Iterable[str]) -> dict[str, Any]:
    """Copy only the permitted paths of `notice` into a new view."""
    view: dict[str, Any] = {}
    for path in sorted(set(permitted)):
        parts = _parts(path)
        source: Any = notice
        for part in parts:
            # dict first: isinstance against the Mapping ABC alone is slow, and notices are
            # plain dicts.
            if not isinstance(source, (dict, Mapping)) or part not in source:
                break
            source = source[part]
        else:
            if not _holds_information(source):
                continue
            target = view
            for part in parts[:-1]:
                child = target.get(part)
                if child is None:  # not setdefault: that builds a dict even when not needed
                    child = target[part] = {}
                target = child
            target[parts[-1]] = source
    return view
