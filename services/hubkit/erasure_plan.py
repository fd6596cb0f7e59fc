"""The erasure job's pure core (issue 18): what is due under the retention rules, the review
file an IG officer reads and edits, and which entries they approved.

Three steps, three places:
1. the child index, which alone holds dates of birth, turns them into due dates
   (`birth_anchored_due`): only rows already due leave the index, each a child key, a record
   type and its due date, never the date of birth itself;
2. the job (`safehub erasure due`) makes the review from those rows (`plan_review`): legal
   holds drop what they cover (naming the hold), record types whose clock starts at an event
   the hub does not hold are listed as such and never guessed, and each entry starts
   `"approve": false`;
3. `safehub erasure run` performs only the approved entries (`approved_entries`).

Every store erases a whole child, not one record type: a child whose health record is due
may still have a looked-after case record kept to the 75th birthday in the same store. The
hub cannot tell which kinds of record a child has, so each entry warns which other record
types share its stores and are not due (or not known to the hub): the officer decides.

Pure: the date and the id maker are passed in; nothing reads a clock or a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.hubkit.audit_trail import CHILD_KEY_FORM
from services.hubkit.errors import HubError
from services.hubkit.retention import Anchor, RetentionRules, review_due

__all__ = [
    "ANCHORS_HELD",
    "NOT_KNOWN",
    "REVIEW_FORMAT",
    "DueRow",
    "HeldRow",
    "Review",
    "ReviewEntry",
    "ReviewInvalid",
    "UnknownAnchor",
    "approved_entries",
    "birth_anchored_due",
    "plan_review",
]

REVIEW_FORMAT = "safehub-erasure-review/1"

ANCHORS_HELD = frozenset({Anchor.DATE_OF_BIRTH})
"""The only clock start the hub holds for a child: the child index's date of birth."""

NOT_KNOWN = "not known to the hub: the case system must say"


class ReviewInvalid(HubError):
    """The review file cannot be acted on as written (the message names the place)."""


@dataclass(frozen=True, slots=True)
class DueRow:
    """One child's record type whose date has come (holds not yet applied)."""

    child_key: str
    record_type: str
    due_on: dt.date


@dataclass(frozen=True, slots=True)
class HeldRow:
    child_key: str
    record_type: str
    due_on: dt.date
    hold_id: str
    hold_reason: str


@dataclass(frozen=True, slots=True)
class UnknownAnchor:
    record_type: str
    anchor: str
    why: str


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    erasure_id: str
    child_key: str
    record_type: str
    label: str
    rule: str
    """How the due date was reached, e.g. '25 years after the date of birth'."""
    legal_basis: str
    due_on: dt.date
    stores: tuple[str, ...]
    warnings: tuple[str, ...]
    approve: bool = False


