"""Which pseudonymous keys are one child: the child index's merges and splits, replayed. Pure.

The child index announces every change of linkage on `childindex.linkage.v1` (Avro
`safehub.childindex.LinkageChanged`, one partition, written by the index alone). The audit
service keeps that history (`AuditStore.append_linkage`, in topic order) so a subject access
request made with any one of a child's keys covers every key the child has.

What "the child's keys" means (the choice a subject access report rests on)
    A report is about the data subject. The keys of a child are the keys in its group after
    applying every change in order:

    - MERGE joins the groups of `other_keys` into the group of `child_key`: decisions made
      under any of them were about the same child, whenever they were made.
    - SPLIT detaches `other_keys` from the group of `child_key`. The detached keys stay one
      child together: the child index splits off one key with every key merged into it
      (`services/childindex/store.py` `_split` announces that whole subtree), so a key and the
      keys merged into it before are still one child afterwards. A split says the merge was
      wrong: a split-off key was never this child's, so its decisions are NOT in this child's
      report (and this child's are not in its report), even those made while they were
      merged. A key not in `child_key`'s group when the split arrives is left where it is;
      `child_key` itself is never detached from its own group.
    - A change seen again (same `event_id`, e.g. after a re-delivery) is applied once, where it
      was first seen.

    Groups are a partition of the keys: asking with any key of a group gives the same keys,
    and a key no change names is a group of one.

Third parties
    A change can name keys that are now another child's (a merge later split, a split's
    detached keys). Such keys belong to someone else: a report shows only how many there
    were, never the keys (`LinkageChangeView.other_references`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.audit.indexer import LogEntry, SourcePosition, entry_for_rejected, to_ms
from services.hubkit.audit_trail import ACTOR_FORM, RejectionReason, recorded_token
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import AuditRecordRejected, CodecError, UnexpectedSchema

__all__ = [
    "CHILD_KEY_FORM",
    "MODEL_DECIDER",
    "LinkageChangeKind",
    "LinkageChangeView",
    "LinkageChanged",
    "child_groups",
    "keys_of_child",
    "linkage_change_from_record",
    "linkage_history",
    "read_linkage_change",
]

CHILD_KEY_FORM = re.compile(r"[0-9a-f]{64}")
"""A child key as the child index issues it: 64 lowercase hex."""
MODEL_DECIDER = "childindex-model"
"""`decided_by` of a change the matching model made (not a person)."""


class LinkageChangeKind(StrEnum):
    MERGE = "MERGE"
    SPLIT = "SPLIT"


@dataclass(frozen=True, slots=True)
class LinkageChanged:
    """One LINKAGE_CHANGED event as the audit service keeps it."""

    event_id: str
    kind: LinkageChangeKind
    child_key: str
    other_keys: tuple[str, ...]
    decided_by: str
    """A staff user id, `MODEL_DECIDER`, or 'sha256:<hex>' of anything not of an id's form."""
    review_id: str | None
    match_probability: float | None
    occurred_at_ms: int
    source: SourcePosition | None = None
    """Where it was read (topic, partition, offset); the indexer resumes after the last."""

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the change names, `child_key` first."""
        return (self.child_key, *self.other_keys)


class _Invalid(ValueError):
    pass


def _key(value: Any, what: str) -> str:
    if not (isinstance(value, str) and CHILD_KEY_FORM.fullmatch(value)):
        # The value is not repeated: it may be anything the writer put there.
        raise _Invalid(f"{what} is not a child key (64 lowercase hex)")
    return value


def _event_id(value: Any) -> str:
    # The decoder gives a uuid logicalType as a UUID; a string is accepted in its canonical form.
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        canonical = str(uuid.UUID(str(value)))
    except ValueError:
        raise _Invalid("event_id is not a UUID") from None
    if canonical != value:
        raise _Invalid("event_id is not a UUID in its canonical form")
    return canonical


def linkage_change_from_record(
    record: Mapping[str, Any], *, source: SourcePosition | None = None
) -> LinkageChanged:
    """A decoded LinkageChanged record, checked. ValueError (naming the field, not its value)
    when a key is not of a child key's form, the event id not a UUID, or a field is missing."""
    try:
        kind = LinkageChangeKind(str(record["kind"]))
        child_key = _key(record["child_key"], "child_key")
        other_keys = tuple(
            _key(k, "an entry of other_keys") for k in (record.get("other_keys") or ())
        )
        decided_by = str(record["decided_by"])
        occurred_at_ms = to_ms(record["occurred_at"])
        event_id = _event_id(record["event_id"])
    except KeyError as missing:
        raise _Invalid(f"the record has no {missing.args[0]}") from None
    if occurred_at_ms is None:
        raise _Invalid("the record has no occurred_at")
    if not decided_by:
        raise _Invalid("decided_by is empty")
    review = record.get("review_id")
    probability = record.get("match_probability")
    return LinkageChanged(
        event_id=event_id,
        kind=kind,
        child_key=child_key,
        other_keys=other_keys,
        # An id of an id's form, else its digest: a report never repeats free text.
        decided_by=recorded_token(decided_by, ACTOR_FORM),
        review_id=None if review is None else recorded_token(str(review), ACTOR_FORM),
        match_probability=None if probability is None else float(probability),
        occurred_at_ms=occurred_at_ms,
        source=source,
    )


