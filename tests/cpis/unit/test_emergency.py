"""Emergency access for the clinician (issue 18): the pure core (domain/emergency.py) and the
register's keeping of grants and refusals apart from its plans (store.py), with the IG
officers' real rules from the policy bundle."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.cpis.consumer import plan_change_from_record
from services.cpis.domain.emergency import (
    EmergencyGrant,
    EmergencyRefusal,
    EmergencyRequestInvalid,
    HeldNotice,
    emergency_offer,
    emergency_request,
    emergency_view_event,
    grant_from_feed_item,
    granted_fields,
    request_status,
)
from services.cpis.domain.register import parse_plan_change
from services.cpis.emergency_sender import seal_emergency_request, seal_emergency_view
from services.cpis.store import SqliteRegisterStore
from services.hubkit.audit_trail import check_console_access, open_audit_record
from services.hubkit.break_glass import BreakGlassRules
from services.hubkit.child_keys import ChildKeys
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, load_topology
from tests.cpis.factories import (
    NHS_NUMBER,
    REGISTER,
    csc_notice,
    grant_feed_item,
    refusal_record,
    register_feed_item,
    withheld_from_register,
)
from tests.factories import FIXED_NOW, POLICIES, SCHEMAS

RULES = BreakGlassRules.load(POLICIES)
CLINICIAN = "UNSCHEDULED_CARE_CLINICIAN"
SIGNER = "adapter-cpis"
REQUEST_ID = "0b9c1f0e-5a0b-4c6d-8e0f-000000000001"
EXPIRES = FIXED_NOW + dt.timedelta(hours=4)


def _held(notice_id: str, withheld: tuple[str, ...]) -> HeldNotice:
    return HeldNotice(notice_id, "CSC_STATUS_CHANGE", "k" * 64, withheld)


def _offer(*held: HeldNotice, signer: str = SIGNER, desk: str = REGISTER):  # type: ignore[no-untyped-def]
    return emergency_offer(RULES, list(held), role=CLINICIAN, signer=signer, desk=desk)


def test_the_offer_is_the_newest_notice_with_something_the_clinician_may_be_given() -> None:
    newest_nothing = _held("n-3", ("narrative.full_account",))
    middle = _held("n-2", ("detail.allocated_worker", "narrative.summary", "referrer"))
    oldest = _held("n-1", ("detail.primary_need",))
    offer = _offer(newest_nothing, middle, oldest)
    assert offer is not None
    assert offer.notice.notice_id == "n-2"
    # Never the referrer (a never-path) nor the full account (beyond the role's ceiling).
    assert offer.paths == ("detail.allocated_worker", "narrative.summary")
    assert offer.grant_hours == RULES.grant_hours
    assert dict(offer.reasons) == dict(RULES.reasons)
    assert _offer(newest_nothing) is None


def test_cp_is_may_ask_only_for_the_clinician_at_the_register() -> None:
    held = _held("n-1", ("detail.allocated_worker",))
    assert _offer(held) is not None
    assert _offer(held, signer="console") is None
    assert _offer(held, desk="mash-manager") is None


def _request(**overrides: object) -> dict[str, object]:
    offer = _offer(_held("n-1", ("detail.allocated_worker", "narrative.summary")))
    assert offer is not None
    asked: dict[str, object] = {
        "request_id": REQUEST_ID,
        "subscriber_id": REGISTER,
        "requester_subject": "clinician-1",
        "role": CLINICIAN,
        "reason": "CHILD_PRESENTING_NOW",
        "justification": "  Child in ED with injuries; need the allocated worker now.  ",
        "paths": ["narrative.summary", "detail.allocated_worker", "narrative.summary"],
        "at": FIXED_NOW,
    }
    asked.update(overrides)
    return emergency_request(RULES, offer, **asked)  # type: ignore[arg-type]


def test_a_request_names_the_notice_the_desk_and_the_paths_and_encodes() -> None:
    request = _request()
    assert request == {
        "request_id": REQUEST_ID,
        "notice_id": "n-1",
        "subject_linkage_key": "k" * 64,
        "subscriber_id": REGISTER,
        "requester_subject": "clinician-1",
        "requester_role": CLINICIAN,
        "reason": "CHILD_PRESENTING_NOW",
        "justification": "Child in ED with injuries; need the allocated worker now.",
        "requested_paths": ["detail.allocated_worker", "narrative.summary"],
        "requested_at": FIXED_NOW,
    }
    SchemaCatalog(SCHEMAS).encode(MessageType.BREAK_GLASS_REQUEST, request)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"reason": "BORED"}, "choose a reason from the list"),
        ({"justification": "   "}, "say in your own words why you need this now"),
        ({"justification": "x" * 1001}, "keep the reason to 1000 characters"),
        ({"paths": []}, "choose what you need to see"),
        ({"paths": ["narrative.full_account"]}, "only information withheld from your desk"),
    ],
)
def test_a_request_the_rules_do_not_allow_says_why_in_their_words(
    overrides: dict[str, object], words: str
) -> None:
    with pytest.raises(EmergencyRequestInvalid) as refused:
        _request(**overrides)
    assert str(refused.value).startswith(words)


def _signed(
    cat: SchemaCatalog, key: SigningKey, kind: MessageType, record: dict[str, Any]
) -> bytes:
    return seal(cat, cat.encode(kind, record), key, FIXED_NOW)


def test_a_grant_on_the_register_feed_is_an_answer_never_a_plan_change() -> None:
    cat, hub = SchemaCatalog(SCHEMAS), SigningKey.generate("gateway")
    notice = csc_notice()
    paths = ("detail.primary_need", "narrative.summary")
    item = grant_feed_item(notice, request_id=REQUEST_ID, paths=paths, expires_at=EXPIRES)
    value = _signed(cat, hub, MessageType.FEED_ITEM, item)
    grant = plan_change_from_record(
        value, catalog=cat, hub_keys=KeyDirectory.of([hub]), subscriber_id=REGISTER
    )
    assert isinstance(grant, EmergencyGrant)
    assert (grant.request_id, grant.notice_id, grant.requester_subject) == (
        REQUEST_ID,
        notice["notice_id"],
        "clinician-1",
    )
    assert grant.expires_at == EXPIRES
    assert grant.view is not None
    assert granted_fields(grant.view) == {
        "detail.primary_need": notice["detail"]["primary_need"],
        "narrative.summary": notice["narrative"]["summary"],
    }
    with pytest.raises(ValueError, match="another subscriber"):
        grant_from_feed_item(item, subscriber_id="mash-manager")


def test_the_status_of_a_request() -> None:
    grant = grant_from_feed_item(
        grant_feed_item(
            csc_notice(), request_id=REQUEST_ID, paths=("risk.level",), expires_at=EXPIRES
        ),
        subscriber_id=REGISTER,
    )
    refused = EmergencyRefusal(REQUEST_ID, "no", FIXED_NOW)
    waiting = request_status(grant=None, refused=None, ended_at=None, now=FIXED_NOW)
    assert waiting == {"status": "waiting"}
    assert request_status(grant=None, refused=refused, ended_at=None, now=FIXED_NOW) == {
        "status": "refused",
        "explanation": "no",
    }
    running = request_status(grant=grant, refused=None, ended_at=None, now=FIXED_NOW)
    assert running == {"status": "granted", "until": EXPIRES, "caveat": grant.caveat}
    assert request_status(grant=grant, refused=None, ended_at=None, now=EXPIRES) == {
        "status": "ended",
        "ended_at": EXPIRES,
    }


def test_a_view_event_is_a_console_access_the_audit_log_can_check() -> None:
    cat = SchemaCatalog(SCHEMAS)
    notice = csc_notice()
    grant = grant_from_feed_item(
        grant_feed_item(notice, request_id=REQUEST_ID, paths=("risk.level",), expires_at=EXPIRES),
        subscriber_id=REGISTER,
    )
    register = load_topology(POLICIES).subscriber(REGISTER)
    access_id = str(uuid.uuid4())
    event = emergency_view_event(
        access_id=access_id,
        requester_subject="clinician-1",
        roles=[CLINICIAN],
        register=register,
        grant=grant,
        at=FIXED_NOW,
    )
    check_console_access(event)
    decoded = cat.decode(cat.encode(MessageType.CONSOLE_ACCESS, event), MessageType.CONSOLE_ACCESS)
    assert decoded["event"] == "NOTICE_VIEWED"
    assert str(decoded["break_glass_request_id"]) == REQUEST_ID
    assert decoded["feed"]["subscriber_id"] == REGISTER
    assert decoded["actor"] == "clinician-1"
    assert decoded["consultation"]["notice_ids"] == [notice["notice_id"]]
    # Nothing shown is copied in.
    assert notice["risk"]["level"] not in json.dumps(event, default=str)
    with pytest.raises(AuditRecordRejected):
        check_console_access({**event, "actor": "Dr Jane Synthetic, ED"} | {"notice_id": "x"})


# -- the store ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> SqliteRegisterStore:
    return SqliteRegisterStore(tmp_path / "register.db", ChildKeys(b"\x07" * 32, store="cpis"))


def _seed(store: SqliteRegisterStore) -> dict[str, Any]:
    notice = csc_notice()
    item = register_feed_item(notice)
    item["fields_withheld"] = withheld_from_register(notice)
    store.apply(parse_plan_change(item, subscriber_id=REGISTER), now_ms=0)
    return notice


def _grant(notice: dict[str, Any], request_id: str = REQUEST_ID) -> EmergencyGrant:
    return grant_from_feed_item(
        grant_feed_item(
            notice,
            request_id=request_id,
            paths=("narrative.summary",),
            expires_at=EXPIRES,
        ),
        subscriber_id=REGISTER,
    )


def test_the_register_keeps_what_was_withheld_from_each_notice(
    store: SqliteRegisterStore,
) -> None:
    notice = _seed(store)
    (held,) = store.held_notices(NHS_NUMBER)
    assert held.notice_id == notice["notice_id"]
    assert "narrative.summary" in held.fields_withheld
    assert "referrer" not in held.fields_withheld
    assert store.held_notices("9990000026") == []


def test_a_grant_is_kept_sealed_apart_and_its_content_deleted_at_expiry(
    store: SqliteRegisterStore,
) -> None:
    notice = _seed(store)
    assert store.keep_grant(_grant(notice), now=FIXED_NOW) is None  # not asked here
    store.emergency_asked(
        NHS_NUMBER,
        request_id=REQUEST_ID,
        requester_subject="clinician-1",
        notice_id=str(notice["notice_id"]),
        at=FIXED_NOW,
    )
    assert store.emergency_answer(REQUEST_ID) is not None
    assert store.keep_grant(_grant(notice), now=FIXED_NOW, position=("feed", 0, 8)) is True
    assert store.keep_grant(_grant(notice), now=FIXED_NOW) is False
    assert store.feed_positions("feed") == {0: 8}
    answer = store.emergency_answer(REQUEST_ID)
    assert answer is not None
    assert answer.grant is not None
    assert answer.grant.view is not None
    assert answer.requester_subject == "clinician-1"
    summary = str(notice["narrative"]["summary"])
    with sqlite3.connect(store.path) as db:
        raw = b"".join(bytes(r[0]) for r in db.execute("SELECT sealed FROM emergency_grants"))
    assert summary.encode() not in raw  # sealed under the child's key

    assert store.expire_grants(EXPIRES - dt.timedelta(seconds=1)) == 0
    assert store.expire_grants(EXPIRES) == 1
    ended = store.emergency_answer(REQUEST_ID)
    assert ended is not None
    assert ended.grant is not None
    assert ended.grant.view is None
    assert ended.ended_at == EXPIRES
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT sealed FROM emergency_grants").fetchall() == [(None,)]


def test_a_grant_arriving_after_its_expiry_is_kept_without_content(
    store: SqliteRegisterStore,
) -> None:
    notice = _seed(store)
    store.emergency_asked(
        NHS_NUMBER,
        request_id=REQUEST_ID,
        requester_subject="clinician-1",
        notice_id=str(notice["notice_id"]),
        at=FIXED_NOW,
    )
    assert store.keep_grant(_grant(notice), now=EXPIRES + dt.timedelta(hours=1)) is True
    answer = store.emergency_answer(REQUEST_ID)
    assert answer is not None
    assert answer.grant is not None
    assert answer.grant.view is None


def test_a_refusal_is_kept_and_erasure_takes_every_answer(store: SqliteRegisterStore) -> None:
    notice = _seed(store)
    other = "0b9c1f0e-5a0b-4c6d-8e0f-000000000002"
    for request_id in (REQUEST_ID, other):
        store.emergency_asked(
            NHS_NUMBER,
            request_id=request_id,
            requester_subject="clinician-1",
            notice_id=str(notice["notice_id"]),
            at=FIXED_NOW,
        )
    store.keep_grant(_grant(notice), now=FIXED_NOW)
    refused = refusal_record(
        notice, request_id=other, explanation="not for this role", refused_at=FIXED_NOW
    )
    assert store.keep_refusal(EmergencyRefusal(other, str(refused["explanation"]), FIXED_NOW))
    answer = store.emergency_answer(other)
    assert answer is not None
    assert answer.refused is not None
    assert answer.refused.explanation == "not for this role"

    store.erase(NHS_NUMBER)
    assert store.emergency_answer(REQUEST_ID) is None
    assert store.emergency_answer(other) is None
    with sqlite3.connect(store.path) as db:
        for table in ("emergency_requests", "emergency_grants", "emergency_refusals"):
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,)


def test_a_view_sealed_with_the_cp_is_key_is_accepted_on_the_access_topic_and_nothing_else() -> (
    None
):
    cat = SchemaCatalog(SCHEMAS)
    cpis = SigningKey.generate(SIGNER)
    grant = grant_from_feed_item(
        grant_feed_item(
            csc_notice(), request_id=REQUEST_ID, paths=("risk.level",), expires_at=EXPIRES
        ),
        subscriber_id=REGISTER,
    )
    event = emergency_view_event(
        access_id=str(uuid.uuid4()),
        requester_subject="clinician-1",
        roles=[CLINICIAN],
        register=load_topology(POLICIES).subscriber(REGISTER),
        grant=grant,
        at=FIXED_NOW,
    )
    value = seal_emergency_view(cat, event, cpis, FIXED_NOW)
    opened = open_audit_record(cat, value, KeyDirectory.of([cpis]), topic=AUDIT_ACCESS_TOPIC)
    assert str(opened.record["break_glass_request_id"]) == REQUEST_ID
    # Without its grant it would be a plain view, which only the console may log.
    with pytest.raises(ValueError, match="names no emergency access grant"):
        seal_emergency_view(cat, {**event, "break_glass_request_id": None}, cpis, FIXED_NOW)
    request = seal_emergency_request(cat, _request(), cpis, FIXED_NOW)
    with pytest.raises(AuditRecordRejected):
        open_audit_record(cat, request, KeyDirectory.of([cpis]), topic=AUDIT_ACCESS_TOPIC)
