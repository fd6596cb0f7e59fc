"""The gateway's own enforcement of the IG ceilings, on hand-written decisions (no policy
engine): a decision beyond its recipient's ceiling delivers nothing, is audited as DENY with
CEILING_EXCEEDED, the offending paths and the revision, and is counted and logged without
personal data once committed. Also what else the feed item takes from the IG data: the
agency's generic contact, and no silent path named as withheld."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Sequence
from typing import Any

from services.gateway.deciding import Outcome
from services.gateway.domain.ceiling import CEILING_EXCEEDED, NO_DISCLOSURE, CeilingBreach
from services.gateway.domain.intake import AcceptedNotice
from services.gateway.domain.pipeline import DecidedNotice, messages_for_decisions
from services.gateway.domain.redaction import present_paths
from services.gateway.engines import ChildContexts, EngineAnswer
from services.gateway.errors import DecisionUnavailable
from services.gateway.logs import JsonFormatter
from services.gateway.service import Gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.ceilings import Ceilings, DisclosureLimits, FieldCatalogue
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.notice import to_json_value
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from services.hubkit.topology import load_topology
from tests.factories import POLICIES, catalog, notices
from tests.gateway.loop_fakes import FakeBroker, FakeChildContext, FakeConsumer, FakeSeenLog

CATALOG = catalog()
TOPOLOGY = load_topology(POLICIES)
AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
REVISION = "1.0.7+sha256.c0ffee"
RELAY = GatewaySettings().relay_contact
POLICE_DESK = {
    "role": "Safeguarding hub",
    "organisation": "POL-XX01",
    "telephone": "0300 000 0101",
    "secure_email": None,
}
FLAG = ["notice_id", "notice_type", "created_at", "source.agency", "subject.linkage_key"]
RETURN_INTERVIEW = [
    "notice_id",
    "notice_type",
    "created_at",
    "subject.linkage_key",
    "subject.given_name",
    "detail.status",
    "detail.ended_at",
    "contact_point",
]
# Hand-written so the test does not move with the IG's real file; the real field catalogue.
CEILINGS = Ceilings.from_data(
    {
        "never_anywhere": ["detail.source_details"],
        "roles": {
            "MASH_MANAGER": {"MISSING_EPISODE": {"allow": ["ALL"]}},
            "POLICE_RESEARCHER": {"MISSING_EPISODE": {"allow": ["ALL"]}},
            "HEALTH_NAVIGATOR": {"MISSING_EPISODE": {"allow": ["flag"]}},
            "RETURN_INTERVIEW_WORKER": {"MISSING_EPISODE": {"allow": RETURN_INTERVIEW}},
        },
    },
    FieldCatalogue.load(POLICIES),
)
LIMITS = DisclosureLimits(
    ceilings=CEILINGS,
    silent_paths=frozenset({"referrer"}),
    safeguarding_contacts={"POLICE": POLICE_DESK},
)
BASIS = LawfulBasis(
    article6="UK GDPR Art 6(1)(e) public task",
    special_category_condition=None,
    dpa_part3="DPA 2018 s35(5) and Sch 8 para 4",
    statutory_gateway="Children Act 2004 s11",
    criminal_offence_condition="UK GDPR Art 10 with DPA 2018 Sch 1 para 18",
    recipient_basis="UK GDPR Art 6(1)(e) public task (Children Act 1989 s47)",
)


class _NoEngine:
    """Never asked: nothing is consumed in these tests."""

    name = "none"
    max_concurrency = 1
    batch_size = 1

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        raise AssertionError("not called")

    async def evaluate_many(
        self,
        notices: Sequence[dict[str, Any]],
        contexts: ChildContexts | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[EngineAnswer | DecisionUnavailable]:
        raise AssertionError("not called")

    async def close(self) -> None:
        return None


def _notice() -> dict[str, Any]:
    notice: dict[str, Any] = to_json_value(notices(seed=12).notice("MISSING_EPISODE"))
    assert notice["source"]["agency"] == "POLICE"
    assert {"referrer", "narrative.full_account"} <= present_paths(notice)
    return notice


def _decision(
    sid: str, outcome: SharingOutcome, fields: list[str], rules: tuple[str, ...] = ("R7",)
) -> SharingDecision:
    return SharingDecision(
        subscriber_id=sid,
        outcome=outcome,
        permitted_fields=tuple(sorted(fields)),
        purpose="SAFEGUARDING_TRIAGE",
        lawful_basis=BASIS,
        isa_clause="ISA-4.1",
        rule_ids=rules,
        explanation="Shared because the policy says so.",
    )


def _decisions(notice: dict[str, Any], **chosen: SharingDecision) -> dict[str, SharingDecision]:
    deny = {
        s.subscriber_id: SharingDecision(
            subscriber_id=s.subscriber_id,
            outcome=SharingOutcome.DENY,
            permitted_fields=(),
            purpose="SAFEGUARDING_TRIAGE",
            lawful_basis=NO_DISCLOSURE,
            isa_clause=None,
            rule_ids=("R15",),
            explanation="Withheld because no rule applies.",
        )
        for s in TOPOLOGY.subscribers
    }
    return {**deny, **{d.subscriber_id: d for d in chosen.values()}}


def _decide(
    decisions: dict[str, SharingDecision], notice: dict[str, Any], limits: DisclosureLimits = LIMITS
) -> DecidedNotice:
    return messages_for_decisions(
        accepted=AcceptedNotice(
            notice=notice,
            envelope_sha256=b"\0" * 32,
            payload_sha256=b"\0" * 32,
            signer="adapter-police",
        ),
        decisions=decisions,
        topology=TOPOLOGY,
        limits=limits,
        policy_revision=REVISION,
        decided_at=AT,
        relay_contact=RELAY,
    )


def _records(decided: DecidedNotice, kind: MessageType) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for message in decided.messages:
        if message.message_type is kind:
            record = message.record
            sid = record["recipient"]["subscriber_id"] if "recipient" in record else None
            found[sid or record["subscriber_id"]] = record
            CATALOG.encode(kind, record)  # every record is valid for its Avro schema
    return found


def _over_the_ceiling() -> tuple[dict[str, Any], DecidedNotice]:
    notice = _notice()
    held = sorted(present_paths(notice))
    decided = _decide(
        _decisions(
            notice,
            manager=_decision("mash-manager", SharingOutcome.PERMIT, held),
            # The return interview minimum, plus two paths its ceiling does not allow.
            provider=_decision(
                "return-interview-provider",
                SharingOutcome.PARTIAL,
                [*RETURN_INTERVIEW, "narrative.full_account", "detail.episodes_last_90_days"],
                rules=("R7", "R14"),
            ),
            # No ceiling at all for a school on a missing episode: even a flag exceeds.
            school=_decision("school-dsl", SharingOutcome.FLAG_ONLY, FLAG),
        ),
        notice,
    )
    return notice, decided


def test_a_decision_beyond_the_ceiling_delivers_nothing_and_says_why() -> None:
    notice, decided = _over_the_ceiling()
    feeds = _records(decided, MessageType.FEED_ITEM)
    audits = _records(decided, MessageType.AUDIT_RECORD)
    assert set(feeds) == {"mash-manager"}  # within its ceiling: delivered as decided
    assert not [m for m in decided.messages if "return-interview" in m.topic or "school" in m.topic]
    assert len(audits) == len(TOPOLOGY.subscribers)

    record = audits["return-interview-provider"]
    assert record["event"] == "SHARING_DECISION"
    assert record["outcome"] == "DENY"
    assert record["reason_code"] == CEILING_EXCEEDED
    assert record["fields_disclosed"] == []
    assert record["fields_withheld"] == sorted(present_paths(notice))
    assert record["disclosed_at"] is None
    assert record["purpose"] is None
    assert record["lawful_basis"] == NO_DISCLOSURE.as_record()
    assert record["rule_ids"] == ["R7", "R14"]  # which rules over-disclosed
    for words in (
        "detail.episodes_last_90_days",
        "narrative.full_account",
        REVISION,
        "RETURN_INTERVIEW_WORKER",
        "MISSING_EPISODE",
        "PARTIAL",
    ):
        assert words in record["explanation"], words
    assert audits["school-dsl"]["reason_code"] == CEILING_EXCEEDED
    assert audits["mash-manager"]["reason_code"] is None
    assert audits["mash-manager"]["outcome"] == "PERMIT"

    applied = {d.subscriber_id: d for d in decided.decisions}
    assert applied["return-interview-provider"].outcome is SharingOutcome.DENY
    assert not applied["return-interview-provider"].discloses
    assert decided.breaches == (
        CeilingBreach(
            notice_id=notice["notice_id"],
            notice_type="MISSING_EPISODE",
            subscriber_id="return-interview-provider",
            role="RETURN_INTERVIEW_WORKER",
            policy_outcome=SharingOutcome.PARTIAL,
            offending_paths=("detail.episodes_last_90_days", "narrative.full_account"),
            policy_revision=REVISION,
        ),
        CeilingBreach(
            notice_id=notice["notice_id"],
            notice_type="MISSING_EPISODE",
            subscriber_id="school-dsl",
            role="DESIGNATED_SAFEGUARDING_LEAD",
            policy_outcome=SharingOutcome.FLAG_ONLY,
            offending_paths=tuple(sorted(FLAG)),
            policy_revision=REVISION,
        ),
    )


def test_a_decision_within_the_ceiling_is_delivered_as_decided() -> None:
    notice = _notice()
    decided = _decide(
        _decisions(
            notice,
            provider=_decision(
                "return-interview-provider", SharingOutcome.PARTIAL, RETURN_INTERVIEW
            ),
        ),
        notice,
    )
    assert decided.breaches == ()
    item = _records(decided, MessageType.FEED_ITEM)["return-interview-provider"]
    assert item["outcome"] == "PARTIAL"
    assert set(json.loads(item["view_json"])) == {
        "notice_id",
        "notice_type",
        "created_at",
        "subject",
        "detail",
        "contact_point",
    }


def test_the_new_lawful_basis_fields_reach_the_audit_record_and_the_feed_item() -> None:
    notice = _notice()
    held = sorted(present_paths(notice))
    decided = _decide(
        _decisions(notice, m=_decision("mash-manager", SharingOutcome.PERMIT, held)), notice
    )
    basis = BASIS.as_record()
    assert basis["criminal_offence_condition"] == "UK GDPR Art 10 with DPA 2018 Sch 1 para 18"
    assert basis["recipient_basis"] == "UK GDPR Art 6(1)(e) public task (Children Act 1989 s47)"
    assert _records(decided, MessageType.AUDIT_RECORD)["mash-manager"]["lawful_basis"] == basis
    assert _records(decided, MessageType.FEED_ITEM)["mash-manager"]["lawful_basis"] == basis


def test_a_flag_names_the_agency_front_door_not_the_notice_contact() -> None:
    """Flags must not disclose: the notice's own contact can say which service saw the child;
    when the source agency may be named but the contact may not, the agency's generic
    safeguarding contact stands in. Without the agency (or without a contact for it), the
    MASH relay does."""
    notice = _notice()
    decisions = _decisions(
        notice,
        navigator=_decision("mash-health-navigator", SharingOutcome.FLAG_ONLY, FLAG),
        researcher=_decision(
            "mash-police-researcher",
            SharingOutcome.PARTIAL,
            [p for p in present_paths(notice) if p not in ("source.agency", "contact_point")],
        ),
    )
    feeds = _records(_decide(decisions, notice), MessageType.FEED_ITEM)
    assert feeds["mash-health-navigator"]["contact_point"] == POLICE_DESK
    assert feeds["mash-health-navigator"]["source_agency"] == "POLICE"
    assert feeds["mash-police-researcher"]["contact_point"] == RELAY
    assert feeds["mash-police-researcher"]["source_agency"] == "MASH"

    no_desk = DisclosureLimits(CEILINGS, frozenset(), safeguarding_contacts={})
    feeds = _records(_decide(decisions, notice, no_desk), MessageType.FEED_ITEM)
    assert feeds["mash-health-navigator"]["contact_point"] == RELAY


def test_a_silent_path_is_never_named_to_the_recipient_but_is_audited() -> None:
    notice = _notice()
    shared = [p for p in present_paths(notice) if p not in ("referrer", "narrative.full_account")]
    decided = _decide(
        _decisions(notice, r=_decision("mash-police-researcher", SharingOutcome.PARTIAL, shared)),
        notice,
    )
    item = _records(decided, MessageType.FEED_ITEM)["mash-police-researcher"]
    audit = _records(decided, MessageType.AUDIT_RECORD)["mash-police-researcher"]
    assert item["fields_withheld"] == ["narrative.full_account"]
    assert audit["fields_withheld"] == ["narrative.full_account", "referrer"]


async def test_a_committed_breach_is_counted_and_logged_without_personal_data() -> None:
    notice, decided = _over_the_ceiling()
    broker = FakeBroker()
    gateway = Gateway(
        settings=GatewaySettings(),
        topology=TOPOLOGY,
        limits=LIMITS,
        catalog=CATALOG,
        agency_keys=KeyDirectory.of([]),
        hub_key=SigningKey.generate("gateway"),
        engine=_NoEngine(),
        child_context=FakeChildContext(),
        seen_log=FakeSeenLog(),
        consumer=FakeConsumer(broker),
        producer_factory=broker.new_producer,
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("safehub.gateway")
    logger.addHandler(handler)
    try:
        outcome = Outcome((), decisions=decided.decisions, breaches=decided.breaches)
        gateway._committed([outcome])
    finally:
        logger.removeHandler(handler)

    registry = gateway.metrics.registry
    labels = {
        "subscriber": "return-interview-provider",
        "role": "RETURN_INTERVIEW_WORKER",
        "notice_type": "MISSING_EPISODE",
    }
    assert registry.get_sample_value("safehub_gateway_ceiling_violations_total", labels) == 1.0
    decisions = {"subscriber": "return-interview-provider", "outcome": "DENY"}
    assert registry.get_sample_value("safehub_gateway_decisions_total", decisions) == 1.0
    assert gateway.stats.ceiling_violations == 2

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    line = next(x for x in lines if x.get("subscriber_id") == "return-interview-provider")
    assert line["level"] == "ERROR"
    assert line["reason"] == CEILING_EXCEEDED
    assert line["notice_id"] == notice["notice_id"]
    assert line["notice_type"] == "MISSING_EPISODE"
    assert line["role"] == "RETURN_INTERVIEW_WORKER"
    assert line["offending_paths"] == ["detail.episodes_last_90_days", "narrative.full_account"]
    assert line["policy_revision"] == REVISION
    for personal in (
        notice["subject"]["given_name"],
        notice["subject"]["family_name"],
        notice["subject"]["linkage_key"],
        notice["narrative"]["summary"],
    ):
        assert str(personal) not in stream.getvalue()
