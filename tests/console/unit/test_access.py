"""Refusals become ACCESS_REFUSED audit records that name no child."""

from __future__ import annotations

import uuid

from services.console.domain.access import (
    RefusalReason,
    Requester,
    access_refused_record,
    well_formed_notice_id,
)
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import load_topology
from tests.console.factories import NOW

TOPOLOGY = load_topology(REPO_ROOT / "policies")
CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")


def test_a_refusal_is_a_valid_audit_record() -> None:
    social_worker = TOPOLOGY.subscriber("responsible-la")
    notice_id = str(uuid.uuid4())
    record = access_refused_record(
        refusal_id=str(uuid.uuid4()),
        requester=Requester("user-123", ("SOCIAL_WORKER",), social_worker),
        reason=RefusalReason.NOT_IN_FEED,
        notice_id=notice_id,
        at=NOW,
    )
    decoded = CATALOG.decode(
        CATALOG.encode(MessageType.AUDIT_RECORD, record), MessageType.AUDIT_RECORD
    )
    assert decoded["event"] == "ACCESS_REFUSED"
    assert decoded["outcome"] == "DENY"
    assert decoded["reason_code"] == "NOT_IN_FEED"
    assert decoded["notice_id"] == notice_id
    assert decoded["recipient"]["subscriber_id"] == "responsible-la"
    assert decoded["subject_linkage_key"] is None
    assert decoded["fields_disclosed"] == []
    assert "user-123" in decoded["explanation"]
    assert "Social worker" in decoded["explanation"]
    assert decoded["retention_review_date"].year == NOW.year + 6


def test_a_person_without_a_feed_is_recorded_without_a_recipient() -> None:
    record = access_refused_record(
        refusal_id=str(uuid.uuid4()),
        requester=Requester("user-9", ("IG_OFFICER",), None),
        reason=RefusalReason.NO_FEED_FOR_ROLE,
        notice_id=None,
        at=NOW,
    )
    CATALOG.encode(MessageType.AUDIT_RECORD, record)
    assert record["recipient"] is None


def test_only_well_formed_notice_ids_reach_the_audit_log() -> None:
    assert well_formed_notice_id("6F1D3C2E-8A4B-5C6D-9E0F-5AFE5AFE0001") == (
        "6f1d3c2e-8a4b-5c6d-9e0f-5afe5afe0001"
    )
    assert well_formed_notice_id("<script>alert(1)</script>") is None
    assert well_formed_notice_id("") is None
