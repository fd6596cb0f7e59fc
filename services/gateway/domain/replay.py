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

Retractions (domain/retraction.py)
    A retraction is recorded the same way under its own id (one per notice), so a replayed
    retraction is DUPLICATE_NOTICE. A decided notice's record also keeps who it was disclosed
    to, its type and a digest of its linkage key: a retraction, keyed like its original and
    so read by the same owner, goes to exactly those recipients. A claim carries no
    recipients (`disclosed_to` None) until its notice is decided (`decided`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from dataclasses import dataclass, replace
from typing import Any

from services.gateway.domain.intake import AcceptedNotice, AcceptedRetraction
from services.gateway.errors import NoticeRejected

__all__ = [
    "DecidedCopy",
    "DecidedNotices",
    "PartitionName",
    "decided_copy_of",
    "notice_seen_record",
    "replay_rejection",
    "subject_key_of",
    "subject_key_sha256",
]

PartitionName = tuple[str, int]
"""(topic, partition) of a notice topic, as the edge names it."""


def subject_key_sha256(key: bytes | str) -> bytes:
    """SHA-256 of a record key (a linkage key), as NoticeSeen.subject_key_sha256 keeps it."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).digest()


def subject_key_of(digest: bytes | None) -> int | None:
    """DecidedCopy.subject_key of a subject_key_sha256."""
    return None if digest is None else int.from_bytes(digest[:8], "big")


@dataclass(frozen=True, slots=True)
class DecidedCopy:
    """What is remembered of a decided notice: its payload digest and where it was read, and
    what a retraction of it needs (who it was disclosed to, its key, its type)."""

    payload_sha256: bytes
    source_topic: str
    source_partition: int
    source_offset: int
    disclosed_to: tuple[str, ...] | None = ()
    """Subscribers given a feed item of it; None while only claimed (not decided yet)."""
    subject_key: int | None = None
    """The first 8 bytes of the SHA-256 of its record key (its linkage key), as an int: enough
    to tell a retraction under another key, in a fraction of the digest's memory. None when
    the record predates retractions."""
    notice_type: str | None = None

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
        self._recipients: dict[tuple[str, ...], tuple[str, ...]] = {}
        """One tuple per distinct set of recipients (a few dozen across millions of notices),
        of interned subscriber ids: each copy holds a pointer, not its own list."""

    def __len__(self) -> int:
        return len(self._decided)

    def remember(self, notice_id: str, copy: DecidedCopy) -> None:
        """A notice decided and committed (read back from the record). The first copy wins:
        compaction may leave either of two records of one id, and both name a decision."""
        if notice_id not in self._decided:
            self._decided[notice_id] = self._shared(copy)

    def _shared(self, copy: DecidedCopy) -> DecidedCopy:
        recipients = copy.disclosed_to
        if recipients:
            shared = self._recipients.get(recipients)
            if shared is None:
                shared = tuple(sys.intern(s) for s in recipients)
                self._recipients[shared] = shared
            recipients = shared
        notice_type = None if copy.notice_type is None else sys.intern(copy.notice_type)
        source_topic = sys.intern(copy.source_topic)
        if (
            recipients is copy.disclosed_to
            and notice_type is copy.notice_type
            and source_topic is copy.source_topic
        ):
            return copy
        return replace(
            copy, disclosed_to=recipients, notice_type=notice_type, source_topic=source_topic
        )

    def committed(self, notice_id: str) -> DecidedCopy | None:
        """The decided notice as read back from the record (never a claim): what emergency
        access (domain/break_glass.py) answers about, once its decision has committed."""
        return self._decided.get(notice_id)

    def claim(self, partition: PartitionName, accepted: AcceptedNotice, offset: int) -> None:
        """Claim `accepted`, read at `offset` of `partition`, for a decision; NoticeRejected
        (DUPLICATE_NOTICE or CONFLICTING_NOTICE) when it was decided or claimed already."""
        self._claim(
            partition,
            accepted.notice_id,
            DecidedCopy(
                accepted.payload_sha256,
                partition[0],
                partition[1],
                offset,
                disclosed_to=None,
                subject_key=subject_key_of(
                    subject_key_sha256(str(accepted.notice["subject"]["linkage_key"]))
                ),
                notice_type=str(accepted.notice["notice_type"]),
            ),
        )

    def claim_retraction(
        self, partition: PartitionName, accepted: AcceptedRetraction, offset: int
    ) -> None:
        """Claim a retraction's id as a notice's is claimed: a second copy of a delivered
        retraction is DUPLICATE_NOTICE (CONFLICTING_NOTICE if its content differs)."""
        self._claim(
            partition,
            accepted.retraction_id,
            DecidedCopy(
                accepted.payload_sha256,
                partition[0],
                partition[1],
                offset,
                subject_key=subject_key_of(subject_key_sha256(accepted.subject_linkage_key)),
            ),
        )

    def _claim(self, partition: PartitionName, notice_id: str, copy: DecidedCopy) -> None:
        claims = self._claims.setdefault(partition, {})
        decided = self._decided.get(notice_id) or claims.get(notice_id)
        rejection = replay_rejection(
            notice_id=notice_id, payload_sha256=copy.payload_sha256, decided=decided
        )
        if rejection is not None:
            raise rejection
        claims[notice_id] = copy

    def decided(
        self, partition: PartitionName, notice_id: str, disclosed_to: tuple[str, ...]
    ) -> None:
        """The claimed notice was decided (its transaction not yet committed): who got a feed
        item, for a retraction read after it on the same partition."""
        claims = self._claims.get(partition, {})
        claimed = claims.get(notice_id)
        if claimed is not None:
            claims[notice_id] = self._shared(replace(claimed, disclosed_to=disclosed_to))

    def original(self, partition: PartitionName, notice_id: str, offset: int) -> DecidedCopy | None:
        """The notice a retraction read at `offset` of `partition` withdraws, as decided or
        claimed before it on that partition; None if neither."""
        decided = self._decided.get(notice_id)
        if decided is not None:
            return decided
        claimed = self._claims.get(partition, {}).get(notice_id)
        if claimed is not None and claimed.source_offset < offset:
            return claimed
        return None

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
    *,
    accepted: AcceptedNotice | AcceptedRetraction,
    copy: DecidedCopy,
    decided_at: dt.datetime,
    disclosed_to: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The NoticeSeen record written with a decided notice's audit records (`disclosed_to`:
    the subscribers given a feed item), or with a delivered retraction's (under its id)."""
    if isinstance(accepted, AcceptedRetraction):
        seen_id, linkage_key = accepted.retraction_id, accepted.subject_linkage_key
        notice_type = None
    else:
        seen_id = accepted.notice_id
        linkage_key = str(accepted.notice["subject"]["linkage_key"])
        notice_type = str(accepted.notice["notice_type"])
    return {
        "notice_id": seen_id,
        "payload_sha256": accepted.payload_sha256,
        "envelope_sha256": accepted.envelope_sha256,
        "source_topic": copy.source_topic,
        "source_partition": copy.source_partition,
        "source_offset": copy.source_offset,
        "decided_at": decided_at,
        "disclosed_to": list(disclosed_to),
        "subject_key_sha256": subject_key_sha256(linkage_key),
        "notice_type": notice_type,
    }


def decided_copy_of(record: dict[str, Any]) -> tuple[str, DecidedCopy]:
    """(notice id, what to remember) from a decoded NoticeSeen record."""
    digest = record.get("subject_key_sha256")
    notice_type = record.get("notice_type")
    return str(record["notice_id"]), DecidedCopy(
        bytes(record["payload_sha256"]),
        str(record["source_topic"]),
        int(record["source_partition"]),
        int(record["source_offset"]),
        disclosed_to=tuple(record.get("disclosed_to") or ()),
        subject_key=subject_key_of(None if digest is None else bytes(digest)),
        notice_type=None if notice_type is None else str(notice_type),
    )
