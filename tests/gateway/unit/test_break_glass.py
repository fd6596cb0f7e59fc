"""Emergency access (break-glass, issue 18) in the gateway, without a broker: only the
console's signed requests are read; a grant is exactly the paths asked for, on the desk's
feed, marked and audited as break-glass; never-paths, a desk that was not given the notice,
a role that may not ask and a notice not held are refused (ACCESS_REFUSED + dead letter)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from services.gateway.domain.break_glass import (
    BREAK_GLASS_REFUSED,
    AcceptedRequest,
    accept_request,
    grant_messages,
    grant_refusal,
    lawful_basis_of,
    refusal_messages,
)
from services.gateway.domain.intake import accept_notice
from services.gateway.domain.redaction import present_paths
from services.gateway.errors import NoticeRejected
from services.gateway.settings import GatewaySettings
from services.hubkit.break_glass import BREAK_GLASS_DATA, BreakGlassRules, grant_decision_id
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import encode_notice, to_json_value
from services.hubkit.topology import AUDIT_TOPIC, DEADLETTER_TOPIC, load_topology
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()
TOPOLOGY = load_topology(POLICIES)
RULES = BreakGlassRules.load(POLICIES)
BASIS = lawful_basis_of(json.loads((POLICIES / BREAK_GLASS_DATA).read_text()))
LIMITS = DisclosureLimits.load(POLICIES)
POLICE = TOPOLOGY.agency("POLICE")
CONSOLE_KEY = SigningKey.generate("console")
POLICE_KEY = SigningKey.generate(POLICE.principal)
KEYS = KeyDirectory.of([CONSOLE_KEY, POLICE_KEY])
DESK = TOPOLOGY.subscribers[0]
ASKED_AT = dt.datetime(2026, 11, 20, 23, 12, tzinfo=dt.UTC)
GRANTED_AT = ASKED_AT + dt.timedelta(seconds=2)
WANTED = ("detail.carer_contact", "narrative.full_account")


def _notice() -> dict[str, Any]:
    notice: dict[str, Any] = notices(seed=1818).notice("MISSING_EPISODE")
    assert notice["source"]["agency"] == "POLICE"
    return notice


def _request(notice: dict[str, Any], **changes: Any) -> dict[str, Any]:
    request = {
        "request_id": str(uuid.uuid4()),
        "notice_id": notice["notice_id"],
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "subscriber_id": DESK.subscriber_id,
        "requester_subject": "synthetic-subject-0001",
        "requester_role": "MASH_MANAGER",
        "reason": "CHILD_PRESENTING_NOW",
        "justification": "Child brought to ED at 23:05; need the carer contact now.",
        "requested_paths": list(WANTED),
        "requested_at": ASKED_AT,
    }
    return {**request, **changes}


def _sealed(request: dict[str, Any], key: SigningKey = CONSOLE_KEY) -> bytes:
    payload = CATALOG.encode(MessageType.BREAK_GLASS_REQUEST, request)
    return seal(CATALOG, payload, key, ASKED_AT)


def _accepted(request: dict[str, Any]) -> AcceptedRequest:
    return accept_request(
        catalog=CATALOG,
        keys=KEYS,
        key=request["subject_linkage_key"].encode(),
        value=_sealed(request),
    )


def _refusal(notice: dict[str, Any], request: dict[str, Any], desks: tuple[str, ...]) -> Any:
    return grant_refusal(
        rules=RULES, accepted=_accepted(request), notice=to_json_value(notice), disclosed_to=desks
    )


def test_a_console_request_is_accepted_and_any_other_signer_is_refused() -> None:
    notice = _notice()
    request = _request(notice)
    accepted = _accepted(request)
    assert accepted.request_id == request["request_id"]
    assert accepted.requested == WANTED
    key = request["subject_linkage_key"].encode()
    with pytest.raises(NoticeRejected) as police:
        accept_request(catalog=CATALOG, keys=KEYS, key=key, value=_sealed(request, POLICE_KEY))
    assert police.value.reason == "WRONG_SOURCE_TOPIC"
    assert "only the console" in police.value.detail
    stranger = SigningKey.generate("console")  # right name, key the hub does not trust
    with pytest.raises(NoticeRejected) as unknown:
        accept_request(catalog=CATALOG, keys=KEYS, key=key, value=_sealed(request, stranger))
    assert unknown.value.reason == "UNKNOWN_SIGNING_KEY"
    with pytest.raises(NoticeRejected) as elsewhere:
        accept_request(catalog=CATALOG, keys=KEYS, key=b"another-child", value=_sealed(request))
    assert elsewhere.value.reason == "RECORD_KEY_MISMATCH"


def test_a_grant_gives_exactly_the_paths_asked_for_marked_and_audited() -> None:
    notice = _notice()
    value = seal(CATALOG, encode_notice(CATALOG, notice), POLICE_KEY, ASKED_AT)
    read_back = accept_notice(
        catalog=CATALOG,
        keys=KEYS,
        agency=POLICE,
        key=notice["subject"]["linkage_key"].encode(),
        value=value,
    )
    request = _request(notice)
    accepted = _accepted(request)
    assert (
        grant_refusal(
            rules=RULES,
            accepted=accepted,
            notice=read_back.notice,
            disclosed_to=(DESK.subscriber_id,),
        )
        is None
    )
    audit, item = grant_messages(
        rules=RULES,
        lawful_basis=BASIS,
        accepted=accepted,
        notice=read_back,
        subscriber=DESK,
        agency_name=POLICE.name,
        relay_contact=GatewaySettings().relay_contact,
        safeguarding_contacts=LIMITS.safeguarding_contacts,
        silent=LIMITS.silent_paths,
        granted_at=GRANTED_AT,
    )
    decision_id = grant_decision_id(
        request_id=request["request_id"], subscriber_id=DESK.subscriber_id
    )
    assert (audit.topic, item.topic) == (AUDIT_TOPIC, DESK.feed_topic)
    assert audit.key == item.key == notice["subject"]["linkage_key"].encode()
    assert audit.signed
    assert item.signed

    view = json.loads(item.record["view_json"])
    assert present_paths(view) == frozenset(WANTED)
    assert view["detail"]["carer_contact"] == to_json_value(notice)["detail"]["carer_contact"]
    assert item.record["decision_id"] == audit.record["decision_id"] == decision_id
    assert item.record["outcome"] == "PARTIAL"
    assert item.record["purpose"] == "EMERGENCY_ACCESS"
    assert item.record["policy_revision"] == "break-glass"
    assert item.record["rule_ids"] == []
    assert item.record["lawful_basis"] == BASIS.as_record()
    assert item.record["break_glass"] == {
        "request_id": request["request_id"],
        "requester_subject": "synthetic-subject-0001",
        "requester_role": "MASH_MANAGER",
        "reason": "CHILD_PRESENTING_NOW",
        "expires_at": ASKED_AT + dt.timedelta(hours=RULES.grant_hours),
    }
    assert item.record["explanation"] == (
        f"Emergency access for a MASH manager until 03:12 UTC: "
        f"{RULES.reasons['CHILD_PRESENTING_NOW']}. Every view is recorded and {POLICE.name} "
        "has been told."
    )
    # The desk is told what else is held, never that a referrer exists.
    assert "referrer" not in item.record["fields_withheld"]
    assert "narrative.summary" in item.record["fields_withheld"]
    assert not set(WANTED) & set(item.record["fields_withheld"])

    record = audit.record
    assert record["event"] == "SHARING_DECISION"
    assert record["break_glass"] is True
    assert record["break_glass_justification"] == (
        "CHILD_PRESENTING_NOW: Child brought to ED at 23:05; need the carer contact now."
    )
    assert record["human_decision_maker"] == "MASH_MANAGER"
    assert record["human_rationale"] == RULES.reasons["CHILD_PRESENTING_NOW"]
    assert record["reason_code"] == "BREAK_GLASS"
    assert record["fields_disclosed"] == sorted(WANTED)
    assert "referrer" in record["fields_withheld"]  # the audit record keeps the full list
    assert record["originating_controller"] == notice["source"]["organisation_code"]
    assert record["recipient"]["subscriber_id"] == DESK.subscriber_id
    assert record["disclosed_at"] == GRANTED_AT
    # Both are valid records of their schemas.
    CATALOG.encode(MessageType.AUDIT_RECORD, record)
    CATALOG.encode(MessageType.FEED_ITEM, item.record)


@pytest.mark.parametrize("never", sorted(RULES.never_paths))
def test_never_paths_are_refused_even_with_a_good_reason(never: str) -> None:
    notice = _notice()
    request = _request(notice, requested_paths=[*WANTED, never])
    words = _refusal(notice, request, (DESK.subscriber_id,))
    assert words is not None
    assert "never who told" in words


def test_a_path_the_notice_does_not_hold_is_refused() -> None:
    notice = _notice()
    request = _request(notice, requested_paths=["detail.no_such_field"])
    assert _refusal(notice, request, (DESK.subscriber_id,)) is not None


def test_a_desk_that_was_not_given_the_notice_is_refused() -> None:
    notice = _notice()
    others = tuple(s.subscriber_id for s in TOPOLOGY.subscribers[1:])
    words = _refusal(notice, _request(notice), others)
    assert words is not None
    assert "your desk was not given this notice" in words
    assert _refusal(notice, _request(notice), (*others, DESK.subscriber_id)) is None


def test_a_role_that_may_not_ask_and_a_notice_not_held_are_refused() -> None:
    notice = _notice()
    practitioner = _request(notice, requester_role="SOCIAL_WORKER")
    assert _refusal(notice, practitioner, (DESK.subscriber_id,)) == (
        "your role may not use emergency access"
    )
    accepted = _accepted(_request(notice))
    missing = grant_refusal(
        rules=RULES, accepted=accepted, notice=None, disclosed_to=(DESK.subscriber_id,)
    )
    assert missing is not None
    another_child = {**to_json_value(notice), "subject": {"linkage_key": "another-child"}}
    assert (
        grant_refusal(
            rules=RULES, accepted=accepted, notice=another_child, disclosed_to=(DESK.subscriber_id,)
        )
        is not None
    )


def test_a_refusal_is_audited_for_the_desk_and_dead_lettered_with_the_request() -> None:
    notice = _notice()
    request = _request(notice)
    value = _sealed(request)
    accepted = _accepted(request)
    audit, letter = refusal_messages(
        words="your desk was not given this notice, so emergency access cannot widen it",
        accepted=accepted,
        subscriber=DESK,
        source_topic="breakglass.requests.v1",
        source_partition=0,
        source_offset=7,
        key=request["subject_linkage_key"].encode(),
        value=value,
        refused_at=GRANTED_AT,
    )
    assert (audit.topic, letter.topic) == (AUDIT_TOPIC, DEADLETTER_TOPIC)
    assert audit.record["event"] == "ACCESS_REFUSED"
    assert audit.record["reason_code"] == BREAK_GLASS_REFUSED
    assert audit.record["recipient"]["subscriber_id"] == DESK.subscriber_id
    assert audit.record["explanation"].startswith("your desk was not given")
    assert audit.record["fields_disclosed"] == []
    assert audit.record["break_glass"] is False  # nothing was disclosed
    assert letter.record["reason"] == BREAK_GLASS_REFUSED
    assert letter.record["original_value"] == value
    CATALOG.encode(MessageType.AUDIT_RECORD, audit.record)
    CATALOG.encode(MessageType.DEAD_LETTER, letter.record)
