"""Retractions in the gateway (issue 18), without a broker: intake's binding checks, what
DecidedNotices keeps of a decided notice for a retraction (who got a feed item, its key, its
type) and reads back from its NoticeSeen, the delivery rules and the records delivered: only
the original's recipients, never one given DENY."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.gateway.domain.intake import (
    AcceptedNotice,
    AcceptedRetraction,
    accept_message,
    accept_notice,
)
from services.gateway.domain.pipeline import messages_for_decisions
from services.gateway.domain.replay import (
    DecidedCopy,
    DecidedNotices,
    decided_copy_of,
    notice_seen_record,
    subject_key_of,
    subject_key_sha256,
)
from services.gateway.domain.retraction import (
    disclosed_to_of,
    messages_for_retraction,
    retraction_rejection,
)
from services.gateway.errors import NoticeRejected
from services.gateway.settings import GatewaySettings
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import encode_notice, notice_id_for, to_json_value
from services.hubkit.retraction import (
    RetractionReason,
    delivery_decision_id,
    encode_retraction,
    new_retraction,
    retraction_id_for,
)
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from services.hubkit.topology import AUDIT_TOPIC, NOTICES_SEEN_TOPIC, AgencyEntry, load_topology
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()
TOPOLOGY = load_topology(POLICIES)
SUBSCRIBERS = {s.subscriber_id: s for s in TOPOLOGY.subscribers}
POLICE = TOPOLOGY.agency("POLICE")
HEALTH = TOPOLOGY.agency("HEALTH")
AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
POLICE_KEY = SigningKey.generate("adapter-police")
HEALTH_KEY = SigningKey.generate("adapter-health")
KEYS = KeyDirectory.of([POLICE_KEY, HEALTH_KEY])
PARTITION = (POLICE.topic, 2)


def _notice() -> dict[str, Any]:
    notice: dict[str, Any] = notices(seed=31).notice("MISSING_EPISODE")
    assert notice["source"]["agency"] == "POLICE"
    return notice


def _retraction(notice: dict[str, Any], **changes: Any) -> dict[str, Any]:
    retraction = new_retraction(
        agency=notice["source"]["agency"],
        organisation_code=notice["source"]["organisation_code"],
        source_reference=notice["source"]["source_reference"],
        subject_linkage_key=notice["subject"]["linkage_key"],
        reason=RetractionReason.WRONG_CHILD,
        retracted_at=AT,
    )
    return {**retraction, **changes}


def _sealed(retraction: dict[str, Any], key: SigningKey = POLICE_KEY) -> bytes:
    return seal(CATALOG, encode_retraction(CATALOG, retraction), key, AT)


def _accept(
    retraction: dict[str, Any],
    *,
    key: SigningKey = POLICE_KEY,
    agency: AgencyEntry = POLICE,
    record_key: bytes | None = None,
) -> AcceptedNotice | AcceptedRetraction:
    value = _sealed(retraction, key)
    return accept_message(
        catalog=CATALOG,
        keys=KEYS,
        agency=agency,
        key=record_key or str(retraction["subject_linkage_key"]).encode(),
        value=value,
    )


def _reason(retraction: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(NoticeRejected) as caught:
        _accept(retraction, **kwargs)
    return caught.value.reason


# --- intake ---------------------------------------------------------------------------------


def test_a_retraction_bound_to_its_agency_notice_and_key_is_accepted() -> None:
    notice = _notice()
    accepted = _accept(_retraction(notice))
    assert isinstance(accepted, AcceptedRetraction)
    assert accepted.retracted_notice_id == notice["notice_id"]
    assert accepted.retraction_id == retraction_id_for(notice["notice_id"])
    assert accepted.signer == "adapter-police"
    assert len(accepted.payload_sha256) == 32
    assert len(accepted.envelope_sha256) == 32


def test_a_notice_on_the_same_topic_is_still_a_notice() -> None:
    notice = _notice()
    value = seal(CATALOG, encode_notice(CATALOG, notice), POLICE_KEY, AT)
    accepted = accept_message(
        catalog=CATALOG,
        keys=KEYS,
        agency=POLICE,
        key=str(notice["subject"]["linkage_key"]).encode(),
        value=value,
    )
    assert isinstance(accepted, AcceptedNotice)


def test_accept_notice_alone_refuses_a_retraction() -> None:
    retraction = _retraction(_notice())
    with pytest.raises(NoticeRejected) as caught:
        accept_notice(
            catalog=CATALOG,
            keys=KEYS,
            agency=POLICE,
            key=retraction["subject_linkage_key"].encode(),
            value=_sealed(retraction),
        )
    assert caught.value.reason == "MALFORMED_PAYLOAD"


def test_signed_by_another_agency_is_refused() -> None:
    retraction = _retraction(_notice())
    # Health's key on the police topic: the topic's owner did not sign it.
    assert _reason(retraction, key=HEALTH_KEY) == "WRONG_SOURCE_TOPIC"
    # Health signing on its own topic, naming the police notice: not Health's to withdraw.
    assert _reason(retraction, key=HEALTH_KEY, agency=HEALTH) == "WRONG_SOURCE_TOPIC"


def test_another_agencys_notice_id_cannot_be_withdrawn() -> None:
    notice = _notice()
    # Health names itself as the source but the police notice's id.
    retraction = _retraction(
        notice,
        source={**notice["source"], "agency": "HEALTH", "organisation_code": HEALTH.organisation},
    )
    assert _reason(retraction, key=HEALTH_KEY, agency=HEALTH) == "NOTICE_ID_NOT_BOUND"


def test_organisation_retraction_id_and_record_key_are_bound() -> None:
    notice = _notice()
    other_org = _retraction(notice, source={**notice["source"], "organisation_code": "POL-ZZ99"})
    assert _reason(other_org) == "WRONG_ORGANISATION"
    wrong_id = _retraction(notice, retraction_id=retraction_id_for(IDS_OTHER))
    assert _reason(wrong_id) == "NOTICE_ID_NOT_BOUND"
    assert _reason(_retraction(notice), record_key=b"another-child") == "RECORD_KEY_MISMATCH"


IDS_OTHER = notice_id_for(agency="POLICE", organisation_code="POL-XX01", source_reference="x-1")


# --- what is kept of a decided notice ---------------------------------------------------------


def _accepted_notice(notice: dict[str, Any], payload: bytes = b"\x01" * 32) -> AcceptedNotice:
    return AcceptedNotice(
        notice=to_json_value(notice),
        envelope_sha256=b"\x02" * 32,
        payload_sha256=payload,
        signer="adapter-police",
    )


def test_a_claimed_notice_is_an_original_only_once_decided_and_only_before_the_retraction() -> None:
    notice = _notice()
    decided = DecidedNotices()
    decided.claim(PARTITION, _accepted_notice(notice), 10)
    claimed = decided.original(PARTITION, notice["notice_id"], 11)
    assert claimed is not None
    assert claimed.disclosed_to is None
    decided.decided(PARTITION, notice["notice_id"], ("police-mash", "la-csc-front-door"))
    original = decided.original(PARTITION, notice["notice_id"], 11)
    assert original is not None
    assert original.disclosed_to == ("police-mash", "la-csc-front-door")
    assert original.notice_type == "MISSING_EPISODE"
    assert original.subject_key == subject_key_of(
        subject_key_sha256(notice["subject"]["linkage_key"])
    )
    # A retraction read before the notice does not see it; nor one on another partition.
    assert decided.original(PARTITION, notice["notice_id"], 9) is None
    assert decided.original((POLICE.topic, 0), notice["notice_id"], 11) is None
    decided.rewind(PARTITION, 10)
    assert decided.original(PARTITION, notice["notice_id"], 11) is None


def test_notice_seen_round_trip_keeps_recipients_key_and_type_shared_in_memory() -> None:
    decided = DecidedNotices()
    first, second = _notice(), notices(seed=32).notice("MISSING_EPISODE")
    recipients = ("police-mash", "la-csc-front-door")
    for offset, notice in enumerate((first, second)):
        record = notice_seen_record(
            accepted=_accepted_notice(notice),
            copy=DecidedCopy(b"\x01" * 32, *PARTITION, offset),
            decided_at=AT,
            disclosed_to=tuple(s.upper().lower() for s in recipients),  # distinct str objects
        )
        read = CATALOG.decode(
            CATALOG.encode(MessageType.NOTICE_SEEN, record), MessageType.NOTICE_SEEN
        )
        decided.remember(*decided_copy_of(read))
    a = decided.original(PARTITION, first["notice_id"], 99)
    b = decided.original(PARTITION, second["notice_id"], 99)
    assert a is not None
    assert b is not None
    assert a.disclosed_to == recipients
    assert a.notice_type == "MISSING_EPISODE"
    assert a.disclosed_to is b.disclosed_to  # one tuple for every notice with these recipients
    assert a.subject_key == subject_key_of(subject_key_sha256(first["subject"]["linkage_key"]))


def test_a_record_from_before_retractions_reads_as_disclosed_to_nobody() -> None:
    old = {
        "notice_id": IDS_OTHER,
        "payload_sha256": b"\x01" * 32,
        "envelope_sha256": b"\x02" * 32,
        "source_topic": POLICE.topic,
        "source_partition": 2,
        "source_offset": 5,
        "decided_at": AT,
    }
    _, copy = decided_copy_of(old)
    assert copy.disclosed_to == ()
    assert copy.subject_key is None
    assert copy.notice_type is None


def test_a_delivered_retraction_is_a_duplicate_the_second_time() -> None:
    notice = _notice()
    accepted = _accept(_retraction(notice))
    assert isinstance(accepted, AcceptedRetraction)
    decided = DecidedNotices()
    decided.claim_retraction(PARTITION, accepted, 20)
    with pytest.raises(NoticeRejected) as caught:
        decided.claim_retraction(PARTITION, accepted, 21)
    assert caught.value.reason == "DUPLICATE_NOTICE"
    # Read back after a restart: still refused.
    restarted = DecidedNotices()
    record = notice_seen_record(
        accepted=accepted, copy=DecidedCopy(accepted.payload_sha256, *PARTITION, 20), decided_at=AT
    )
    assert record["notice_id"] == accepted.retraction_id
    assert record["disclosed_to"] == []
    restarted.remember(*decided_copy_of(record))
    with pytest.raises(NoticeRejected) as again:
        restarted.claim_retraction(PARTITION, accepted, 40)
    assert again.value.reason == "DUPLICATE_NOTICE"
    changed = _accept(_retraction(notice, reason="ENTERED_IN_ERROR"))
    assert isinstance(changed, AcceptedRetraction)
    with pytest.raises(NoticeRejected) as conflicting:
        restarted.claim_retraction(PARTITION, changed, 41)
    assert conflicting.value.reason == "CONFLICTING_NOTICE"


# --- delivery rules ---------------------------------------------------------------------------


def _original(notice: dict[str, Any], disclosed_to: tuple[str, ...], **changes: Any) -> DecidedCopy:
    copy = DecidedCopy(
        b"\x01" * 32,
        *PARTITION,
        7,
        disclosed_to=disclosed_to,
        subject_key=subject_key_of(subject_key_sha256(notice["subject"]["linkage_key"])),
        notice_type=notice["notice_type"],
    )
    return DecidedCopy(**{**{f: getattr(copy, f) for f in copy.__slots__}, **changes})


def _accepted_retraction(notice: dict[str, Any], **changes: Any) -> AcceptedRetraction:
    accepted = _accept(_retraction(notice, **changes))
    assert isinstance(accepted, AcceptedRetraction)
    return accepted


def test_unknown_notice_and_key_mismatch_are_refused() -> None:
    notice = _notice()
    accepted = _accepted_retraction(notice)
    unknown = retraction_rejection(accepted=accepted, original=None, partition=PARTITION)
    assert unknown is not None
    assert unknown.reason == "RETRACTION_OF_UNKNOWN_NOTICE"
    assert unknown.notice_id == notice["notice_id"]
    other_child = _original(
        notice, ("police-mash",), subject_key=subject_key_of(subject_key_sha256("x"))
    )
    mismatch = retraction_rejection(accepted=accepted, original=other_child, partition=PARTITION)
    assert mismatch is not None
    assert mismatch.reason == "RETRACTION_KEY_MISMATCH"
    same = _original(notice, ("police-mash",))
    assert retraction_rejection(accepted=accepted, original=same, partition=PARTITION) is None


def test_a_notice_recorded_without_its_key_is_checked_by_partition() -> None:
    notice = _notice()
    accepted = _accepted_retraction(notice)
    legacy = _original(notice, ("police-mash",), subject_key=None)
    assert retraction_rejection(accepted=accepted, original=legacy, partition=PARTITION) is None
    elsewhere = retraction_rejection(
        accepted=accepted, original=legacy, partition=(POLICE.topic, 0)
    )
    assert elsewhere is not None
    assert elsewhere.reason == "RETRACTION_KEY_MISMATCH"


BASIS = LawfulBasis(
    article6="UK GDPR Art 6(1)(e) public task",
    special_category_condition=None,
    dpa_part3=None,
    statutory_gateway="Children Act 2004 s11",
    criminal_offence_condition=None,
    recipient_basis=None,
)


def _decision(
    subscriber_id: str, outcome: SharingOutcome, fields: tuple[str, ...]
) -> SharingDecision:
    return SharingDecision(
        subscriber_id=subscriber_id,
        outcome=outcome,
        permitted_fields=fields,
        purpose="SAFEGUARDING_TRIAGE",
        lawful_basis=BASIS,
        isa_clause="ISA-4.1",
        rule_ids=("R1",),
        explanation="test decision",
    )


def test_delivered_to_exactly_the_recipients_given_a_feed_item_never_a_deny() -> None:
    notice = to_json_value(_notice())
    ids = [s.subscriber_id for s in TOPOLOGY.subscribers]
    assert len(ids) >= 4
    # Alternate: a flag for some, DENY (or nothing permitted) for the rest.
    decisions = {
        sid: _decision(sid, SharingOutcome.FLAG_ONLY, ("notice_type",))
        if i % 2 == 0
        else _decision(sid, SharingOutcome.DENY, ())
        for i, sid in enumerate(ids)
    }
    decided = messages_for_decisions(
        accepted=_accepted_notice(notice),
        decisions=decisions,
        topology=TOPOLOGY,
        limits=DisclosureLimits.load(POLICIES),
        policy_revision="r1",
        decided_at=AT,
        relay_contact=GatewaySettings().relay_contact,
    )
    fed = {
        m.record["subscriber_id"]
        for m in decided.messages
        if m.message_type is MessageType.FEED_ITEM
    }
    denied = {d.subscriber_id for d in decided.decisions if not d.discloses}
    assert fed
    assert denied
    recipients = disclosed_to_of(decided.decisions)
    assert set(recipients) == fed

    accepted = _accepted_retraction(notice)
    copy = DecidedCopy(accepted.payload_sha256, *PARTITION, 30)
    messages = messages_for_retraction(
        accepted=accepted,
        original=_original(notice, recipients),
        subscribers=SUBSCRIBERS,
        copy=copy,
        delivered_at=AT,
    )
    feed = [m for m in messages if m.message_type is MessageType.FEED_RETRACTION]
    audit = [m for m in messages if m.message_type is MessageType.AUDIT_RECORD]
    assert {m.record["subscriber_id"] for m in feed} == fed
    assert not {m.record["subscriber_id"] for m in feed} & denied
    assert {m.topic for m in feed} == {SUBSCRIBERS[s].feed_topic for s in fed}
    assert {m.record["recipient"]["subscriber_id"] for m in audit} == fed
    linkage = notice["subject"]["linkage_key"].encode()
    assert all(m.key == linkage and m.signed for m in feed + audit)
    for m in feed:
        assert m.record["decision_id"] == delivery_decision_id(
            retraction_id=accepted.retraction_id, subscriber_id=m.record["subscriber_id"]
        )
        assert m.record["notice_id"] == notice["notice_id"]
        assert m.record["reason"] == "WRONG_CHILD"
        assert m.record["source_agency"] == "POLICE"
        CATALOG.encode(MessageType.FEED_RETRACTION, m.record)  # schema-valid
    for m in audit:
        record = m.record
        assert record["event"] == "RETRACTION_DELIVERED"
        assert record["notice_id"] == notice["notice_id"]
        assert record["notice_type"] == "MISSING_EPISODE"
        assert record["outcome"] is None
        assert record["reason_code"] == "WRONG_CHILD"
        assert record["policy_revision"] == "none"
        assert record["fields_disclosed"] == []
        assert record["disclosed_at"] == AT
        assert record["explanation"] == (
            "Withdrawn by Police: wrong child; the record of the original disclosure is kept"
        )
        CATALOG.encode(MessageType.AUDIT_RECORD, record)
    seen = messages[-1]
    assert seen.topic == NOTICES_SEEN_TOPIC
    assert seen.message_type is MessageType.NOTICE_SEEN
    assert seen.key == accepted.retraction_id.encode()
    assert not seen.signed
    assert seen.record["disclosed_to"] == []
    assert seen.record["notice_id"] == accepted.retraction_id
    assert len(messages) == 2 * len(fed) + 1
    assert all(
        m.topic in (AUDIT_TOPIC, NOTICES_SEEN_TOPIC) or m.topic.startswith("feed.")
        for m in messages
    )


def test_nothing_of_the_original_content_is_delivered() -> None:
    notice = to_json_value(_notice())
    accepted = _accepted_retraction(notice)
    messages = messages_for_retraction(
        accepted=accepted,
        original=_original(notice, tuple(SUBSCRIBERS)),
        subscribers=SUBSCRIBERS,
        copy=DecidedCopy(accepted.payload_sha256, *PARTITION, 30),
        delivered_at=AT,
    )
    narrative = notice["narrative"]["summary"]
    assert narrative
    assert not any(narrative in repr(m.record) for m in messages)


def test_a_recipient_no_longer_subscribed_gets_nothing_and_nobody_else_is_added() -> None:
    notice = to_json_value(_notice())
    accepted = _accepted_retraction(notice)
    one = next(iter(SUBSCRIBERS))
    messages = messages_for_retraction(
        accepted=accepted,
        original=_original(notice, (one, "a-subscriber-since-removed")),
        subscribers=SUBSCRIBERS,
        copy=DecidedCopy(accepted.payload_sha256, *PARTITION, 30),
        delivered_at=AT,
    )
    feed = [m for m in messages if m.message_type is MessageType.FEED_RETRACTION]
    assert [m.record["subscriber_id"] for m in feed] == [one]
