"""The indexer's pure core: records to log entries, append plans, checkpoint planning."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.merkle import CompactRange, leaf_hash, merkle_tree_hash
from services.audit.errors import StorageCorrupt
from services.audit.indexer import (
    ACCESS_PREFIX,
    REJECTED_PREFIX,
    AccessEvent,
    EntryKind,
    SourcePosition,
    decode_access,
    decode_rejected,
    entry_for_access,
    entry_for_undecodable,
    plan_appends,
    plan_checkpoint,
    to_ms,
)
from services.console.domain.access import RefusalReason, Requester, access_refused_event
from services.hubkit.audit_trail import ACCESS_STREAM, read_logged_record, seal_audit_record
from services.hubkit.codec import MessageType
from services.hubkit.envelope import SigningKey, seal
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, AUDIT_TOPIC
from tests.audit.records import (
    AGENCY_KEY,
    CONSOLE_KEY,
    HUB_KEY,
    TOPOLOGY,
    audit_records,
    encode,
    encode_bare,
    logged,
    rejection,
)
from tests.factories import FIXED_NOW, catalog, notices

CATALOG = catalog()


def test_a_decision_record_becomes_an_entry_over_its_exact_bytes() -> None:
    notice = notices(1).notice("SAFEGUARDING_CONTACT")
    record = next(
        r for r in audit_records(notice) if r["recipient"]["subscriber_id"] == "school-dsl"
    )
    data = encode(CATALOG, record)
    entry = logged(data, offset=42)
    assert entry.kind is EntryKind.DECISION
    assert entry.data == data
    assert entry.leaf_hash == leaf_hash(data)
    assert entry.entry_id == record["decision_id"]
    assert entry.source == SourcePosition("audit.decisions.v1", 0, 42)
    c = entry.columns
    assert (c.event, c.notice_id, c.subject_linkage_key) == (
        "SHARING_DECISION",
        notice["notice_id"],
        notice["subject"]["linkage_key"],
    )
    assert (c.recipient_subscriber_id, c.recipient_organisation, c.recipient_role) == (
        "school-dsl",
        "URN-999999",
        "DESIGNATED_SAFEGUARDING_LEAD",
    )
    assert c.decided_at_ms == to_ms(FIXED_NOW) == c.disclosed_at_ms
    assert (c.outcome, c.purpose, c.rule_ids) == ("FLAG_ONLY", "OPERATION_ENCOMPASS", ("R14", "R9"))


def test_a_rejection_is_indexed_without_recipient() -> None:
    entry = logged(encode(CATALOG, rejection(offset=7)))
    assert entry.kind is EntryKind.DECISION
    assert entry.columns.event == "NOTICE_REJECTED"
    assert entry.columns.recipient_subscriber_id is None
    assert entry.columns.outcome is None


def _console_event(**changes: object) -> dict[str, object]:
    event = access_refused_event(
        access_id="3f0e2a1c-7d4b-4c5e-9f60-1a2b3c4d5e6f",
        requester=Requester(
            "u-social-1", ("SOCIAL_WORKER",), TOPOLOGY.subscriber("responsible-la")
        ),
        reason=RefusalReason.NOT_IN_FEED,
        notice_id=None,
        at=FIXED_NOW,
    )
    return {**event, **changes}


def test_a_console_access_event_signed_by_the_console_is_logged_as_one_never_as_a_decision() -> (
    None
):
    data = seal_audit_record(CATALOG, ACCESS_STREAM, _console_event(), CONSOLE_KEY, FIXED_NOW)
    entry = logged(data, topic=AUDIT_ACCESS_TOPIC, offset=3)
    assert entry.kind is EntryKind.CONSOLE_ACCESS
    assert entry.data == data
    assert entry.entry_id == "3f0e2a1c-7d4b-4c5e-9f60-1a2b3c4d5e6f"
    assert entry.columns.event == "ACCESS_REFUSED"
    assert entry.columns.recipient_subscriber_id == "responsible-la"
    assert entry.columns.decided_at_ms == to_ms(FIXED_NOW)


def _sealed(payload: bytes, key: SigningKey) -> bytes:
    return seal(CATALOG, payload, key, FIXED_NOW)


_RECORD = audit_records(notices(3).notice("SAFEGUARDING_CONTACT"))[0]
_ACCESS = CATALOG.encode(MessageType.CONSOLE_ACCESS, _console_event())
_STRANGER = SigningKey.generate("gateway")  # the hub's name, but a key the hub never trusted


@pytest.mark.parametrize(
    ("topic", "data", "reason", "claimed"),
    [
        (AUDIT_TOPIC, b"not avro at all", "NOT_SIGNED", None),
        (AUDIT_TOPIC, b"\xc3\x01" + b"\xff" * 8 + b"body", "NOT_SIGNED", None),
        (AUDIT_TOPIC, encode_bare(CATALOG, _RECORD), "NOT_SIGNED", None),
        (AUDIT_TOPIC, encode(CATALOG, _RECORD, key=CONSOLE_KEY), "WRONG_SIGNER", "console"),
        (AUDIT_TOPIC, encode(CATALOG, _RECORD, key=AGENCY_KEY), "WRONG_SIGNER", "adapter-police"),
        (AUDIT_TOPIC, encode(CATALOG, _RECORD, key=_STRANGER), "UNKNOWN_SIGNER", None),
        (AUDIT_TOPIC, _sealed(_ACCESS, HUB_KEY), "WRONG_SCHEMA", "gateway"),
        (AUDIT_ACCESS_TOPIC, _ACCESS, "NOT_SIGNED", None),
        (AUDIT_ACCESS_TOPIC, _sealed(_ACCESS, AGENCY_KEY), "WRONG_SIGNER", "adapter-police"),
        (AUDIT_ACCESS_TOPIC, _sealed(_ACCESS, HUB_KEY), "WRONG_SIGNER", "gateway"),
        (AUDIT_ACCESS_TOPIC, encode(CATALOG, _RECORD, key=CONSOLE_KEY), "WRONG_SCHEMA", "console"),
        (
            AUDIT_ACCESS_TOPIC,
            _sealed(
                CATALOG.encode(
                    MessageType.CONSOLE_ACCESS, _console_event(actor="Jane Doe says hi")
                ),
                CONSOLE_KEY,
            ),
            "TEXT_NOT_BOUNDED",
            "console",
        ),
    ],
    ids=[
        "garbage",
        "unknown-fingerprint",
        "bare-record",
        "decision-signed-by-console",
        "decision-signed-by-agency",
        "decision-signed-by-unknown-key",
        "access-event-on-decisions-topic",
        "unsigned-access-event",
        "access-event-signed-by-agency",
        "access-event-signed-by-hub",
        "decision-on-access-topic",
        "access-event-with-free-text",
    ],
)
def test_a_record_that_fails_its_topics_check_is_rejected_by_digest_never_entered(
    topic: str, data: bytes, reason: str, claimed: str | None
) -> None:
    entry = logged(data, topic=topic, offset=9)
    assert entry.kind is EntryKind.REJECTED
    assert entry.rejection == reason
    assert entry.columns.event == "REJECTED"
    assert entry.data.startswith(REJECTED_PREFIX)
    assert not entry.data.startswith(b"\xc3")
    body = decode_rejected(entry.data)
    digest = hashlib.sha256(data).hexdigest()
    assert body == {
        "reason": reason,
        "detail": body["detail"],
        "topic": topic,
        "partition": 0,
        "offset": 9,
        "sha256": digest,
        "length": len(data),
        "claimed_signer": claimed,
    }
    assert entry.entry_id == f"rejected:{digest}"
    # None of the record's own text reaches the log.
    assert b"Jane Doe" not in entry.data
    assert b"not avro" not in entry.data


def test_a_tampered_signature_is_rejected() -> None:
    data = bytearray(encode(CATALOG, _RECORD))
    # The signature's last byte: the envelope's own last byte is field_provenance's null.
    data[-2] ^= 0x01
    assert logged(bytes(data)).rejection == "BAD_SIGNATURE"


def test_a_record_on_a_topic_that_is_not_an_audit_topic_is_rejected() -> None:
    assert logged(encode(CATALOG, _RECORD), topic="feed.mash-manager.v1").rejection == (
        "NOT_AN_AUDIT_TOPIC"
    )


def test_bare_records_of_old_logs_still_read() -> None:
    logged_before = read_logged_record(CATALOG, encode_bare(CATALOG, _RECORD))
    assert logged_before.key_id is None
    assert str(logged_before.record["decision_id"]) == _RECORD["decision_id"]
    assert read_logged_record(CATALOG, encode(CATALOG, _RECORD)).key_id == HUB_KEY.key_id


def test_access_entries_are_canonical_and_cannot_collide_with_avro() -> None:
    event = AccessEvent(
        access_id="q-1",
        at_ms=5,
        actor="ig-officer-1",
        roles=("IG_OFFICER", "A"),
        action="subject_access_report",
        parameters={"subject_linkage_key": "LK1", "b": "2"},
    )
    entry = entry_for_access(event)
    assert entry.data.startswith(ACCESS_PREFIX)
    assert not entry.data.startswith(b"\xc3")
    assert entry.kind is EntryKind.ACCESS
    assert entry.entry_id == "q-1"
    assert entry.columns.event == "IG_QUERY"
    assert entry.columns.subject_linkage_key == "LK1"
    assert decode_access(entry.data) == event.as_json()
    assert decode_access(entry.data)["roles"] == ["A", "IG_OFFICER"]
    # Same event, same bytes.
    assert entry_for_access(event).data == entry.data
    refused = entry_for_access(AccessEvent("q-2", 6, "someone", (), "decisions", {}, allowed=False))
    assert refused.columns.event == "IG_QUERY_REFUSED"
    with pytest.raises(ValueError, match="not an access entry"):
        decode_access(b"\xc3\x01...")


def _undecodable(n: int) -> list:  # type: ignore[type-arg]
    return [entry_for_undecodable(data=f"d{i}".encode()) for i in range(n)]


def test_plan_appends_assigns_indices_and_reports_completed_subtrees() -> None:
    entries = _undecodable(11)
    plan = plan_appends(range=CompactRange(), entries=entries, known={})
    assert [p.leaf_index for p in plan.leaves] == list(range(11))
    assert plan.range.root() == merkle_tree_hash([e.data for e in entries])
    assert {(n.level, n.index) for n in plan.nodes} == {
        (1, 0),
        (1, 1),
        (1, 2),
        (1, 3),
        (1, 4),
        (2, 0),
        (2, 1),
        (3, 0),
    }
    assert all(n.level > 0 for n in plan.nodes)


def test_plan_appends_skips_redeliveries_and_marks_re_emitted_decisions() -> None:
    notice = notices(2).notice("SAFEGUARDING_CONTACT")
    first = logged(encode(CATALOG, audit_records(notice)[0]))
    later = logged(
        encode(CATALOG, audit_records(notice, decided_at=FIXED_NOW + dt.timedelta(seconds=1))[0]),
    )
    other = logged(encode(CATALOG, audit_records(notice)[1]))
    start = CompactRange().extend([leaf_hash(b"x")] * 4)
    plan = plan_appends(
        range=start,
        entries=[first, later, other, other, later],
        known={first.entry_id: {first.leaf_hash: 2}},
    )
    assert [(p.leaf_index, p.entry, p.duplicate_of) for p in plan.leaves] == [
        (4, later, 2),
        (5, other, None),
    ]
    assert plan.skipped == (first, other, later)
    assert plan.duplicates == 1
    assert plan.range.size == 6


def test_plan_checkpoint_signs_only_growth_with_monotonic_time() -> None:
    root = b"\x01" * 32
    assert plan_checkpoint(origin="o", tree_size=0, root_hash=root, previous=None, now_ms=5) is None
    first = plan_checkpoint(origin="o", tree_size=3, root_hash=root, previous=None, now_ms=5)
    assert first == Checkpoint("o", 3, root, 5)
    assert (
        plan_checkpoint(origin="o", tree_size=3, root_hash=root, previous=first, now_ms=9) is None
    )
    # The clock went backwards: the timestamp still moves forward.
    second = plan_checkpoint(origin="o", tree_size=4, root_hash=root, previous=first, now_ms=1)
    assert second is not None
    assert second.timestamp_ms == 6
    with pytest.raises(StorageCorrupt, match="truncated"):
        plan_checkpoint(origin="o", tree_size=2, root_hash=root, previous=first, now_ms=9)


def test_an_erasure_step_names_no_child_and_is_matched_by_a_digest() -> None:
    from services.audit.indexer import (
        ERASURE_PREFIX,
        ErasureEvent,
        ErasurePhase,
        decode_erasure,
        entry_for_erasure,
    )

    child_ref = "ab" * 32
    steps = [
        entry_for_erasure(
            ErasureEvent(
                erasure_id="er-7",
                phase=phase,
                at_ms=5,
                actor="ig.officer",
                record_type="CHILD_PROTECTION",
                rule="cp-75",
                child_ref=child_ref,
                stores={"audit": 3, "console": 1},
            )
        )
        for phase in ErasurePhase
    ]
    assert [s.entry_id for s in steps] == [
        "erasure:er-7:intent",
        "erasure:er-7:deletion",
        "erasure:er-7:confirmation",
    ]
    for step in steps:
        assert step.data.startswith(ERASURE_PREFIX)
        assert step.kind is EntryKind.ERASURE
        assert step.columns.subject_linkage_key is None
        assert child_ref.encode() not in step.data
    bodies = [decode_erasure(s.data) for s in steps]
    assert len({b["child_ref_digest"] for b in bodies}) == 1
    assert [b["phase"] for b in bodies] == ["intent", "deletion", "confirmation"]
    assert bodies[0]["stores"] == {"audit": 3, "console": 1}


def test_a_committed_entry_hashes_the_commitment_and_keeps_the_record_as_its_opening() -> None:
    from services.audit.domain.commitment import committed_leaf, opens
    from services.audit.indexer import committed_entry, entry_for_access

    entry = entry_for_access(
        AccessEvent(
            access_id="q-1",
            at_ms=1,
            actor="ig",
            roles=("IG_OFFICER",),
            action="report",
            parameters={"subject_linkage_key": "c0ffee" * 10},
        )
    )
    salt = bytes(range(32))
    committed = committed_entry(entry, salt=salt)
    assert committed.data == committed_leaf(salt, entry.data)
    assert committed.leaf_hash == leaf_hash(committed.data)
    assert committed.opening == entry.data == committed.record
    assert opens(committed.data, salt, entry.data)
    assert b"c0ffee" not in committed.data
    with pytest.raises(ValueError, match="already committed"):
        committed_entry(committed, salt=salt)
