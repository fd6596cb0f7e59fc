"""The hub vocabularies native records may use, mirroring the Avro enums symbol for symbol.

A unit test checks each enum against its `.avsc` file, so the adapters cannot drift from the
notice schema.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "EXPLOITATION_CONCERNS",
    "Classification",
    "ConcernCode",
    "ConsentStatus",
    "ExploitationType",
    "NarrativeSensitivity",
    "RiskLevel",
]


class ConcernCode(StrEnum):
    CHILD_SEXUAL_EXPLOITATION = "CHILD_SEXUAL_EXPLOITATION"
    CHILD_CRIMINAL_EXPLOITATION = "CHILD_CRIMINAL_EXPLOITATION"
    COUNTY_LINES = "COUNTY_LINES"
    ONLINE_HARM = "ONLINE_HARM"
    TRAFFICKING = "TRAFFICKING"
    MISSING = "MISSING"
    NEGLECT = "NEGLECT"
    PHYSICAL_ABUSE = "PHYSICAL_ABUSE"
    SEXUAL_ABUSE = "SEXUAL_ABUSE"
    EMOTIONAL_ABUSE = "EMOTIONAL_ABUSE"
    DOMESTIC_ABUSE = "DOMESTIC_ABUSE"
    SELF_HARM = "SELF_HARM"
    MENTAL_HEALTH = "MENTAL_HEALTH"
    SUBSTANCE_MISUSE = "SUBSTANCE_MISUSE"
    FGM = "FGM"
    GANGS = "GANGS"
    OTHER = "OTHER"


class RiskLevel(StrEnum):
    NO_APPARENT_RISK = "NO_APPARENT_RISK"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class ConsentStatus(StrEnum):
    NOT_SOUGHT = "NOT_SOUGHT"
    GIVEN = "GIVEN"
    REFUSED = "REFUSED"
    NOT_REQUIRED = "NOT_REQUIRED"


class NarrativeSensitivity(StrEnum):
    ROUTINE = "ROUTINE"
    SENSITIVE = "SENSITIVE"
    CLINICAL = "CLINICAL"
    POLICE_CONFIDENTIAL = "POLICE_CONFIDENTIAL"


class Classification(StrEnum):
    OFFICIAL = "OFFICIAL"
    OFFICIAL_SENSITIVE = "OFFICIAL_SENSITIVE"


class ExploitationType(StrEnum):
    SEXUAL = "SEXUAL"
    CRIMINAL = "CRIMINAL"
    COUNTY_LINES = "COUNTY_LINES"
    ONLINE = "ONLINE"
    LABOUR = "LABOUR"
    DOMESTIC_SERVITUDE = "DOMESTIC_SERVITUDE"
    ORGAN_REMOVAL = "ORGAN_REMOVAL"


EXPLOITATION_CONCERNS: frozenset[str] = frozenset(
    {
        ConcernCode.CHILD_SEXUAL_EXPLOITATION,
        ConcernCode.CHILD_CRIMINAL_EXPLOITATION,
        ConcernCode.COUNTY_LINES,
        ConcernCode.TRAFFICKING,
        ConcernCode.GANGS,
    }
)
"""Concerns that flag a child for exploitation (Subject.exploitation_flagged), so an 'absent'
episode of that child is shared as missing (rule R8). The policy's R8 list, plus GANGS: the
CIN census treats gang involvement (factor 13A) as an exploitation signal."""
