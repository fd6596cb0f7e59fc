"""What of a native record did not reach its notice (issue 21: nothing accepted and lost).

`lost_values` walks every leaf of the record as sent and looks for it in the notice: a
string in some string of the notice (case aside; a Bundle's clinical texts are joined one per
line), a date or time as the notice writes it (UTC), a boolean or number under the same name
(or the alias given). Leaves that are bookkeeping, or read only to link the child, are named
by the caller, each with the reason; everything else must arrive.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

from services.adapters.ingest.problems import json_pointer
from services.hubkit.notice import to_json_value


def _leaves(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield json_pointer(path), node


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T.+")
_UK_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")


def _as_time(text: str) -> str | None:
    """A date or a date-time as the notice writes it, or None when `text` is neither."""
    if _DATE.fullmatch(text):
        return text
    if _DATE_TIME.fullmatch(text):
        return str(to_json_value(dt.datetime.fromisoformat(text).astimezone(dt.UTC)))
    if match := _UK_DATE.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
        return dt.date(year, month, day).isoformat()
    return None


def _covers(rule: str, pointer: str) -> bool:
    return pointer.endswith(rule[1:]) if rule.startswith("*") else pointer == rule


def lost_values(
    native: Any,
    notice: Mapping[str, Any],
    *,
    not_carried: Mapping[str, str],
    aliases: Mapping[str, str] = {},
) -> list[str]:
    """Pointers into `native` whose value the notice does not carry. `not_carried` maps a
    pointer (or '*' and a pointer's ending) to why it is not expected in the notice."""
    carried = dict(_leaves(to_json_value(notice)))
    texts = [v.casefold() for v in carried.values() if isinstance(v, str)]
    lost: list[str] = []
    for pointer, value in _leaves(native):
        if value is None or value == "" or any(_covers(rule, pointer) for rule in not_carried):
            continue
        if isinstance(value, str):
            wanted = _as_time(value) or value
            if not any(wanted.casefold() in t for t in texts):
                lost.append(pointer)
            continue
        name = aliases.get(pointer, pointer.rsplit("/", 1)[-1])
        if not any(p.endswith("/" + name) and v == value for p, v in carried.items()):
            lost.append(pointer)
    return lost
