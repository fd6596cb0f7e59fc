"""Redaction: a subscriber's view holds exactly the permitted field paths, nothing else.

A path is a dot path into the notice's JSON form. A path naming an object or array carries
it whole. Withheld fields are absent from the view, never blanked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from services.hubkit.field_paths import (
    CONTAINER_FIELDS,
    holds_information,
    is_permitted,
    present_paths,
    withheld_paths,
)

# Which paths a notice holds, and which of them a decision withholds, are shared with the
# IG policy tools (services/hubkit/field_paths.py); they are exported here too because the
# gateway's records name them beside `redact`.
__all__ = ["CONTAINER_FIELDS", "is_permitted", "present_paths", "redact", "withheld_paths"]


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
            if not holds_information(source):
                continue
            target = view
            for part in parts[:-1]:
                child = target.get(part)
                if child is None:  # not setdefault: that builds a dict even when not needed
                    child = target[part] = {}
                target = child
            target[parts[-1]] = source
    return view
