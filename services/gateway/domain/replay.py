"""Replays: has this notice been decided already? Pure state and rules, no I/O.

What counts as a replay
    A notice's id is derived from its agency, organisation and source reference, and a
    corrected source record is a new revision with a reference (so an id) of its own
    (`services.adapters.ingest.mapping.reference_with_revision`; an adapter answers 409 to
    different content under a used reference). So a notice id names one immutable notice, and
    a second copy of an id already decided is never a new version:

        not decided before                          -> decide it
        decided, same signed payload                -> DUPLICATE_NOTICE (a replay of the same
                                                       bytes, or the same notice signed again)
        decided, different payload under the id    -> CONFLICTING_NOTICE

    Only decided notices count. A notice that was dead-lettered never enters the record, so a
    rejection cannot poison its id: a later, valid copy is still decided.

Where the record lives
    The edge writes a NoticeSeen record for every decided notice into the decision's own
    transaction (topic `gateway.notices-seen.v1`, compacted by notice id) and reads the topic
    back before it decides anything on a newly owned partition. `DecidedNotices` holds what
    was read (`remember`) plus this owner's claims per input partition: notices accepted but
    whose transaction has not committed yet, so a replay arriving before the original commits
    is refused as well. Claims follow the partition's position: when the partition is read
    again from an offset (a retry, a failed transaction) the claims from that offset on are
    dropped (`rewind`), as their notices will be read and claimed again.

Why per partition is enough
    Intake refuses a record whose key is not the notice's linkage key (RECORD_KEY_MISMATCH),
    so every copy of a notice lands on the same partition of its agency's topic, and the one
    gateway owning that partition (fenced by its transactional id) is the only one deciding
    it. Having read the record after fencing the previous owner, it knows every notice that
    owner decided there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from services.gateway.domain.intake import AcceptedNotice
from services.gateway.errors import NoticeRejected

__all__ = [
    "DecidedCopy",
    "DecidedNotices",
    "PartitionName",
    "decided_copy_of",
    "notice_seen_record",
    "replay_rejection",
]

PartitionName = tuple[str, int]
"""(topic, partition) of a notice topic, as the edge names it."""


@dataclass(frozen=True, slots=True)
class DecidedCopy:
    """What is remembered of a decided notice: its payload digest and where it was read."""

    payload_sha256: bytes
    source_topic: str
    source_partition: int
    source_offset: int

    def where(self) -> str:
        return f"{self.source_topic}/{self.source_partition}@{self.source_offset}"


def replay_rejection(
    *, notice_id: str, payload_sha256: bytes, decided: DecidedCopy | None
) -> NoticeRejected | None:
    """The rule above: None when the notice may be decided, else why it may not."""
    if decided is None:
        return None
    if decided.payload_sha256 == payload_sha256:
        return NoticeRejected(
            "DUPLICATE_NOTICE",
            f"this notice was decided already (the copy read at {decided.where()}); a replayed "
            "or re-signed copy is never decided again",
            notice_id,
        )
    return NoticeRejected(
        "CONFLICTING_NOTICE",
        f"a notice with this id and different content was decided already (the copy read at "
        f"{decided.where()}); notices are immutable: send a correction as a new revision",
        notice_id,
    )


class DecidedNotices:
    """Decided notices by id (read from the record) and this owner's claims by partition."""

    def __init__(self) -> None:
        self._decided: dict[str, DecidedCopy] = {}
        self._claims: dict[PartitionName, dict[str, DecidedCopy]] = {}

    def __len__(self) -> int:
        return len(self._decided)

    def remember(self, notice_id: str, copy: DecidedCopy) -> None:
        """A notice decided and committed (read back from the record). The first copy wins:
        compaction may leave either of two records of one id, and both name a decision."""
        self._decided.setdefault(notice_id, copy)

    def claim(self, partition: PartitionName, accepted: AcceptedNotice, offset: int) -> None:
        """Claim `accepted`, read at `offset` of `partition`, for a decision; NoticeRejected
        (DUPLICATE_NOTICE or CONFLICTING_NOTICE) when it was decided or claimed already."""
        notice_id = accepted.notice_id
        claims = self._claims.setdefault(partition, {})
        decided = self._decided.get(notice_id) or claims.get(notice_id)
        rejection = replay_rejection(
            notice_id=notice_id, payload_sha256=accepted.payload_sha256, decided=decided
        )
        if rejection is not None:
            raise rejection
        claims[notice_id] = DecidedCopy(accepted.payload_sha256, partition[0], partition[1], offset)

    def release(self, partition: PartitionName, notice_id: str) -> None:
        """The claimed notice was dead-lettered after all (e.g. its records were too large):
        not decided, so its id stays free."""
        self._claims.get(partition, {}).pop(notice_id, None)

    def rewind(self, partition: PartitionName, offset: int) -> None:
        """The partition is read again from `offset`: claims from there on are dropped."""
        claims = self._claims.get(partition)
        if claims:
            for notice_id in [n for n, c in claims.items() if c.source_offset >= offset]:
                del claims[notice_id]

    def forget_claims(self, partition: PartitionName) -> None:
        """The partition was given away, or its committed claims were just read back."""
        self._claims.pop(partition, None)


def notice_seen_record(
    *, accepted: AcceptedNotice, copy: DecidedCopy, decided_at: dt.datetime
) -> dict[str, Any]:
    """The NoticeSeen record written with a decided notice's audit records."""
    return {
        "notice_id": accepted.notice_id,
        "payload_sha256": accepted.payload_sha256,
        "envelope_sha256": accepted.envelope_sha256,
        "source_topic": copy.source_topic,
        "source_partition": copy.source_partition,
        "source_offset": copy.source_offset,
        "decided_at": decided_at,
    }


def decided_copy_of(record: dict[str, Any]) -> tuple[str, DecidedCopy]:
    """(notice id, what to remember) from a decoded NoticeSeen record."""
    return str(record["notice_id"]), DecidedCopy(
        bytes(record["payload_sha256"]),
        str(record["source_topic"]),
        int(record["source_partition"]),
        int(record["source_offset"]),
    )
