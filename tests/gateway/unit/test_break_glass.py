"""Emergency access (break-glass, issue 18) in the gateway, without a broker: only the
console's signed requests are read; a grant is exactly the paths asked for, on the desk's
feed, marked and audited as break-glass; never-paths, a desk that was not given the notice,
a role that may not ask and a notice not held are refused (ACCESS_REFUSED + dead letter, and
the asking desk told on its feed). A grant also tells the owning agency's alert desk (a
BreakGlassAlert holding no value of the notice, and its own audit record); the alert desks
are IG data, checked against the subscribers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.gateway.domain.break_glass import (
    BREAK_GLASS_REFUSED,
    AcceptedRequest,
    accept_request,
    alert_messages,
    grant_messages,
    grant_refusal,
    lawful_basis_of,
    refusal_messages,
)
from services.gateway.domain.intake import accept_notice
from services.gateway.domain.redaction import present_paths
from services.gateway.errors import NoticeRejected
from services.gateway.settings import GatewaySettings
from services.hubkit.break_glass import (
    BREAK_GLASS_DATA,
    NO_ALERT_DESK,
    BreakGlassRules,
    BreakGlassRulesInvalid,
    alert_id,
    grant_decision_id,
)
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
DESK = TOPOLOGY.subscriber("mash-manager")  # the console asks for its MASH manager only
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
        rules=RULES,
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
        accept_request(
            catalog=CATALOG, keys=KEYS, rules=RULES, key=key, value=_sealed(request, POLICE_KEY)
        )
    assert police.value.reason == "WRONG_SOURCE_TOPIC"
    assert "only adapter-cpis or console may ask" in police.value.detail
    stranger = SigningKey.generate("console")  # right name, key the hub does not trust
    with pytest.raises(NoticeRejected) as unknown:
        accept_request(
            catalog=CATALOG, keys=KEYS, rules=RULES, key=key, value=_sealed(request, stranger)
        )
    assert unknown.value.reason == "UNKNOWN_SIGNING_KEY"
    with pytest.raises(NoticeRejected) as elsewhere:
        accept_request(
            catalog=CATALOG, keys=KEYS, rules=RULES, key=b"another-child", value=_sealed(request)
        )
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
    others = tuple(s.subscriber_id for s in TOPOLOGY.subscribers if s != DESK)
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
    audit, letter, answer = refusal_messages(
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
    # The person who asked is told, on their desk's feed, in the same words.
    assert (answer.topic, answer.message_type) == (DESK.feed_topic, MessageType.BREAK_GLASS_REFUSAL)
    assert answer.key == request["subject_linkage_key"].encode()
    assert answer.signed
    assert answer.record["decision_id"] == audit.record["decision_id"]
    assert answer.record["explanation"] == audit.record["explanation"]
    assert answer.record["subscriber_id"] == DESK.subscriber_id
    assert answer.record["requester_subject"] == "synthetic-subject-0001"
    assert answer.record["requested_paths"] == sorted(WANTED)
    assert answer.record["reason_code"] == BREAK_GLASS_REFUSED
    CATALOG.encode(MessageType.BREAK_GLASS_REFUSAL, answer.record)


def test_an_untrusted_request_or_an_unknown_desk_reaches_no_feed() -> None:
    notice = _notice()
    request = _request(notice)
    common: dict[str, Any] = {
        "words": "signed by adapter-police, but only the console may ask",
        "source_topic": "breakglass.requests.v1",
        "source_partition": 0,
        "source_offset": 8,
        "key": request["subject_linkage_key"].encode(),
        "value": _sealed(request, POLICE_KEY),
        "refused_at": GRANTED_AT,
    }
    forged = refusal_messages(accepted=None, subscriber=None, **common)
    unknown_desk = refusal_messages(accepted=_accepted(request), subscriber=None, **common)
    for messages in (forged, unknown_desk):
        assert [m.topic for m in messages] == [AUDIT_TOPIC, DEADLETTER_TOPIC]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)
    elif isinstance(value, str):
        yield value


def test_a_grant_tells_the_owning_agency_with_no_value_of_the_notice() -> None:
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
    owner_desk = TOPOLOGY.subscriber(RULES.owner_alert_desks["POLICE"])
    assert owner_desk.agency == "POLICE"
    assert owner_desk.subscriber_id != DESK.subscriber_id
    audit, alert = alert_messages(
        rules=RULES,
        accepted=_accepted(request),
        notice=read_back,
        alert_desk=owner_desk,
        agency_name=POLICE.name,
        granted_at=GRANTED_AT,
    )
    the_id = alert_id(request_id=request["request_id"], alert_desk_id=owner_desk.subscriber_id)
    grant_id = grant_decision_id(request_id=request["request_id"], subscriber_id=DESK.subscriber_id)
    assert the_id != grant_id
    assert (audit.topic, alert.topic) == (AUDIT_TOPIC, owner_desk.feed_topic)
    assert alert.message_type is MessageType.BREAK_GLASS_ALERT
    assert audit.key == alert.key == notice["subject"]["linkage_key"].encode()
    assert audit.signed
    assert alert.signed

    record = audit.record
    assert record["event"] == "BREAK_GLASS_ALERT_DELIVERED"
    assert record["decision_id"] == the_id
    assert record["recipient"]["subscriber_id"] == owner_desk.subscriber_id
    assert record["notice_id"] == notice["notice_id"]
    assert record["subject_linkage_key"] == notice["subject"]["linkage_key"]
    assert record["originating_controller"] == notice["source"]["organisation_code"]
    assert record["outcome"] is None
    assert record["reason_code"] == "BREAK_GLASS_ALERT"
    assert record["fields_disclosed"] == []
    assert record["break_glass"] is False  # grants only: the IG review queue lists those
    assert record["explanation"] == (
        f"Told {POLICE.name} that a MASH manager at the {DESK.subscriber_id} desk was given "
        "emergency access to 2 withheld fields of its notice until 03:12 UTC (reason: "
        f"{RULES.reasons['CHILD_PRESENTING_NOW']})"
    )

    told = alert.record
    assert told["alert_id"] == the_id
    assert told["grant_decision_id"] == grant_id
    assert told["request_id"] == request["request_id"]
    assert told["subscriber_id"] == owner_desk.subscriber_id
    assert told["granted_to_subscriber_id"] == DESK.subscriber_id
    assert told["granted_to_role"] == "MASH_MANAGER"
    assert told["granted_paths"] == sorted(WANTED)
    assert told["source_reference"] == notice["source"]["source_reference"]
    assert told["source_agency"] == "POLICE"
    assert told["expires_at"] == ASKED_AT + dt.timedelta(hours=RULES.grant_hours)
    CATALOG.encode(MessageType.AUDIT_RECORD, record)
    encoded = CATALOG.encode(MessageType.BREAK_GLASS_ALERT, told)
    # The alert holds no value of the notice beyond its ids (the owner holds the rest).
    held = to_json_value(notice)
    ids = {
        notice["notice_id"],
        notice["notice_type"],
        notice["subject"]["linkage_key"],
        notice["source"]["source_reference"],
        "POLICE",
    }
    values = {v for v in _strings(held) if len(v) >= 4 and v not in ids}
    # The granted values are among those looked for: the test can fail.
    assert held["detail"]["carer_contact"] in values
    assert held["narrative"]["full_account"] in values
    leaked = [v for v in values if v.encode() in encoded]
    assert leaked == []


def test_a_notice_whose_agency_has_no_alert_desk_is_refused() -> None:
    notice = _notice()
    unalerted = dataclasses.replace(RULES, owner_alert_desks={})
    words = grant_refusal(
        rules=unalerted,
        accepted=_accepted(_request(notice)),
        notice=to_json_value(notice),
        disclosed_to=(DESK.subscriber_id,),
    )
    assert words == NO_ALERT_DESK
    assert "POLICE" not in words  # the desk may not know which agency sent it
    assert _refusal(notice, _request(notice), (DESK.subscriber_id,)) is None


def _rules_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((POLICIES / BREAK_GLASS_DATA).read_text())
    return data


DESKS = {s.subscriber_id: s.agency for s in TOPOLOGY.subscribers}


def test_the_alert_desks_are_checked_against_the_subscribers() -> None:
    assert BreakGlassRules.from_data(_rules_data(), desks=DESKS).alert_desk("HEALTH") == (
        "health-safeguarding-team"
    )
    for agency, desk in RULES.owner_alert_desks.items():
        assert DESKS[desk] == agency
    # The requester's own desk is never the owner's alert desk by default.
    assert "mash-manager" not in RULES.owner_alert_desks.values()
    assert RULES.alert_desk("MASH") is None

    unknown = {**_rules_data(), "owner_alert_desks": {"POLICE": "no-such-desk"}}
    with pytest.raises(BreakGlassRulesInvalid, match="is not a subscriber"):
        BreakGlassRules.from_data(unknown, desks=DESKS)
    elsewhere = {**_rules_data(), "owner_alert_desks": {"POLICE": "health-safeguarding-team"}}
    with pytest.raises(BreakGlassRulesInvalid, match="is a desk of HEALTH"):
        BreakGlassRules.from_data(elsewhere, desks=DESKS)
    missing = {k: v for k, v in _rules_data().items() if k != "owner_alert_desks"}
    with pytest.raises(BreakGlassRulesInvalid, match="owner_alert_desks"):
        BreakGlassRules.from_data(missing, desks=DESKS)
