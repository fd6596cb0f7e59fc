"""The console's projection of ONE subscriber's feed: every item, by notice id, by child, and
which MASH decisions cover which notices.

Built by replaying the feed from the beginning (read_committed), so it holds exactly what
the hub has released to this subscriber and nothing else. Applying is idempotent on the
notice id: a redelivered item changes nothing; a notice decided again (the same decision id
under a newer policy revision, say) replaces its earlier view.

Pure state: no I/O, no clock. The Kafka loop (services/console/feeds.py) feeds it.

`Projection` is what pages and the feed loop ask of a projection: this in-memory one (rebuilt
from the start of the feed at every start; unit tests use it) or the console's stored one
(services/console/projection_store.py: kept in the console's database with the offsets it
reflects, so a restart continues where it stopped).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from services.console.domain.feed import FeedEntry
from services.console.domain.withdrawals import Acknowledgement, Withdrawal

__all__ = [
    "Applied",
    "Change",
    "CoveringDecisions",
    "FeedMessage",
    "FeedProjection",
    "Projection",
]

FeedMessage = FeedEntry | Withdrawal
"""What a feed brings: an item, or the withdrawal of one (domain/withdrawals.py)."""


class Applied(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"
    """The item names another subscriber: never shown (defence in depth; the broker's ACLs
    already keep other feeds out)."""
    LINKED = "linked"
    """No item changed: the child index merged or split children, so which notices make up
    the child of `linkage_key` did (domain/linkage.py)."""
    WITHDRAWN = "withdrawn"
    """The source agency withdrew the notice: its content is gone, a tombstone is kept
    (domain/withdrawals.py); pages showing it re-fetch."""


@dataclass(frozen=True, slots=True)
class Change:
    applied: Applied
    notice_id: str
    linkage_key: str
    affected: tuple[str, ...] = ()
    """Other notices whose triage status this item changed (those a decision covers)."""

    @property
    def visible(self) -> bool:
        return self.applied in (Applied.NEW, Applied.UPDATED, Applied.WITHDRAWN)


class CoveringDecisions(Protocol):
    """What an item's triage reads besides the item: the decisions that cover it."""

    def decisions_covering(self, notice_id: str) -> list[FeedEntry]: ...


class Projection(Protocol):
    """One subscriber's feed as pages read it and the feed loop writes it."""

    subscriber_id: str

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[FeedEntry]: ...

    def apply_all(
        self, entries: Sequence[FeedMessage], *, topic: str, partition: int, next_offset: int
    ) -> list[Change]:
        """Apply one partition's batch (items and withdrawals, in feed order) and record that
        the partition has been read up to `next_offset` (exclusive), as one step: a restart
        resumes there, losing or doubling nothing."""
        ...

    def start_offsets(self, topic: str) -> Mapping[int, int]:
        """Where to resume reading `topic`, by partition; a partition not named starts at the
        beginning."""
        ...

    def forget_feed(self) -> None:
        """Forget every item and offset: the feed's topic was created again, so what was
        kept reflects a log that no longer exists (it is read again from the beginning)."""
        ...

    def get(self, notice_id: str) -> FeedEntry | None: ...

    def linkage_keys(self) -> Iterator[str]: ...

    def for_child(self, linkage_key: str) -> list[FeedEntry]: ...

    def for_keys(self, linkage_keys: Iterable[str]) -> list[FeedEntry]: ...

    def decisions_covering(self, notice_id: str) -> list[FeedEntry]: ...

    def withdrawal(self, notice_id: str) -> Withdrawal | None:
        """The tombstone of a withdrawn notice, with its acknowledgement if any."""
        ...

    def withdrawals_for_keys(self, linkage_keys: Iterable[str]) -> list[Withdrawal]:
        """The tombstones under any of these keys, oldest withdrawal first."""
        ...

    def acknowledge_withdrawal(
        self, notice_id: str, acknowledgement: Acknowledgement
    ) -> Withdrawal | None:
        """Record the desk's acknowledgement unless it already has one (the first stands);
        the withdrawal as it now is, or None when no such withdrawal is kept."""
        ...

    def withdrawals_to_acknowledge(self) -> list[Withdrawal]:
        """Tombstones nobody at the desk has acknowledged, oldest delivery first (the
        "Withdrawn, to acknowledge" page and its count in the navigation)."""
        ...


