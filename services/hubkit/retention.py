"""Retention rules: how long each kind of record is kept, legal holds, and topic retention.

The information governance (IG) officer owns `policies/safehub/retention/data.json` (read its
"about"). Shared because several parts of the hub read it: the stack creates topics with the
retention it implies, the command line answers "when is this record due for review", and the
erasure job (later) will act only on what is due and not held.

Pure: loading reads one file, everything else is plain functions over the loaded data, with
the date passed in (`today`), never read from a clock. "Due" means due for a disposal review
by a person, never deletion by itself.

Anything malformed or unknown in the file raises `RetentionInvalid` with the file and the
place, so nothing applies a retention period nobody meant.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from services.hubkit.audit_trail import CHILD_KEY_FORM
from services.hubkit.errors import HubError
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_CHECKPOINT_TOPIC,
    AUDIT_TOPIC,
    BREAK_GLASS_TOPIC,
    DEADLETTER_TOPIC,
    LINKAGE_TOPIC,
    NOTICES_SEEN_TOPIC,
    Topology,
)

__all__ = [
    "KNOWN_STORES",
    "RETENTION_FILE",
    "Anchor",
    "BasisKind",
    "LegalHold",
    "OlderAtEnd",
    "Period",
    "RecordType",
    "RetentionInvalid",
    "RetentionRules",
    "ReviewAnswer",
    "TopicKind",
    "TopicRetention",
    "UnknownRecordType",
    "review_due",
    "topic_kind",
    "topic_retention",
]

RETENTION_FILE = "safehub/retention/data.json"

KNOWN_STORES: Mapping[str, str] = MappingProxyType(
    {
        "audit_index": "the audit service's index of the audit log",
        "console_projection": "the MASH console's store of feed items and chronologies",
        "child_index": "the child index's identities and demographics",
    }
)
"""The hub's own stores a record type may apply to (what a later erasure job acts on)."""

_E = TypeVar("_E", bound=StrEnum)

# retention.ms for "keep for good" (Kafka's own value for no time limit).
KEEP_FOREVER_MS = -1
_MS_PER_DAY = 24 * 60 * 60 * 1000


