"""How a pure mapping gets the child's linkage key without holding the linkage secret.

A mapping asks its context's `ChildKeys` (services/hubkit/linkage.py) for the key of the
identifiers it holds (see `mapping.build_subject`). The keys come from the child index
(services/childindex) over HTTP, which a pure function cannot call; so the edge maps each
record twice:

1. with `WantedKeys`, which only writes down the identifiers asked for (the notice built is
   thrown away; a record that fails validation fails here, before the index is asked). It
   never judges whether the identifiers are enough: the index decides that (a record with
   names and a date of birth but no postcode or NHS number may well be keyed), so every
   identifier the record holds is asked about;
2. the edge asks the index for those keys in one call (`ChildIndex`), then maps again with
   `ResolvedKeys`, which answers from the index's answers: the same record and the same
   answers always give the same notice.

Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from services.hubkit.linkage import ChildIdentifiers, ChildKeys, IdentifiersIncomplete

__all__ = [
    "ChildIndex",
    "KeysNotResolved",
    "ResolvedKeys",
    "WantedKeys",
]


class ChildIndex(Protocol):
    """Port to the child index: one key (None: identifiers incomplete) per identifiers, in
    order. Raises ChildIndexUnavailable when it cannot answer."""

    async def resolve(self, children: Sequence[ChildIdentifiers]) -> list[str | None]: ...


# What a first-pass notice carries instead of a key; that notice is never published.
_NOT_YET_KEYED = "not-yet-keyed"


class WantedKeys(ChildKeys):
    """First pass: records the identifiers the mapping asks about, each once, in order."""

    def __init__(self) -> None:
        self._wanted: dict[ChildIdentifiers, None] = {}

    @property
    def identifiers(self) -> list[ChildIdentifiers]:
        return list(self._wanted)

    def key(self, identifiers: ChildIdentifiers) -> str:
        self._wanted[identifiers] = None
        return _NOT_YET_KEYED


class ResolvedKeys(ChildKeys):
    """Second pass: the index's answers. Asking about identifiers that were not resolved is
    a defect (mapping is pure, so the second pass asks what the first did)."""

    def __init__(self, keys: Mapping[ChildIdentifiers, str | None]) -> None:
        self._keys = dict(keys)

    def key(self, identifiers: ChildIdentifiers) -> str:
        key = self._keys[identifiers]
        if key is None:
            raise IdentifiersIncomplete(
                "the child index has no key for these identifiers: give a valid NHS number, "
                "UPN or LA child id, or given name, family name and date of birth or postcode"
            )
        return key


class KeysNotResolved(ChildKeys):
    """The context a route sees outside `Ingest.keyed`: mapping with it is a defect."""

    def key(self, identifiers: ChildIdentifiers) -> str:
        raise RuntimeError("map records through Ingest.keyed: keys come from the child index")