@dataclass(frozen=True, slots=True)
class Review:
    today: dt.date
    entries: tuple[ReviewEntry, ...]
    held: tuple[HeldRow, ...]
    not_known: tuple[UnknownAnchor, ...]
    undated_children: int
    """Children whose records settle no date of birth: nothing can be due for them here."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REVIEW_FORMAT,
            "about": (
                "Erasure review made by `safehub erasure due`. Read each entry; set "
                '"approve": true only for a child whose records may now be erased from '
                "every store the entry names (each store erases the whole child: read the "
                "warnings). Then `safehub erasure run --review <this file> --approved-by "
                "<your name>`. Synthetic data only."
            ),
            "today": self.today.isoformat(),
            "entries": [
                {
                    "erasure_id": e.erasure_id,
                    "child_key": e.child_key,
                    "record_type": e.record_type,
                    "label": e.label,
                    "rule": e.rule,
                    "legal_basis": e.legal_basis,
                    "due_on": e.due_on.isoformat(),
                    "stores": list(e.stores),
                    "warnings": list(e.warnings),
                    "approve": e.approve,
                }
                for e in self.entries
            ],
            "held": [
                {
                    "child_key": h.child_key,
                    "record_type": h.record_type,
                    "due_on": h.due_on.isoformat(),
                    "hold_id": h.hold_id,
                    "hold_reason": h.hold_reason,
                }
                for h in self.held
            ],
            "not_known_to_the_hub": [
                {"record_type": u.record_type, "anchor": u.anchor, "why": u.why}
                for u in self.not_known
            ],
            "children_without_a_settled_date_of_birth": self.undated_children,
        }


def birth_anchored_due(
    rules: RetentionRules,
    births: Iterable[tuple[str, dt.date | None]],
    *,
    today: dt.date,
) -> tuple[list[DueRow], int]:
    """(rows due by `today` for every child and record type whose clock starts at the date
    of birth, children with no settled date of birth). Holds are not applied here (the job
    applies them and says which); an unknown age at the end of a service takes the longer
    period (retention.review_due)."""
    birth_types = [r for r in rules.record_types.values() if r.anchor is Anchor.DATE_OF_BIRTH]
    rows: list[DueRow] = []
    undated = 0
    for child_key, born in births:
        if born is None:
            undated += 1
            continue
        for record_type in birth_types:
            answer = review_due(record_type, born, holds=(), today=today)
            if answer.due_on <= today:
                rows.append(DueRow(child_key, record_type.name, answer.due_on))
    return rows, undated


def plan_review(
    rules: RetentionRules,
    rows: Sequence[DueRow],
    *,
    today: dt.date,
    undated_children: int,
    new_id: Callable[[], str],
) -> Review:
    """The review an IG officer reads: due rows not held become entries (not approved),
    held rows name their hold, and record types the hub cannot date are listed."""
    due_types: dict[str, set[str]] = {}
    for row in rows:
        due_types.setdefault(row.child_key, set()).add(row.record_type)
    entries: list[ReviewEntry] = []
    held: list[HeldRow] = []
    for row in sorted(rows, key=lambda r: (r.child_key, r.due_on, r.record_type)):
        record_type = rules.record_type(row.record_type)
        holds = [h for h in rules.holds if h.covers(row.record_type, row.child_key)]
        if holds:
            held += [
                HeldRow(row.child_key, row.record_type, row.due_on, h.hold_id, h.reason)
                for h in holds
            ]
            continue
        entries.append(
            ReviewEntry(
                erasure_id=new_id(),
                child_key=row.child_key,
                record_type=row.record_type,
                label=record_type.label,
                rule=f"{record_type.period.plain()} after {record_type.anchor.words}"
                + (
                    " (the longer period: age at the end not known)"
                    if record_type.older_at_end
                    else ""
                ),
                legal_basis=record_type.legal_basis,
                due_on=row.due_on,
                stores=record_type.stores,
                warnings=_shared_store_warnings(rules, row.record_type, due_types[row.child_key]),
            )
        )
    not_known = tuple(
        UnknownAnchor(r.name, r.anchor.value, f"{r.anchor.words}: {NOT_KNOWN}")
        for r in rules.record_types.values()
        if r.anchor not in ANCHORS_HELD
    )
    return Review(today, tuple(entries), tuple(held), not_known, undated_children)


def _shared_store_warnings(
    rules: RetentionRules, record_type: str, due_for_child: set[str]
) -> tuple[str, ...]:
    stores = set(rules.record_type(record_type).stores)
    warnings = []
    for other in rules.record_types.values():
        if other.name == record_type or other.name in due_for_child:
            continue
        shared = sorted(stores & set(other.stores))
        if not shared:
            continue
        when = (
            "is not due yet"
            if other.anchor in ANCHORS_HELD
            else f"is counted from {other.anchor.words}, which the hub does not hold"
        )
        warnings.append(
            f"{other.name} {when}; erasing from {', '.join(shared)} removes it too if this "
            "child has one"
        )
    return tuple(warnings)


def approved_entries(raw: Any, rules: RetentionRules) -> list[ReviewEntry]:
    """The entries set `"approve": true` in a review file, checked against the rules (a
    record type or store the rules no longer name is refused, not guessed). Raises
    ReviewInvalid."""
    if not isinstance(raw, dict) or raw.get("format") != REVIEW_FORMAT:
        raise ReviewInvalid(f'not an erasure review (expected "format": "{REVIEW_FORMAT}")')
    entries = raw.get("entries")
    if not isinstance(entries, list):
        raise ReviewInvalid("'entries' must be a list")
    approved: list[ReviewEntry] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"entries[{index}]"
        if not isinstance(entry, dict):
            raise ReviewInvalid(f"{where} must be an object")
        approve = entry.get("approve")
        if not isinstance(approve, bool):
            raise ReviewInvalid(f"{where}.approve must be true or false")
        if not approve:
            continue
        approved.append(_entry(entry, where, rules, seen))
    return approved


def _entry(
    entry: Mapping[str, Any], where: str, rules: RetentionRules, seen: set[str]
) -> ReviewEntry:
    erasure_id = entry.get("erasure_id")
    if not isinstance(erasure_id, str) or not erasure_id.strip() or erasure_id in seen:
        raise ReviewInvalid(f"{where}.erasure_id must be a non-empty id used once")
    seen.add(erasure_id)
    child_key = entry.get("child_key")
    if not isinstance(child_key, str) or not CHILD_KEY_FORM.fullmatch(child_key):
        raise ReviewInvalid(f"{where}.child_key is not a pseudonymous child key (64 hex)")
    name = entry.get("record_type")
    if not isinstance(name, str) or name not in rules.record_types:
        raise ReviewInvalid(
            f"{where}.record_type {name!r} is not in the retention rules "
            f"({', '.join(sorted(rules.record_types))})"
        )
    record_type = rules.record_types[name]
    holds = [h.hold_id for h in rules.holds if h.covers(name, child_key)]
    if holds:
        # A hold placed after the review was made wins over the approval.
        raise ReviewInvalid(f"{where} is now under legal hold {', '.join(holds)}: not erased")
    try:
        due_on = dt.date.fromisoformat(str(entry.get("due_on")))
    except ValueError:
        raise ReviewInvalid(f"{where}.due_on must be YYYY-MM-DD") from None
    return ReviewEntry(
        erasure_id=erasure_id,
        child_key=child_key,
        record_type=name,
        label=record_type.label,
        rule=str(entry.get("rule") or ""),
        legal_basis=record_type.legal_basis,
        due_on=due_on,
        # The rules' stores, not the file's: an edited list cannot widen or narrow erasure.
        stores=record_type.stores,
        warnings=(),
        approve=True,
    )