class RetentionInvalid(HubError):
    """The retention data file cannot be applied as written."""

    def __init__(self, file: str, reason: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(f"policies/{file}: {reason}")


class UnknownRecordType(HubError):
    """A record type the retention rules do not name (the message lists those they do)."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown record type {name!r}; valid record types: {', '.join(known)}")


class Anchor(StrEnum):
    """The event a retention clock starts from."""

    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    CASE_CLOSED = "CASE_CLOSED"
    RECORD_CREATED = "RECORD_CREATED"
    DATE_OF_DEATH = "DATE_OF_DEATH"

    @property
    def words(self) -> str:
        return _ANCHOR_WORDS[self]


_ANCHOR_WORDS = {
    Anchor.DATE_OF_BIRTH: "the date of birth",
    Anchor.CASE_CLOSED: "the date the case closed",
    Anchor.RECORD_CREATED: "the date the record was made",
    Anchor.DATE_OF_DEATH: "the date of death",
}


class BasisKind(StrEnum):
    STATUTORY = "STATUTORY"
    NATIONAL_CODE = "NATIONAL_CODE"
    LOCAL_POLICY = "LOCAL_POLICY"
    """This authority's own choice: shown as such, to be confirmed against its schedule."""


class TopicKind(StrEnum):
    NOTICES = "NOTICES"
    FEED = "FEED"
    AUDIT = "AUDIT"
    AUDIT_CHECKPOINTS = "AUDIT_CHECKPOINTS"
    DEADLETTER = "DEADLETTER"
    NOTICES_SEEN = "NOTICES_SEEN"
    LINKAGE = "LINKAGE"
    BREAK_GLASS = "BREAK_GLASS"


def _add_years(day: dt.date, years: int) -> dt.date:
    """`day` moved on by whole years; 29 February becomes 28 February in a common year (as
    audit_trail.retention_review_date does, so the earlier date: nothing is kept a day past
    its period because of a leap day)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True, slots=True)
class Period:
    years: int = 0
    days: int = 0

    def after(self, anchor: dt.date) -> dt.date:
        return _add_years(anchor, self.years) + dt.timedelta(days=self.days)

    def plain(self) -> str:
        parts = [
            f"{n} {unit}{'' if n == 1 else 's'}"
            for n, unit in ((self.years, "year"), (self.days, "day"))
            if n
        ]
        return " and ".join(parts) or "0 days"


@dataclass(frozen=True, slots=True)
class OlderAtEnd:
    """A longer period when the child was at least `age` when the service ended."""

    age: int
    period: Period


@dataclass(frozen=True, slots=True)
class RecordType:
    name: str
    label: str
    anchor: Anchor
    period: Period
    stores: tuple[str, ...]
    basis_kind: BasisKind
    legal_basis: str
    older_at_end: OlderAtEnd | None = None


@dataclass(frozen=True, slots=True)
class LegalHold:
    """Stops disposal of everything in its scope: one child (by pseudonymous key) or one
    record type. A hold whose review date has passed still holds until the IG officer
    removes it; it is then reported as overdue for review."""

    hold_id: str
    child_key: str | None
    record_type: str | None
    reason: str
    placed_by: str
    placed_at: dt.date
    review_by: dt.date

    def covers(self, record_type: str, child_key: str | None) -> bool:
        if self.record_type is not None:
            return self.record_type == record_type
        return child_key is not None and self.child_key == child_key


@dataclass(frozen=True, slots=True)
class TopicRetention:
    kind: TopicKind
    retention_ms: int | None
    """None for a compacted topic (retention.ms does not apply); -1 keeps for good."""
    compact: bool
    why: str

    def kafka_config(self) -> dict[str, str]:
        """The topic settings this implies, as kafka-configs / CreateTopics take them.

        The cleanup policy is always named, even Kafka's default `delete`, so that rules which
        contradict a topic the topology compacts are caught rather than silently merged."""
        if self.compact:
            return {"cleanup.policy": "compact"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}

    def plain(self) -> str:
        if self.compact:
            return "compacted: the latest record per key is kept for good"
        if self.retention_ms == KEEP_FOREVER_MS:
            return "kept for good"
        assert self.retention_ms is not None
        days, rest = divmod(self.retention_ms, _MS_PER_DAY)
        return f"deleted after {days} days" if not rest else f"deleted after {self.retention_ms} ms"


@dataclass(frozen=True, slots=True)
class ReviewAnswer:
    record_type: str
    due_on: dt.date
    """When the record is due for a disposal review (ignoring holds)."""
    is_due: bool
    """due_on has come and no hold covers the record."""
    held_by: tuple[LegalHold, ...]
    note: str
    """How the date was reached, in plain words (e.g. which period applied and why)."""


@dataclass(frozen=True, slots=True)
class RetentionRules:
    record_types: Mapping[str, RecordType]
    holds: tuple[LegalHold, ...]
    topics: Mapping[TopicKind, TopicRetention]

    @classmethod
    def load(cls, policies_dir: Path) -> RetentionRules:
        path = policies_dir / RETENTION_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise RetentionInvalid(RETENTION_FILE, f"missing (looked in {policies_dir})") from error
        except json.JSONDecodeError as error:
            raise RetentionInvalid(RETENTION_FILE, f"not valid JSON ({error})") from error
        return cls.from_data(raw)

    @classmethod
    def from_data(cls, raw: Any) -> RetentionRules:
        obj = _object(raw, "the file")
        types = {
            name: _record_type(name, entry)
            for name, entry in _object(obj.get("record_types"), "'record_types'").items()
        }
        if not types:
            raise RetentionInvalid(RETENTION_FILE, "'record_types' names no record type")
        holds_raw = obj.get("legal_holds", [])
        if not isinstance(holds_raw, list):
            raise RetentionInvalid(RETENTION_FILE, "'legal_holds' must be a list")
        holds = tuple(_hold(i, entry, types) for i, entry in enumerate(holds_raw))
        ids = [h.hold_id for h in holds]
        if len(set(ids)) != len(ids):
            raise RetentionInvalid(RETENTION_FILE, "'legal_holds' repeats a hold id")
        topics_raw = _object(obj.get("topics"), "'topics'")
        topics: dict[TopicKind, TopicRetention] = {}
        for kind in TopicKind:
            if kind.value not in topics_raw:
                raise RetentionInvalid(RETENTION_FILE, f"'topics' has no entry for {kind.value}")
            topics[kind] = _topic(kind, topics_raw[kind.value])
        extra = set(topics_raw) - {k.value for k in TopicKind}
        if extra:
            raise RetentionInvalid(
                RETENTION_FILE,
                f"'topics' names unknown kinds {sorted(extra)}; "
                f"valid kinds: {', '.join(k.value for k in TopicKind)}",
            )
        return cls(MappingProxyType(types), holds, MappingProxyType(topics))

    def record_type(self, name: str) -> RecordType:
        try:
            return self.record_types[name]
        except KeyError:
            raise UnknownRecordType(name, tuple(sorted(self.record_types))) from None


# --- validation ---------------------------------------------------------------------------


def _fail(reason: str) -> RetentionInvalid:
    return RetentionInvalid(RETENTION_FILE, reason)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{where} must be an object")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{where} must be a non-empty string")
    return value


def _count(value: Any, where: str) -> int:
    # bool is an int in Python; `true` years is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(f"{where} must be a whole number, 0 or more")
    return value


def _choice(enum: type[_E], value: Any, where: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(e.value for e in enum)
        raise _fail(f"{where} is {value!r}; valid values: {valid}") from None


def _period(value: Any, where: str) -> Period:
    raw = _object(value, where)
    unknown = set(raw) - {"years", "days"}
    if unknown:
        raise _fail(f"{where} has unknown keys {sorted(unknown)}; a period has years and days")
    period = Period(
        years=_count(raw.get("years", 0), f"{where}.years"),
        days=_count(raw.get("days", 0), f"{where}.days"),
    )
    if period == Period():
        raise _fail(f"{where} is zero: give years or days")
    return period


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_text(value, where))
    except ValueError:
        raise _fail(f"{where} is {value!r}; write dates as YYYY-MM-DD") from None


def _record_type(name: str, value: Any) -> RecordType:
    where = f"'record_types.{name}'"
    raw = _object(value, where)
    stores_raw = raw.get("stores")
    if not isinstance(stores_raw, list) or not stores_raw:
        raise _fail(f"{where}.stores must be a non-empty list")
    for store in stores_raw:
        if store not in KNOWN_STORES:
            raise _fail(f"{where}.stores names {store!r}; valid stores: {', '.join(KNOWN_STORES)}")
    older = None
    if "older_at_end" in raw:
        older_raw = _object(raw["older_at_end"], f"{where}.older_at_end")
        older = OlderAtEnd(
            age=_count(older_raw.get("age"), f"{where}.older_at_end.age"),
            period=_period(older_raw.get("period"), f"{where}.older_at_end.period"),
        )
    return RecordType(
        name=name,
        label=_text(raw.get("label"), f"{where}.label"),
        anchor=_choice(Anchor, raw.get("anchor"), f"{where}.anchor"),
        period=_period(raw.get("period"), f"{where}.period"),
        stores=tuple(stores_raw),
        basis_kind=_choice(BasisKind, raw.get("basis_kind"), f"{where}.basis_kind"),
        legal_basis=_text(raw.get("legal_basis"), f"{where}.legal_basis"),
        older_at_end=older,
    )


def _hold(index: int, value: Any, types: Mapping[str, RecordType]) -> LegalHold:
    where = f"'legal_holds[{index}]'"
    raw = _object(value, where)
    scope = _object(raw.get("scope"), f"{where}.scope")
    if set(scope) not in ({"child_key"}, {"record_type"}):
        raise _fail(f"{where}.scope must name exactly one of child_key or record_type")
    child_key = scope.get("child_key")
    if child_key is not None and not (
        isinstance(child_key, str) and CHILD_KEY_FORM.fullmatch(child_key)
    ):
        raise _fail(f"{where}.scope.child_key is not a pseudonymous child key (64 hex)")
    record_type = scope.get("record_type")
    if record_type is not None and record_type not in types:
        raise _fail(
            f"{where}.scope.record_type is {record_type!r}; valid record types: "
            f"{', '.join(sorted(types))}"
        )
    placed_at = _date(raw.get("placed_at"), f"{where}.placed_at")
    review_by = _date(raw.get("review_by"), f"{where}.review_by")
    if review_by < placed_at:
        raise _fail(f"{where}.review_by is before placed_at")
    return LegalHold(
        hold_id=_text(raw.get("id"), f"{where}.id"),
        child_key=child_key,
        record_type=record_type,
        reason=_text(raw.get("reason"), f"{where}.reason"),
        placed_by=_text(raw.get("placed_by"), f"{where}.placed_by"),
        placed_at=placed_at,
        review_by=review_by,
    )


def _topic(kind: TopicKind, value: Any) -> TopicRetention:
    where = f"'topics.{kind.value}'"
    raw = _object(value, where)
    why = _text(raw.get("why"), f"{where}.why")
    policy = raw.get("cleanup_policy", "delete")
    if policy not in ("delete", "compact"):
        raise _fail(f"{where}.cleanup_policy is {policy!r}; valid values: delete, compact")
    if policy == "compact":
        if "retention_ms" in raw:
            raise _fail(f"{where} is compacted: retention_ms does not apply, leave it out")
        return TopicRetention(kind, None, compact=True, why=why)
    ms = raw.get("retention_ms")
    if (
        not isinstance(ms, int)
        or isinstance(ms, bool)
        or (ms != KEEP_FOREVER_MS and ms < _MS_PER_DAY)
    ):
        raise _fail(
            f"{where}.retention_ms must be -1 (keep for good) or at least one day "
            f"({_MS_PER_DAY} ms)"
        )
    return TopicRetention(kind, ms, compact=False, why=why)


# --- answers ------------------------------------------------------------------------------


def review_due(
    record_type: RecordType,
    anchor_date: dt.date,
    *,
    holds: tuple[LegalHold, ...],
    today: dt.date,
    child_key: str | None = None,
    age_at_end: int | None = None,
) -> ReviewAnswer:
    """When a record of `record_type` whose clock started on `anchor_date` is due for a
    disposal review, and whether it is due `today`.

    A legal hold that covers the record (its type, or its child's key) wins over any date.
    For a type with a longer period when the child was older when the service ended
    (children's health records: 26th birthday if 17 at the end of treatment), an unknown
    `age_at_end` takes the longer period: a review can wait a year, a disposal cannot be undone.
    """
    anchor = record_type.anchor.words
    period, note = record_type.period, f"{record_type.period.plain()} after {anchor}"
    older = record_type.older_at_end
    if older is not None:
        if age_at_end is None:
            period = older.period
            note = (
                f"{period.plain()} after {anchor}, the longer period: the age when the service "
                f"ended was not given, and {record_type.period.plain()} applies only under "
                f"{older.age}"
            )
        elif age_at_end >= older.age:
            period = older.period
            note = f"{period.plain()} after {anchor}: aged {older.age} or more when it ended"
    due_on = period.after(anchor_date)
    held = tuple(h for h in holds if h.covers(record_type.name, child_key))
    return ReviewAnswer(
        record_type=record_type.name,
        due_on=due_on,
        is_due=due_on <= today and not held,
        held_by=held,
        note=note,
    )


_AUDIT_TOPICS = frozenset({AUDIT_TOPIC, AUDIT_ACCESS_TOPIC})


def topic_kind(topic: str, topology: Topology) -> TopicKind:
    if topic in _AUDIT_TOPICS:
        return TopicKind.AUDIT
    if topic == AUDIT_CHECKPOINT_TOPIC:
        return TopicKind.AUDIT_CHECKPOINTS
    if topic == DEADLETTER_TOPIC:
        return TopicKind.DEADLETTER
    if topic == NOTICES_SEEN_TOPIC:
        return TopicKind.NOTICES_SEEN
    if topic == LINKAGE_TOPIC:
        return TopicKind.LINKAGE
    if topic == BREAK_GLASS_TOPIC:
        return TopicKind.BREAK_GLASS
    if topic in topology.notice_topics:
        return TopicKind.NOTICES
    if topic in {s.feed_topic for s in topology.subscribers}:
        return TopicKind.FEED
    raise KeyError(f"unknown topic {topic!r}; topics come from the policy bundle's data files")


def topic_retention(topic: str, topology: Topology, rules: RetentionRules) -> TopicRetention:
    """The retention `topic` gets under the rules (KeyError for a topic not in the topology)."""
    return rules.topics[topic_kind(topic, topology)]
