"""Synthetic audit records, built the way the gateway builds them (`audit_record`), with
fixed decisions per subscriber so tests need no policy engine, and sealed the way the gateway
seals them: with a hub key (`HUB_KEY`, trusted in `TRUSTED_KEYS` beside a console key and an
agency key)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.audit.indexer import LogEntry, SourcePosition, entry_for_bytes
from services.gateway.domain.records import audit_record, rejection_audit_record
from services.gateway.domain.redaction import present_paths
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from services.hubkit.topology import AUDIT_TOPIC, load_topology
from tests.factories import FIXED_NOW, POLICIES

# The six recipients these synthetic decisions are written for: the audit tests count records
# per notice, and do not change when the policy adds a subscriber.
AUDITED_SUBSCRIBERS = (
    "mash-manager",
    "mash-health-navigator",
    "mash-police-researcher",
    "responsible-la",
    "return-interview-provider",
    "school-dsl",
)
TOPOLOGY = load_topology(POLICIES)
HUB_KEY = SigningKey.generate("gateway")
CONSOLE_KEY = SigningKey.generate("console")
AGENCY_KEY = SigningKey.generate("adapter-police")
TRUSTED_KEYS = KeyDirectory.of([HUB_KEY, CONSOLE_KEY, AGENCY_KEY])

_BASIS = LawfulBasis(
    article6="6(1)(e) public task",
    special_category_condition="9(2)(g) with DPA 2018 Sch 1 para 18",
    dpa_part3=None,
    statutory_gateway="Children Act 2004 s11",
)
_THIRD_PARTY = ("referrer", "third_parties")


def decision_for(subscriber_id: str, notice: dict[str, Any]) -> SharingDecision:
    paths = sorted(present_paths(notice))
    outside = [p for p in paths if p not in _THIRD_PARTY and p != "narrative.full_account"]
    table: dict[str, tuple[SharingOutcome, list[str], str, tuple[str, ...]]] = {
        "mash-manager": (SharingOutcome.PERMIT, paths, "SAFEGUARDING_TRIAGE", ("R1", "R2")),
        "mash-health-navigator": (
            SharingOutcome.PERMIT,
            paths,
            "SAFEGUARDING_TRIAGE",
            ("R1", "R3"),
        ),
        "mash-police-researcher": (
            SharingOutcome.PERMIT,
            paths,
            "SAFEGUARDING_TRIAGE",
            ("R1", "R5"),
        ),
        "responsible-la": (
            SharingOutcome.PARTIAL,
            outside,
            "CHILD_PROTECTION_ENQUIRY",
            ("R7", "R14"),
        ),
        "return-interview-provider": (SharingOutcome.DENY, [], "RETURN_HOME_INTERVIEW", ("R10",)),
        "school-dsl": (
            SharingOutcome.FLAG_ONLY,
            ["subject.linkage_key"],
            "OPERATION_ENCOMPASS",
            ("R9", "R14"),
        ),
    }
    outcome, permitted, purpose, rules = table[subscriber_id]
    verb = "Withheld" if outcome is SharingOutcome.DENY else "Shared"
    return SharingDecision(
        subscriber_id=subscriber_id,
        outcome=outcome,
        permitted_fields=tuple(permitted),
        purpose=purpose,
        lawful_basis=_BASIS,
        isa_clause="ISA-SYN-2026 clause 4.2",
        rule_ids=rules,
        explanation=f"{verb} because synthetic rules {', '.join(rules)} apply.",
    )


def audit_records(
    notice: dict[str, Any], *, decided_at: dt.datetime = FIXED_NOW, revision: str = "rev-test"
) -> list[dict[str, Any]]:
    """One audit record per subscriber for a notice, as the gateway writes them."""
    return [
        audit_record(
            notice=notice,
            decision=decision_for(s.subscriber_id, notice),
            subscriber=s,
            policy_revision=revision,
            decided_at=decided_at,
        )
        for s in TOPOLOGY.subscribers
        if s.subscriber_id in AUDITED_SUBSCRIBERS
    ]


def rejection(*, offset: int, at: dt.datetime = FIXED_NOW) -> dict[str, Any]:
    return rejection_audit_record(
        reason="BAD_SIGNATURE",
        detail="signature does not verify",
        notice_id=None,
        source_topic="notices.police.v1",
        source_partition=0,
        source_offset=offset,
        rejected_at=at,
    )


def encode(catalog: SchemaCatalog, record: dict[str, Any], *, key: SigningKey = HUB_KEY) -> bytes:
    """The record as the gateway writes it to audit.decisions.v1: sealed with the hub key (or,
    to forge one, with another `key`)."""
    return seal(catalog, catalog.encode(MessageType.AUDIT_RECORD, record), key, FIXED_NOW)


def encode_bare(catalog: SchemaCatalog, record: dict[str, Any]) -> bytes:
    """The record unsigned, as audit logs held it before records were signed (and as a forger
    without the hub key would write it)."""
    return catalog.encode(MessageType.AUDIT_RECORD, record)


def logged(data: bytes, *, offset: int = 0, topic: str = AUDIT_TOPIC) -> LogEntry:
    """The log entry the indexer makes of `data` read at `offset` of `topic`."""
    return entry_for_bytes(
        _CATALOG, data, keys=TRUSTED_KEYS, source=SourcePosition(topic, 0, offset)
    )


_CATALOG = SchemaCatalog(POLICIES.parent / "schemas" / "avro")