class FeedProjection:
    def __init__(self, subscriber_id: str) -> None:
        self.subscriber_id = subscriber_id
        self._entries: dict[str, FeedEntry] = {}
        self._by_child: dict[str, list[str]] = {}
        self._decisions_for: dict[str, list[str]] = {}
        self._withdrawn: dict[str, Withdrawal] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[FeedEntry]:
        return iter(self._entries.values())

    def apply(self, entry: FeedMessage) -> Change:
        if entry.subscriber_id != self.subscriber_id:
            return Change(Applied.REFUSED, entry.notice_id, entry.linkage_key)
        if isinstance(entry, Withdrawal):
            return self._withdraw(entry)
        if entry.notice_id in self._withdrawn:  # withdrawn for good: never shown again
            return Change(Applied.UNCHANGED, entry.notice_id, entry.linkage_key)
        previous = self._entries.get(entry.notice_id)
        if (
            previous is not None
            and previous.view_json == entry.view_json
            and (
                previous.decision_id,
                previous.policy_revision,
                previous.fields_withheld,
            )
            == (entry.decision_id, entry.policy_revision, entry.fields_withheld)
        ):
            return Change(Applied.UNCHANGED, entry.notice_id, entry.linkage_key)
        if previous is not None:
            self._forget(previous)
        self._entries[entry.notice_id] = entry
        self._by_child.setdefault(entry.linkage_key, []).append(entry.notice_id)
        affected: tuple[str, ...] = ()
        decision = entry.mash_decision
        if decision is not None:
            for related in decision.related_notice_ids:
                self._decisions_for.setdefault(related, []).append(entry.notice_id)
            affected = tuple(i for i in decision.related_notice_ids if i in self._entries)
        return Change(
            Applied.NEW if previous is None else Applied.UPDATED,
            entry.notice_id,
            entry.linkage_key,
            affected,
        )

    def _withdraw(self, withdrawal: Withdrawal) -> Change:
        if withdrawal.notice_id in self._withdrawn:
            return Change(Applied.UNCHANGED, withdrawal.notice_id, withdrawal.linkage_key)
        self._withdrawn[withdrawal.notice_id] = withdrawal
        previous = self._entries.pop(withdrawal.notice_id, None)
        affected: tuple[str, ...] = ()
        if previous is not None:
            self._forget(previous)
            decision = previous.mash_decision
            if decision is not None:  # the notices it covered are undecided again
                affected = tuple(i for i in decision.related_notice_ids if i in self._entries)
        self._decisions_for.pop(withdrawal.notice_id, None)
        return Change(Applied.WITHDRAWN, withdrawal.notice_id, withdrawal.linkage_key, affected)

    def apply_all(
        self, entries: Sequence[FeedMessage], *, topic: str, partition: int, next_offset: int
    ) -> list[Change]:
        # Held in memory only: the offsets are not kept, the feed is read from its start.
        return [self.apply(entry) for entry in entries]

    def start_offsets(self, topic: str) -> Mapping[int, int]:
        return {}

    def forget_feed(self) -> None:
        # Tombstones stay: a notice once withdrawn stays withdrawn, even if a feed read
        # again still holds the item and no longer the retraction.
        self._entries.clear()
        self._by_child.clear()
        self._decisions_for.clear()

    def _forget(self, entry: FeedEntry) -> None:
        ids = self._by_child.get(entry.linkage_key, [])
        if entry.notice_id in ids:
            ids.remove(entry.notice_id)
        decision = entry.mash_decision
        if decision is not None:
            for related in decision.related_notice_ids:
                covering = self._decisions_for.get(related, [])
                if entry.notice_id in covering:
                    covering.remove(entry.notice_id)

    def get(self, notice_id: str) -> FeedEntry | None:
        return self._entries.get(notice_id)

    def linkage_keys(self) -> Iterator[str]:
        return (key for key, ids in self._by_child.items() if ids)

    def for_child(self, linkage_key: str) -> list[FeedEntry]:
        """The child's items, oldest first (by when they happened, as far as visible)."""
        return self.for_keys((linkage_key,))

    def for_keys(self, linkage_keys: Iterable[str]) -> list[FeedEntry]:
        """The items under any of these keys (one child the index merged), oldest first."""
        entries = [
            self._entries[i] for key in set(linkage_keys) for i in self._by_child.get(key, [])
        ]
        return sorted(entries, key=lambda e: (e.occurred_at, e.received_at, e.notice_id))

    def decisions_covering(self, notice_id: str) -> list[FeedEntry]:
        """MASH decisions that name this notice, latest first."""
        ids = self._decisions_for.get(notice_id)
        if not ids:  # the common case, and the queue asks for every item
            return []
        found = [self._entries[i] for i in ids]
        return sorted(found, key=lambda e: (e.received_at, e.notice_id), reverse=True)

    def withdrawal(self, notice_id: str) -> Withdrawal | None:
        return self._withdrawn.get(notice_id)

    def withdrawals_for_keys(self, linkage_keys: Iterable[str]) -> list[Withdrawal]:
        keys = set(linkage_keys)
        found = [w for w in self._withdrawn.values() if w.linkage_key in keys]
        return sorted(found, key=lambda w: (w.retracted_at, w.notice_id))

    def withdrawals_to_acknowledge(self) -> list[Withdrawal]:
        found = [w for w in self._withdrawn.values() if w.acknowledged is None]
        return sorted(found, key=lambda w: (w.delivered_at, w.notice_id))

    def acknowledge_withdrawal(
        self, notice_id: str, acknowledgement: Acknowledgement
    ) -> Withdrawal | None:
        withdrawal = self._withdrawn.get(notice_id)
        if withdrawal is None or withdrawal.acknowledged is not None:
            return withdrawal
        acknowledged = replace(withdrawal, acknowledged=acknowledgement)
        self._withdrawn[notice_id] = acknowledged
        return acknowledged
