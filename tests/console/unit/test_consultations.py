"""The consultation log's events (issue 16, item 7): who, when, what and why, in bounded
forms only, accepted by the audit log's own check, and refused by it with free text in."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from services.console.domain.access import Requester
from services.console.domain.consultations import (
    NOTICE_IDS_LISTED,
    ConsultationPurpose,
    child_viewed_event,
    consultation_purpose,
    danger_acknowledged_event,
    decision_amended_event,
    notice_ids_digest,
    notice_viewed_event,
)
from services.hubkit.audit_trail import check_console_access
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import load_topology
from tests.console.factories import CHILD, NOW, OTHER_CHILD

TOPOLOGY = load_topology(REPO_ROOT / "policies")
CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
MANAGER = Requester("u-manager", ("MASH_MANAGER",), TOPOLOGY.subscriber("mash-manager"))


def _roundtrip(event: dict[str, Any]) -> dict[str, Any]:
    decoded = CATALOG.decode(
        CATALOG.encode(MessageType.CONSOLE_ACCESS, event), MessageType.CONSOLE_ACCESS
    )
    check_console_access(decoded)
    return decoded


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"n{i}")) for i in range(n)]


def test_a_notice_view_says_who_what_and_why() -> None:
    notice_id = _ids(1)[0]
    event = _roundtrip(
        notice_viewed_event(
            access_id=str(uuid.uuid4()),
            requester=MANAGER,
            purpose=ConsultationPurpose.MASH_TRIAGE,
            notice_id=notice_id,
            linkage_key=CHILD,
            source_agency="POLICE",
            at=NOW,
        )
    )
    assert (event["event"], event["notice_id"], event["actor"]) == (
        "NOTICE_VIEWED",
        notice_id,
        "u-manager",
    )
    assert event["feed"]["subscriber_id"] == "mash-manager"
    consultation = event["consultation"]
    assert consultation["purpose"] == "MASH_TRIAGE"
    assert consultation["subject_linkage_key"] == CHILD
    assert (consultation["notice_ids"], consultation["notice_count"]) == ([notice_id], 1)
    assert consultation["source_agencies"] == ["POLICE"]
    assert event["amendment"] is None


def test_a_long_chronology_is_recorded_by_count_and_digest() -> None:
    ids = _ids(NOTICE_IDS_LISTED + 1)
    shown = [(n, CHILD if i % 2 else OTHER_CHILD, "HEALTH") for i, n in enumerate(ids)]
    event = _roundtrip(
        child_viewed_event(
            access_id=str(uuid.uuid4()),
            requester=MANAGER,
            purpose=ConsultationPurpose.CHILD_SEARCH,
            child_key=CHILD,
            shown=shown,
            at=NOW,
        )
    )
    consultation = event["consultation"]
    assert consultation["notice_ids"] == []  # bounded: not listed...
    assert consultation["notice_count"] == NOTICE_IDS_LISTED + 1
    expected = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    assert consultation["notice_ids_sha256"] == f"sha256:{expected}"  # ...but provable
    assert consultation["child_keys"] == sorted([CHILD, OTHER_CHILD])
    assert notice_ids_digest(reversed(ids)) == f"sha256:{expected}"
    short = child_viewed_event(
        access_id=str(uuid.uuid4()),
        requester=MANAGER,
        purpose=ConsultationPurpose.MASH_TRIAGE,
        child_key=CHILD,
        shown=shown[:3],
        at=NOW,
        live_update=True,
    )
    assert _roundtrip(short)["consultation"]["notice_ids"] == sorted(ids[:3])
    assert short["consultation"]["live_update"] is True


def test_the_purpose_comes_from_who_is_looking_and_how_they_got_there() -> None:
    manager, navigator, social = (
        TOPOLOGY.subscriber(s) for s in ("mash-manager", "mash-health-navigator", "responsible-la")
    )
    assert consultation_purpose(subscriber=manager, may_decide=True, from_search=False) == (
        ConsultationPurpose.MASH_TRIAGE
    )
    assert consultation_purpose(subscriber=navigator, may_decide=False, from_search=False) == (
        ConsultationPurpose.PARTNER_RESEARCH
    )
    assert consultation_purpose(subscriber=social, may_decide=False, from_search=False) == (
        ConsultationPurpose.CASE_WORK
    )
    assert consultation_purpose(subscriber=social, may_decide=False, from_search=True) == (
        ConsultationPurpose.CHILD_SEARCH
    )


def test_an_amendment_records_the_decisions_and_only_a_digest_of_the_reason() -> None:
    reason = "Jodie Example's school called back: the earlier RAG was wrong."
    old, new = _ids(2)
    event = decision_amended_event(
        requester=MANAGER,
        amended_decision_id=old,
        amendment_decision_id=new,
        child_key=CHILD,
        reason=reason,
        at=NOW,
    )
    decoded = _roundtrip(event)
    assert decoded["amendment"]["amended_decision_id"] == old
    assert decoded["amendment"]["amendment_decision_id"] == new
    assert "Jodie" not in repr(decoded)
    again = decision_amended_event(
        requester=MANAGER,
        amended_decision_id=old,
        amendment_decision_id=new,
        child_key=CHILD,
        reason=reason,
        at=NOW,
    )
    assert again["access_id"] == event["access_id"]  # a resubmitted form: the same entry


def test_an_acknowledged_alert_is_a_consultation_of_that_notice() -> None:
    notice_id = _ids(1)[0]
    event = _roundtrip(
        danger_acknowledged_event(
            access_id=str(uuid.uuid4()),
            requester=MANAGER,
            purpose=ConsultationPurpose.MASH_TRIAGE,
            notice_id=notice_id,
            linkage_key=CHILD,
            source_agency="POLICE",
            at=NOW,
        )
    )
    assert event["event"] == "DANGER_ACKNOWLEDGED"
    assert event["consultation"]["notice_ids"] == [notice_id]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("subject_linkage_key", "Avery Dunmore", "child key"),
        ("notice_ids", ["Avery Dunmore"], "notice id"),
        ("source_agencies", ["a note about Avery"], "source agency"),
        ("notice_ids_sha256", "abc", "digest"),
    ],
)
def test_the_audit_log_refuses_free_text_in_a_consultation(
    field: str, value: Any, problem: str
) -> None:
    event = notice_viewed_event(
        access_id=str(uuid.uuid4()),
        requester=MANAGER,
        purpose=ConsultationPurpose.MASH_TRIAGE,
        notice_id=_ids(1)[0],
        linkage_key=CHILD,
        source_agency="POLICE",
        at=NOW,
    )
    event["consultation"][field] = value
    with pytest.raises(AuditRecordRejected, match=problem):
        check_console_access(event)


def test_a_view_without_what_was_shown_or_with_it_on_another_event_is_refused() -> None:
    event = notice_viewed_event(
        access_id=str(uuid.uuid4()),
        requester=MANAGER,
        purpose=ConsultationPurpose.MASH_TRIAGE,
        notice_id=_ids(1)[0],
        linkage_key=CHILD,
        source_agency="POLICE",
        at=NOW,
    )
    with pytest.raises(AuditRecordRejected, match="without what was shown"):
        check_console_access({**event, "consultation": None})
    with pytest.raises(AuditRecordRejected, match="consultation on a ACCESS_REFUSED"):
        check_console_access({**event, "event": "ACCESS_REFUSED"})
    with pytest.raises(AuditRecordRejected, match="amendment without"):
        check_console_access({**event, "event": "DECISION_AMENDED", "consultation": None})
