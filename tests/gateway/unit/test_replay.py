"""The replay rule (services/gateway/domain/replay.py) as properties over arrival sequences."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.domain.intake import AcceptedNotice
from services.gateway.domain.replay import (
    DecidedCopy,
    DecidedNotices,
    decided_copy_of,
    notice_seen_record,
    replay_rejection,
    subject_key_of,
    subject_key_sha256,
)
from services.gateway.errors import NoticeRejected
from services.hubkit.codec import MessageType
from services.hubkit.topology import load_topology
from tests.factories import POLICIES, catalog

PARTITION = ("notices.police.v1", 1)
IDS = [f"00000000-0000-5000-8000-00000000000{i}" for i in range(4)]
PAYLOADS = [bytes([i]) * 32 for i in range(3)]

arrivals = st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(PAYLOADS)), max_size=25)


def _accepted(notice_id: str, payload: bytes) -> AcceptedNotice:
    return AcceptedNotice(
        notice={
            "notice_id": notice_id,
            "notice_type": "MISSING_EPISODE",
            "subject": {"linkage_key": "lk-test"},
        },
        envelope_sha256=b"\xee" * 32,
        payload_sha256=payload,
        signer="adapter-police",
    )


def _verdicts(
    decided: DecidedNotices, sequence: list[tuple[str, bytes]], start: int = 0
) -> list[str]:
    """What intake says of each arrival (read at offsets start, start + 1, ...)."""
    verdicts = []
    for offset, (notice_id, payload) in enumerate(sequence, start=start):
        try:
            decided.claim(PARTITION, _accepted(notice_id, payload), offset)
            verdicts.append("DECIDE")
        except NoticeRejected as rejection:
            # The rejection names the id, so it is audited under the notice replayed.
            verdicts.append(rejection.reason if rejection.notice_id == notice_id else "NO ID")
    return verdicts


@given(arrivals)
def test_only_the_first_copy_of_an_id_is_decided(sequence: list[tuple[str, bytes]]) -> None:
    first: dict[str, bytes] = {}
    expected = []
    for notice_id, payload in sequence:
        if notice_id not in first:
            first[notice_id] = payload
            expected.append("DECIDE")
        elif first[notice_id] == payload:
            expected.append("DUPLICATE_NOTICE")
        else:
            expected.append("CONFLICTING_NOTICE")
    assert _verdicts(DecidedNotices(), sequence) == expected


@given(arrivals, st.data())
def test_a_partition_read_again_gets_the_same_verdicts(
    sequence: list[tuple[str, bytes]], data: st.DataObject
) -> None:
    # A retry or a failed transaction reads the partition again from some offset: the notices
    # from there are claimed again and must not find their own earlier claims.
    decided = DecidedNotices()
    once = _verdicts(decided, sequence)
    again_from = data.draw(st.integers(min_value=0, max_value=len(sequence)))
    decided.rewind(PARTITION, again_from)
    assert _verdicts(decided, sequence[again_from:], start=again_from) == once[again_from:]


@given(arrivals)
def test_what_was_read_back_counts_like_a_claim(sequence: list[tuple[str, bytes]]) -> None:
    # A new owner knows the first owner's decisions only from the record it reads back.
    first_owner = DecidedNotices()
    once = _verdicts(first_owner, sequence)
    new_owner = DecidedNotices()
    for offset, (notice_id, payload) in enumerate(sequence):
        if once[offset] == "DECIDE":
            new_owner.remember(notice_id, DecidedCopy(payload, *PARTITION, offset))
    replayed = _verdicts(new_owner, sequence, start=len(sequence))
    assert "DECIDE" not in replayed


def test_a_dead_lettered_notice_does_not_poison_its_id() -> None:
    decided = DecidedNotices()
    decided.claim(PARTITION, _accepted(IDS[0], PAYLOADS[0]), 10)
    decided.release(PARTITION, IDS[0])  # its records were too large: dead-lettered instead
    decided.claim(PARTITION, _accepted(IDS[0], PAYLOADS[1]), 11)  # decided, no error


def test_claims_of_a_partition_given_away_are_forgotten() -> None:
    decided = DecidedNotices()
    decided.claim(PARTITION, _accepted(IDS[0], PAYLOADS[0]), 10)
    decided.forget_claims(PARTITION)
    decided.claim(PARTITION, _accepted(IDS[0], PAYLOADS[0]), 10)


@pytest.mark.parametrize(
    ("payload", "reason"), [(PAYLOADS[0], "DUPLICATE_NOTICE"), (PAYLOADS[1], "CONFLICTING_NOTICE")]
)
def test_the_rejection_says_where_the_decided_copy_was_read(payload: bytes, reason: str) -> None:
    copy = DecidedCopy(PAYLOADS[0], "notices.police.v1", 2, 41)
    rejection = replay_rejection(notice_id=IDS[0], payload_sha256=payload, decided=copy)
    assert rejection is not None
    assert rejection.reason == reason
    assert "notices.police.v1/2@41" in rejection.detail
    assert replay_rejection(notice_id=IDS[0], payload_sha256=payload, decided=None) is None


def test_the_seen_record_round_trips_through_its_schema() -> None:
    codec = catalog()
    accepted = _accepted(IDS[1], PAYLOADS[2])
    copy = DecidedCopy(PAYLOADS[2], "notices.police.v1", 0, 7)
    recipients = tuple(s.subscriber_id for s in load_topology(POLICIES).subscribers)
    record = notice_seen_record(
        accepted=accepted,
        copy=copy,
        decided_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        disclosed_to=recipients,
    )
    encoded = codec.encode(MessageType.NOTICE_SEEN, record)
    # The size per decided notice the docs state, disclosed to every subscriber.
    assert len(encoded) < 200 + 20 * len(recipients)
    assert decided_copy_of(codec.decode(encoded, MessageType.NOTICE_SEEN)) == (
        IDS[1],
        DecidedCopy(
            PAYLOADS[2],
            "notices.police.v1",
            0,
            7,
            disclosed_to=recipients,
            subject_key=subject_key_of(subject_key_sha256("lk-test")),
            notice_type="MISSING_EPISODE",
        ),
    )
