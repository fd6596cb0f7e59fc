"""The sharing decision contract between the policy (Rego) and whoever reads its answers.

The policy answers one query per notice with an object keyed by subscriber id. Anything that
is not exactly that shape is SharingDecisionInvalid, so a broken policy can never widen
disclosure. The gateway reads it as a PolicyResultInvalid (retry, disclose nothing:
services/gateway/domain/decisions.py); the IG policy tools as a decision they cannot show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import repeat
from typing import Any

from services.hubkit.errors import SharingDecisionInvalid

__all__ = [
    "CLASSIFICATION_ORDER",
    "FEED_IDENTITY_FIELDS",
    "LawfulBasis",
    "SharingDecision",
    "SharingOutcome",
    "parse_decisions",
]

# A feed item always names the notice, its type and the child's linkage key (to join a
# chronology), so a decision that discloses anything must permit these paths: otherwise the
# feed item itself would carry fields the policy withheld.
FEED_IDENTITY_FIELDS = ("notice_id", "notice_type", "subject.linkage_key")


class SharingOutcome(StrEnum):
    PERMIT = "PERMIT"
    PARTIAL = "PARTIAL"
    FLAG_ONLY = "FLAG_ONLY"
    DENY = "DENY"


@dataclass(frozen=True, slots=True)
class LawfulBasis:
    """schemas/avro/safehub.gateway.LawfulBasis.avsc. The last two are optional for the policy
    (absent or null is None): the discloser's Art 10 condition for criminal offence data, and
    the recipient's own basis, recorded apart from the discloser's."""

    article6: str
    special_category_condition: str | None
    dpa_part3: str | None
    statutory_gateway: str
    criminal_offence_condition: str | None = None
    recipient_basis: str | None = None

    def as_record(self) -> dict[str, str | None]:
        return {
            "article6": self.article6,
            "special_category_condition": self.special_category_condition,
            "dpa_part3": self.dpa_part3,
            "statutory_gateway": self.statutory_gateway,
            "criminal_offence_condition": self.criminal_offence_condition,
            "recipient_basis": self.recipient_basis,
        }


@dataclass(frozen=True, slots=True)
class SharingDecision:
    subscriber_id: str
    outcome: SharingOutcome
    permitted_fields: tuple[str, ...]
    purpose: str
    lawful_basis: LawfulBasis
    isa_clause: str | None
    rule_ids: tuple[str, ...]
    explanation: str
    reason_code: str | None = None
    """Set only when the gateway, not the policy, withheld (e.g. CEILING_EXCEEDED); it goes
    into the audit record's reason_code."""
    handling_caveat: str | None = None
    """A classification the recipient's copy is marked with whatever the sender marked (R5:
    police intelligence is OFFICIAL-SENSITIVE); never lowers the sender's marking."""

    @property
    def discloses(self) -> bool:
        return self.outcome is not SharingOutcome.DENY and bool(self.permitted_fields)


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise SharingDecisionInvalid(f"{where}: '{key}' must be a non-empty string")
    return value


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise SharingDecisionInvalid(f"{where}: '{key}' must be a string or null")
    return value


def _strings(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key)
    # map(isinstance, ...) checks every item without a Python frame per item.
    if not isinstance(value, list) or not all(map(isinstance, value, repeat(str))):
        raise SharingDecisionInvalid(f"{where}: '{key}' must be a list of strings")
    return tuple(sorted(set(value)))


_OUTCOMES = {outcome.value: outcome for outcome in SharingOutcome}

# Government Security Classifications the policy may mark a copy with, lowest first.
CLASSIFICATION_ORDER = ("OFFICIAL", "OFFICIAL_SENSITIVE")


def _caveat(entry: Mapping[str, Any], where: str) -> str | None:
    caveat = _optional_text(entry, "handling_caveat", where)
    if caveat is not None and caveat not in CLASSIFICATION_ORDER:
        raise SharingDecisionInvalid(f"{where}: unknown handling_caveat {caveat!r}")
    return caveat


def _decision(subscriber_id: str, entry: Any) -> SharingDecision:
    where = f"decision for {subscriber_id}"
    if not isinstance(entry, Mapping):
        raise SharingDecisionInvalid(f"{where} is not an object")
    outcome = _OUTCOMES.get(str(entry.get("outcome")))
    if outcome is None:
        raise SharingDecisionInvalid(f"{where}: unknown outcome {entry.get('outcome')!r}")
    basis = entry.get("lawful_basis")
    if not isinstance(basis, Mapping):
        raise SharingDecisionInvalid(f"{where}: 'lawful_basis' must be an object")
    permitted = _strings(entry, "permitted_fields", where)
    if outcome is SharingOutcome.DENY and permitted:
        raise SharingDecisionInvalid(f"{where}: DENY must not permit fields")
    if outcome is not SharingOutcome.DENY and permitted:
        missing = [f for f in FEED_IDENTITY_FIELDS if f not in permitted]
        if missing:
            raise SharingDecisionInvalid(
                f"{where}: a disclosure must permit {', '.join(missing)} (the feed item names them)"
            )
    return SharingDecision(
        subscriber_id=subscriber_id,
        outcome=outcome,
        permitted_fields=permitted,
        purpose=_text(entry, "purpose", where),
        lawful_basis=LawfulBasis(
            article6=_text(basis, "article6", where),
            special_category_condition=_optional_text(basis, "special_category_condition", where),
            dpa_part3=_optional_text(basis, "dpa_part3", where),
            statutory_gateway=_text(basis, "statutory_gateway", where),
            criminal_offence_condition=_optional_text(basis, "criminal_offence_condition", where),
            recipient_basis=_optional_text(basis, "recipient_basis", where),
        ),
        isa_clause=_optional_text(entry, "isa_clause", where),
        rule_ids=_strings(entry, "rule_ids", where),
        handling_caveat=_caveat(entry, where),
        explanation=_text(entry, "explanation", where),
    )


def parse_decisions(result: Any, subscriber_ids: Iterable[str]) -> dict[str, SharingDecision]:
    """Validate a policy result. Every expected subscriber must have a well-formed decision."""
    if not isinstance(result, Mapping):
        raise SharingDecisionInvalid(
            f"policy result must be an object keyed by subscriber, got {type(result).__name__}"
        )
    decisions: dict[str, SharingDecision] = {}
    for subscriber_id in subscriber_ids:
        if subscriber_id not in result:
            raise SharingDecisionInvalid(f"policy returned no decision for {subscriber_id}")
        decisions[subscriber_id] = _decision(subscriber_id, result[subscriber_id])
    return decisions