def read_linkage_change(
    catalog: SchemaCatalog, data: bytes, *, source: SourcePosition
) -> LinkageChanged | LogEntry:
    """A record read from the linkage topic: the change, or, when it is not a well-formed
    LinkageChanged, a REJECTED log entry (reason, position, digest; never its bytes), so
    nothing read is dropped and nothing malformed changes anyone's keys."""
    try:
        record = catalog.decode(data, MessageType.LINKAGE_CHANGED)
    except UnexpectedSchema:
        return _rejected(data, source, RejectionReason.WRONG_SCHEMA, "not a LinkageChanged")
    except CodecError:
        return _rejected(
            data, source, RejectionReason.MALFORMED_RECORD, "not a decodable LinkageChanged"
        )
    try:
        return linkage_change_from_record(record, source=source)
    except ValueError as error:
        return _rejected(data, source, RejectionReason.MALFORMED_RECORD, str(error))


def _rejected(
    data: bytes, source: SourcePosition, reason: RejectionReason, detail: str
) -> LogEntry:
    return entry_for_rejected(
        data=data, rejected=AuditRecordRejected(reason.value, detail), source=source
    )


def child_groups(changes: Iterable[LinkageChanged]) -> dict[str, frozenset[str]]:
    """Every key the changes name, mapped to its group (itself included) after applying the
    changes in order (see the module docstring)."""
    group: dict[str, set[str]] = {}

    def of(key: str) -> set[str]:
        found = group.get(key)
        if found is None:
            found = group[key] = {key}
        return found

    seen: set[str] = set()
    for change in changes:
        if change.event_id in seen:
            continue
        seen.add(change.event_id)
        target = of(change.child_key)
        if change.kind is LinkageChangeKind.MERGE:
            for key in change.other_keys:
                joining = of(key)
                if joining is target:
                    continue
                target |= joining
                for member in joining:
                    group[member] = target
        else:
            detached = {k for k in change.other_keys if k != change.child_key and of(k) is target}
            if detached:
                target -= detached
                for key in detached:
                    group[key] = detached
    return {key: frozenset(members) for key, members in group.items()}


def keys_of_child(changes: Iterable[LinkageChanged], key: str) -> frozenset[str]:
    """The keys of the child `key` is a key of, `key` included (a group of one if no change
    names it)."""
    return child_groups(changes).get(key, frozenset({key}))


@dataclass(frozen=True, slots=True)
class LinkageChangeView:
    """A change as one child's report shows it: only that child's keys, others counted."""

    change: LinkageChanged
    keys: tuple[str, ...]
    """The keys the change names that are this child's, in the order the change names them."""
    other_references: int
    """How many keys the change names that are another child's now (never shown)."""

    @property
    def occurred_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.change.occurred_at_ms / 1000, tz=dt.UTC)


def linkage_history(
    changes: Iterable[LinkageChanged], keys: Collection[str]
) -> list[LinkageChangeView]:
    """The changes that name any of `keys` (one child's keys), in order, each once."""
    mine = frozenset(keys)
    views: list[LinkageChangeView] = []
    seen: set[str] = set()
    for change in changes:
        if change.event_id in seen:
            continue
        seen.add(change.event_id)
        named = tuple(dict.fromkeys(change.keys))
        shown = tuple(k for k in named if k in mine)
        if shown:
            views.append(LinkageChangeView(change, shown, len(named) - len(shown)))
    return views
