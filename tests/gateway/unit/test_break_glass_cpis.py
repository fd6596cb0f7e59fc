"""Emergency access for a clinician at presentation, through CP-IS (issue 18), in the gateway
without a broker. Each requesting service asks for its own people at its own desks: a
CP-IS-signed request for an unscheduled care clinician at the cpis-register desk is granted
(within the clinician's IG ceiling for a plan change, told to the local authority's alert
desk); a console-signed request for the register, or a CP-IS-signed one for the MASH manager,
is refused as if forged (no feed is told); a CP-IS-signed request naming another role at the
register is refused in words to the register."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from services.gateway.domain.break_glass import (
    AcceptedRequest,
    accept_request,
    alert_messages,
    grant_messages,
    grant_refusal,
    lawful_basis_of,
)
from services.gateway.domain.intake import AcceptedNotice, accept_notice
from services.gateway.domain.redaction import present_paths
from services.gateway.errors import NoticeRejected
from services.gateway.settings import GatewaySettings
from services.hubkit.break_glass import BREAK_GLASS_DATA, BreakGlassRules, grant_decision_id
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import encode_notice, to_json_value
from services.hubkit.topology import (
    AUDIT_TOPIC,
    CONSOLE_PRINCIPAL,
    CPIS_PRINCIPAL,
    CPIS_REGISTER_SUBSCRIBER,
    load_topology,
)
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()
TOPOLOGY = load_topology(POLICIES)
RULES = BreakGlassRules.load(POLICIES)
BASIS = lawful_basis_of(json.loads((POLICIES / BREAK_GLASS_DATA).read_text()))
LIMITS = DisclosureLimits.load(POLICIES)
CSC = TOPOLOGY.agency("CHILDRENS_SERVICES")
CPIS = TOPOLOGY.agency("CPIS")
REGISTER = TOPOLOGY.subscriber(CPIS_REGISTER_SUBSCRIBER)
MANAGER = TOPOLOGY.subscriber("mash-manager")
CONSOLE_KEY = SigningKey.generate(CONSOLE_PRINCIPAL)
CPIS_KEY = SigningKey.generate(CPIS.principal)
CSC_KEY = SigningKey.generate(CSC.principal)
KEYS = KeyDirectory.of([CONSOLE_KEY, CPIS_KEY, CSC_KEY])
CLINICIAN = "UNSCHEDULED_CARE_CLINICIAN"
ASKED_AT = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)
GRANTED_AT = ASKED_AT + dt.timedelta(seconds=2)
WANTED = ("detail.primary_need", "narrative.summary")


def _plan_change() -> dict[str, Any]:
    notice: dict[str, Any] = notices(seed=1818).notice("CSC_STATUS_CHANGE")
    assert notice["source"]["agency"] == "CHILDRENS_SERVICES"
    return notice


def _request(notice: dict[str, Any], **changes: Any) -> dict[str, Any]:
    request = {
        "request_id": str(uuid.uuid4()),
        "notice_id": notice["notice_id"],
        "subject_linkage_key": notice["subject"]["linkage_key"],
        "subscriber_id": REGISTER.subscriber_id,
        "requester_subject": "synthetic-clinician-0007",
        "requester_role": CLINICIAN,
        "reason": "CHILD_PRESENTING_NOW",
        "justification": "Child in ED at 03:00 with injuries; need the plan detail now.",
        "requested_paths": list(WANTED),
        "requested_at": ASKED_AT,
    }
    return {**request, **changes}


def _accept(request: dict[str, Any], key: SigningKey = CPIS_KEY) -> AcceptedRequest:
    payload = CATALOG.encode(MessageType.BREAK_GLASS_REQUEST, request)
    return accept_request(
        catalog=CATALOG,
        keys=KEYS,
        rules=RULES,
        key=request["subject_linkage_key"].encode(),
        value=seal(CATALOG, payload, key, ASKED_AT),
    )


def _read_back(notice: dict[str, Any]) -> AcceptedNotice:
    return accept_notice(
        catalog=CATALOG,
        keys=KEYS,
        agency=CSC,
        key=notice["subject"]["linkage_key"].encode(),
        value=seal(CATALOG, encode_notice(CATALOG, notice), CSC_KEY, ASKED_AT),
    )


def test_each_service_may_sign_for_its_own_role_at_its_own_desk_only() -> None:
    assert CPIS.principal == CPIS_PRINCIPAL  # the rules name the agency's real principal
    assert set(RULES.requesting_services) == {CONSOLE_PRINCIPAL, CPIS_PRINCIPAL}
    assert RULES.may_sign(CONSOLE_PRINCIPAL, "MASH_MANAGER", "mash-manager")
    assert RULES.may_sign(CPIS_PRINCIPAL, CLINICIAN, CPIS_REGISTER_SUBSCRIBER)
    assert not RULES.may_sign(CONSOLE_PRINCIPAL, "MASH_MANAGER", CPIS_REGISTER_SUBSCRIBER)
    assert not RULES.may_sign(CONSOLE_PRINCIPAL, CLINICIAN, "mash-manager")
    assert not RULES.may_sign(CPIS_PRINCIPAL, CLINICIAN, "mash-manager")
    assert not RULES.may_sign(CPIS_PRINCIPAL, "MASH_MANAGER", CPIS_REGISTER_SUBSCRIBER)
    assert not RULES.may_sign(TOPOLOGY.agency("POLICE").principal, "MASH_MANAGER", "mash-manager")
    assert RULES.may_request_roles == {"MASH_MANAGER", CLINICIAN}
    assert RULES.roles_for(CPIS_PRINCIPAL) == {CLINICIAN}
    assert RULES.roles_for("adapter-police") == frozenset()


def test_a_cpis_signed_request_for_the_register_is_accepted_as_cpis() -> None:
    request = _request(_plan_change())
    accepted = _accept(request)
    assert accepted.signer == CPIS_PRINCIPAL
    assert accepted.subscriber_id == REGISTER.subscriber_id
    assert accepted.requested == WANTED


@pytest.mark.parametrize(
    ("key", "changes", "signer"),
    [
        # The console may not ask for the register, even for a clinician's role...
        (CONSOLE_KEY, {}, CONSOLE_PRINCIPAL),
        (CONSOLE_KEY, {"requester_role": "MASH_MANAGER"}, CONSOLE_PRINCIPAL),
        # ...and CP-IS may not ask for the MASH manager's desk.
        (CPIS_KEY, {"subscriber_id": "mash-manager"}, CPIS_PRINCIPAL),
        (
            CPIS_KEY,
            {"subscriber_id": "mash-manager", "requester_role": "MASH_MANAGER"},
            CPIS_PRINCIPAL,
        ),
    ],
)
def test_a_service_asking_for_another_services_desk_is_refused_as_forged(
    key: SigningKey, changes: dict[str, Any], signer: str
) -> None:
    with pytest.raises(NoticeRejected) as refused:
        _accept(_request(_plan_change(), **changes), key)
    # Rejected before anything is trusted: the refusal names no desk and no feed is told.
    assert refused.value.reason == "WRONG_SOURCE_TOPIC"
    assert f"signed by {signer}, which may ask only for its own desks" in refused.value.detail


def test_an_agency_key_other_than_cpis_may_not_ask_for_the_register() -> None:
    with pytest.raises(NoticeRejected) as refused:
        _accept(_request(_plan_change()), CSC_KEY)
    assert refused.value.reason == "WRONG_SOURCE_TOPIC"
    assert "only adapter-cpis or console may ask" in refused.value.detail


def test_cpis_asking_for_a_role_it_does_not_serve_is_refused_to_the_register() -> None:
    notice = _plan_change()
    for role in ("MASH_MANAGER", "SOCIAL_WORKER"):
        accepted = _accept(_request(notice, requester_role=role))
        words = grant_refusal(
            rules=RULES,
            accepted=accepted,
            notice=to_json_value(notice),
            disclosed_to=(REGISTER.subscriber_id,),
        )
        assert words == "your role may not use emergency access"


def test_the_clinicians_ceiling_bounds_what_may_be_asked_for() -> None:
    notice = to_json_value(_plan_change())
    held = present_paths(notice)
    grantable = set(RULES.grantable(held, role=CLINICIAN, notice_type="CSC_STATUS_CHANGE"))
    register = LIMITS.ceilings.paths_for("CPIS_REGISTER", "CSC_STATUS_CHANGE")
    assert grantable - register == {
        "detail.primary_need",
        "narrative.summary",
        "risk.level",
        "risk.immediate_danger",
    }
    # What the notice holds but a clinician may never be given, even now.
    for path in ("narrative.full_account", "referrer", "detail.assessment_factors"):
        assert path in held
        assert path not in grantable
    # Another notice type: the clinician's ceiling is for plan changes only.
    assert RULES.grantable(held, role=CLINICIAN, notice_type="POLICE_INTELLIGENCE") == ()
    accepted = _accept(_request(_plan_change(), requested_paths=["narrative.full_account"]))
    words = grant_refusal(
        rules=RULES, accepted=accepted, notice=notice, disclosed_to=(REGISTER.subscriber_id,)
    )
    assert words is not None
    assert "never what your role may not receive" in words


def test_a_grant_reaches_the_register_and_tells_the_local_authority() -> None:
    notice = _plan_change()
    request = _request(notice)
    accepted = _accept(request)
    read_back = _read_back(notice)
    assert (
        grant_refusal(
            rules=RULES,
            accepted=accepted,
            notice=read_back.notice,
            disclosed_to=(REGISTER.subscriber_id,),
        )
        is None
    )
    # The register must have been given the notice: emergency access never makes a recipient.
    assert grant_refusal(
        rules=RULES, accepted=accepted, notice=read_back.notice, disclosed_to=("mash-manager",)
    ) == ("your desk was not given this notice, so emergency access cannot widen it")
    audit, item = grant_messages(
        rules=RULES,
        lawful_basis=BASIS,
        accepted=accepted,
        notice=read_back,
        subscriber=REGISTER,
        agency_name=CSC.name,
        relay_contact=GatewaySettings().relay_contact,
        safeguarding_contacts=LIMITS.safeguarding_contacts,
        silent=LIMITS.silent_paths,
        granted_at=GRANTED_AT,
    )
    assert (audit.topic, item.topic) == (AUDIT_TOPIC, "feed.cpis-register.v1")
    decision_id = grant_decision_id(
        request_id=request["request_id"], subscriber_id=REGISTER.subscriber_id
    )
    assert item.record["decision_id"] == audit.record["decision_id"] == decision_id
    assert present_paths(json.loads(item.record["view_json"])) == frozenset(WANTED)
    assert item.record["break_glass"] == {
        "request_id": request["request_id"],
        "requester_subject": "synthetic-clinician-0007",
        "requester_role": CLINICIAN,
        "reason": "CHILD_PRESENTING_NOW",
        "expires_at": ASKED_AT + dt.timedelta(hours=RULES.grant_hours),
    }
    assert item.record["explanation"] == (
        "Emergency access for a clinician in unscheduled care until 07:00 UTC: "
        f"{RULES.reasons['CHILD_PRESENTING_NOW']}. Every view is recorded and {CSC.name} "
        "has been told."
    )
    record = audit.record
    assert record["event"] == "SHARING_DECISION"
    assert record["break_glass"] is True
    assert record["human_decision_maker"] == CLINICIAN
    assert record["recipient"]["subscriber_id"] == REGISTER.subscriber_id
    assert record["fields_disclosed"] == sorted(WANTED)
    assert record["originating_controller"] == notice["source"]["organisation_code"]
    CATALOG.encode(MessageType.AUDIT_RECORD, record)
    CATALOG.encode(MessageType.FEED_ITEM, item.record)

    # The local authority's out-of-hours desk is told at once.
    owner_desk = TOPOLOGY.subscriber(RULES.owner_alert_desks["CHILDRENS_SERVICES"])
    assert owner_desk.agency == "CHILDRENS_SERVICES"
    told, alert = alert_messages(
        rules=RULES,
        accepted=accepted,
        notice=read_back,
        alert_desk=owner_desk,
        agency_name=CSC.name,
        granted_at=GRANTED_AT,
    )
    assert alert.topic == owner_desk.feed_topic
    assert alert.record["granted_to_subscriber_id"] == REGISTER.subscriber_id
    assert alert.record["granted_to_role"] == CLINICIAN
    assert alert.record["granted_paths"] == sorted(WANTED)
    assert told.record["explanation"].startswith(
        f"Told {CSC.name} that a clinician in unscheduled care at the cpis-register desk"
    )
    CATALOG.encode(MessageType.BREAK_GLASS_ALERT, alert.record)
