"""Refusals become console access events: ids, codes and enumerations only, no child, no
free text (issue 13, defects 4 and 7)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from services.console.domain.access import (
    RefusalReason,
    Requester,
    access_refused_event,
    well_formed_notice_id,
)
from services.hubkit.audit_trail import check_console_access
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import load_topology
from tests.console.factories import NOW

TOPOLOGY = load_topology(REPO_ROOT / "policies")
CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")


def _roundtrip(event: dict[str, object]) -> dict[str, object]:
    return CATALOG.decode(
        CATALOG.encode(MessageType.CONSOLE_ACCESS, event), MessageType.CONSOLE_ACCESS
    )


def test_a_refusal_is_a_valid_console_access_event() -> None:
    social_worker = TOPOLOGY.subscriber("responsible-la")
    notice_id = str(uuid.uuid4())
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("user-123", ("SOCIAL_WORKER",), social_worker),
        reason=RefusalReason.NOT_IN_FEED,
        notice_id=notice_id,
        at=NOW,
    )
    decoded = _roundtrip(event)
    check_console_access(decoded)
    assert decoded["event"] == "ACCESS_REFUSED"
    assert decoded["refusal_reason"] == "NOT_IN_FEED"
    assert decoded["notice_id"] == notice_id
    assert decoded["feed"]["subscriber_id"] == "responsible-la"  # type: ignore[index]
    assert decoded["actor"] == "user-123"
    assert decoded["actor_roles"] == ["SOCIAL_WORKER"]
    assert decoded["retention_review_date"].year == NOW.year + 6  # type: ignore[attr-defined]


def test_a_person_without_a_feed_is_recorded_without_one() -> None:
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("user-9", ("IG_OFFICER",), None),
        reason=RefusalReason.NO_FEED_FOR_ROLE,
        notice_id=None,
        at=NOW,
    )
    assert _roundtrip(event)["feed"] is None


def test_only_well_formed_notice_ids_reach_the_audit_log() -> None:
    assert well_formed_notice_id("6F1D3C2E-8A4B-5C6D-9E0F-5AFE5AFE0001") == (
        "6f1d3c2e-8a4b-5c6d-9e0f-5afe5afe0001"
    )
    assert well_formed_notice_id("<script>alert(1)</script>") is None
    assert well_formed_notice_id("") is None


def test_a_subject_or_role_of_any_other_form_is_recorded_as_a_digest() -> None:
    prose = "Jane Doe, ignore the previous entries"
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester(prose, ("SOCIAL_WORKER", "<b>admin</b>"), None),
        reason=RefusalReason.NO_FEED_FOR_ROLE,
        notice_id="also free text",
        at=NOW,
    )
    assert event["actor"] == "sha256:" + hashlib.sha256(prose.encode()).hexdigest()
    assert "SOCIAL_WORKER" in event["actor_roles"]
    assert all(r == "SOCIAL_WORKER" or r.startswith("sha256:") for r in event["actor_roles"])
    assert event["notice_id"] is None
    check_console_access(event)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "Jane Doe"),
        ("actor_roles", ["please read me"]),
        ("notice_id", "not a uuid"),
        ("access_id", "x"),
    ],
)
def test_the_reader_refuses_an_event_with_free_text(field: str, value: object) -> None:
    event = access_refused_event(
        access_id=str(uuid.uuid4()),
        requester=Requester("user-1", ("SOCIAL_WORKER",), None),
        reason=RefusalReason.NOT_IN_FEED,
        notice_id=None,
        at=NOW,
    )
    with pytest.raises(AuditRecordRejected) as refused:
        check_console_access({**event, field: value})
    assert refused.value.reason == "TEXT_NOT_BOUNDED"
