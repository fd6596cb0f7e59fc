"""CP-IS on the access topic (issue 18): a clinician shown content granted by emergency access
is logged by CP-IS, sealed with its own key. The log enters a CP-IS-signed record only when
it is exactly that - a NOTICE_VIEWED naming its grant's request at the cpis-register desk -
and rejects anything else CP-IS signs there as WRONG_SIGNER, with the reason; the console's
events are entered as before."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.audit.indexer import EntryKind, SourcePosition, decode_rejected, entry_for_bytes
from services.console.domain.access import RefusalReason, Requester, access_refused_event
from services.console.domain.consultations import ConsultationPurpose, notice_viewed_event
from services.hubkit.audit_trail import (
    ACCESS_STREAM,
    delegated_problem,
    open_audit_record,
    seal_audit_record,
)
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_TOPIC,
    CPIS_PRINCIPAL,
    CPIS_REGISTER_SUBSCRIBER,
    load_topology,
)
from tests.audit.records import audit_records
from tests.factories import FIXED_NOW, POLICIES, catalog, notices

CATALOG = catalog()
TOPOLOGY = load_topology(POLICIES)
REGISTER = TOPOLOGY.subscriber(CPIS_REGISTER_SUBSCRIBER)
CPIS_KEY = SigningKey.generate(TOPOLOGY.agency("CPIS").principal)
CONSOLE_KEY = SigningKey.generate("console")
POLICE_KEY = SigningKey.generate("adapter-police")
KEYS = KeyDirectory.of([CPIS_KEY, CONSOLE_KEY, POLICE_KEY])
CLINICIAN = Requester("synthetic-clinician-0007", ("UNSCHEDULED_CARE_CLINICIAN",), REGISTER)
REQUEST_ID = "6c1f4d0e-2b8a-4f3e-9a71-0d5c2e8b7f10"
NOTICE_ID = "0e8f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
CHILD = "ab" * 32


def _view(**changes: Any) -> dict[str, Any]:
    """A clinician's view of granted content, as CP-IS writes it."""
    event = notice_viewed_event(
        access_id=str(uuid.uuid4()),
        requester=CLINICIAN,
        purpose=ConsultationPurpose.CASE_WORK,
        notice_id=NOTICE_ID,
        linkage_key=CHILD,
        source_agency="CHILDRENS_SERVICES",
        at=FIXED_NOW,
        break_glass_request_id=REQUEST_ID,
    )
    return {**event, **changes}


def _entry(data: bytes, topic: str = AUDIT_ACCESS_TOPIC) -> Any:
    return entry_for_bytes(CATALOG, data, keys=KEYS, source=SourcePosition(topic, 0, 5))


def _cpis_sealed(record: dict[str, Any]) -> bytes:
    # Sealed by hand, as a misbehaving CP-IS could: seal_audit_record refuses these.
    return seal(CATALOG, CATALOG.encode(MessageType.CONSOLE_ACCESS, record), CPIS_KEY, FIXED_NOW)


def test_a_cpis_signed_view_under_a_grant_at_the_register_is_entered() -> None:
    view = _view()
    data = seal_audit_record(CATALOG, ACCESS_STREAM, view, CPIS_KEY, FIXED_NOW)
    opened = open_audit_record(CATALOG, data, KEYS, topic=AUDIT_ACCESS_TOPIC)
    assert opened.stream is ACCESS_STREAM
    assert opened.key_id == CPIS_KEY.key_id
    entry = _entry(data)
    assert entry.kind is EntryKind.CONSOLE_ACCESS
    assert entry.entry_id == view["access_id"]
    assert entry.columns.event == "NOTICE_VIEWED"
    assert entry.columns.recipient_subscriber_id == CPIS_REGISTER_SUBSCRIBER
    assert entry.columns.subject_linkage_key == CHILD  # found by a subject access request


_OTHER_DESK = TOPOLOGY.subscriber("mash-manager")


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (_view(break_glass_request_id=None), "names no emergency access grant"),
        (
            _view(feed={**_view()["feed"], "subscriber_id": _OTHER_DESK.subscriber_id}),
            "a view at the mash-manager desk, not cpis-register",
        ),
        (
            access_refused_event(
                access_id=str(uuid.uuid4()),
                requester=CLINICIAN,
                reason=RefusalReason.NOT_IN_FEED,
                notice_id=None,
                at=FIXED_NOW,
            ),
            "the event is ACCESS_REFUSED, not NOTICE_VIEWED",
        ),
    ],
    ids=["view-without-grant", "view-at-another-desk", "refusal"],
)
def test_anything_else_cpis_signs_on_the_access_topic_is_rejected_with_its_reason(
    record: dict[str, Any], why: str
) -> None:
    assert delegated_problem(CPIS_PRINCIPAL, record) is not None
    with pytest.raises(ValueError, match="does not take this record from adapter-cpis"):
        seal_audit_record(CATALOG, ACCESS_STREAM, record, CPIS_KEY, FIXED_NOW)
    data = _cpis_sealed(record)
    with pytest.raises(AuditRecordRejected) as rejected:
        open_audit_record(CATALOG, data, KEYS, topic=AUDIT_ACCESS_TOPIC)
    assert rejected.value.reason == "WRONG_SIGNER"
    entry = _entry(data)
    assert entry.kind is EntryKind.REJECTED
    body = decode_rejected(entry.data)
    assert body["reason"] == "WRONG_SIGNER"
    assert body["claimed_signer"] == CPIS_PRINCIPAL
    assert why in body["detail"]
    assert "only for a view under emergency access at the cpis-register desk" in body["detail"]


def test_the_same_view_signed_by_another_agency_is_rejected_and_by_the_console_entered() -> None:
    view = _view()
    police = seal(CATALOG, CATALOG.encode(MessageType.CONSOLE_ACCESS, view), POLICE_KEY, FIXED_NOW)
    assert _entry(police).rejection == "WRONG_SIGNER"
    console = seal_audit_record(CATALOG, ACCESS_STREAM, view, CONSOLE_KEY, FIXED_NOW)
    assert _entry(console).kind is EntryKind.CONSOLE_ACCESS


def test_cpis_can_never_write_a_decision() -> None:
    decision = audit_records(notices(3).notice("SAFEGUARDING_CONTACT"))[0]
    data = seal(CATALOG, CATALOG.encode(MessageType.AUDIT_RECORD, decision), CPIS_KEY, FIXED_NOW)
    assert _entry(data, AUDIT_TOPIC).rejection == "WRONG_SIGNER"
    # Nor a decision on its own topic.
    assert _entry(data).rejection == "WRONG_SCHEMA"


def test_a_cpis_view_with_free_text_is_rejected_as_unbounded() -> None:
    data = _cpis_sealed(_view(actor="Dr Jane Example, ED"))
    assert _entry(data).rejection == "TEXT_NOT_BOUNDED"
