"""Synthetic safeguarding notices in the hub's shape: fictional children, fictional events.

Deterministic for a given seed so tests and benchmarks are repeatable. Names are drawn from
short invented lists; NHS numbers are in the 999 test range and pass the modulus-11 check.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from services.childindex.domain import LinkageKeyer
from services.hubkit.notice import notice_id_for

__all__ = ["SyntheticChild", "SyntheticNotices", "synthetic_nhs_number"]

_GIVEN = [
    "Avery",
    "Brook",
    "Casey",
    "Dara",
    "Eden",
    "Frankie",
    "Harper",
    "Jules",
    "Kit",
    "Lane",
    "Marlo",
    "Nico",
    "Oakley",
    "Perry",
    "Quinn",
    "Remy",
    "Sasha",
    "Tatum",
    "Umi",
    "Wren",
]
_FAMILY = [
    "Ashdown",
    "Bramwell",
    "Coldharbour",
    "Dunmore",
    "Elmsley",
    "Fernhill",
    "Greystoke",
    "Hollins",
    "Ivybridge",
    "Kestrel-Moor",
    "Larkspur",
    "Merrow",
    "Northcote",
    "Oakhanger",
]
_ORGS = {
    "POLICE": "POL-XX01",
    "HEALTH": "NHS-RXX00",
    "CHILDRENS_SERVICES": "LA-E09000099",
    "VOLUNTARY_SECTOR": "VCS-SYN001",
    "MASH": "MASH-E09000099",
}
_SOURCE_OF = {
    "SAFEGUARDING_CONTACT": "POLICE",
    "DOMESTIC_ABUSE_INCIDENT": "POLICE",
    "MISSING_EPISODE": "POLICE",
    "EXPLOITATION_CONCERN": "POLICE",
    "POLICE_INTELLIGENCE": "POLICE",
    "TRAFFICKING_NRM": "VOLUNTARY_SECTOR",
    "HEALTH_SAFEGUARDING_ALERT": "HEALTH",
    "CSC_STATUS_CHANGE": "CHILDRENS_SERVICES",
    "MASH_DECISION": "MASH",
    "VCS_UPDATE": "VOLUNTARY_SECTOR",
}


def synthetic_nhs_number(rng: random.Random) -> str:
    """A 999-range test NHS number with a valid modulus-11 check digit."""
    while True:
        body = [9, 9, 9, *(rng.randrange(10) for _ in range(6))]
        check = 11 - sum(d * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, [*body, check]))


@dataclass(frozen=True, slots=True)
class SyntheticChild:
    given_name: str
    family_name: str
    date_of_birth: dt.date
    postcode: str
    nhs_number: str
    linkage_key: str
    exploitation_flagged: bool
    looked_after: bool


class SyntheticNotices:
    def __init__(self, *, seed: int, keyer: LinkageKeyer, now: dt.datetime) -> None:
        self._rng = random.Random(seed)
        self._keyer = keyer
        self._now = now
        self._counter = 0

    def child(self) -> SyntheticChild:
        rng = self._rng
        dob = (self._now - dt.timedelta(days=rng.randrange(365 * 3, 365 * 17))).date()
        nhs = synthetic_nhs_number(rng)
        return SyntheticChild(
            given_name=rng.choice(_GIVEN),
            family_name=rng.choice(_FAMILY),
            date_of_birth=dob,
            postcode=f"ZZ{rng.randrange(1, 9)} {rng.randrange(1, 9)}XY",
            nhs_number=nhs,
            linkage_key=self._keyer.key_for(nhs_number=nhs),
            exploitation_flagged=rng.random() < 0.3,
            looked_after=rng.random() < 0.25,
        )

    def notice(
        self,
        notice_type: str,
        *,
        child: SyntheticChild | None = None,
        classification: str | None = "OFFICIAL_SENSITIVE",
        **detail_overrides: Any,
    ) -> dict[str, Any]:
        """A notice of `notice_type` in the Avro record shape (datetimes, dates as objects)."""
        rng = self._rng
        child = child or self.child()
        self._counter += 1
        agency = _SOURCE_OF[notice_type]
        reference = f"SYN-{notice_type[:4]}-{self._counter:07d}-{rng.randrange(10**6):06d}"
        created = self._now - dt.timedelta(minutes=rng.randrange(0, 600))
        age = (self._now.date() - child.date_of_birth).days // 365
        detail = {**self._detail(notice_type, created), **detail_overrides}
        grading = None
        if notice_type == "POLICE_INTELLIGENCE":
            grading = {
                "scheme": "GRADING_3X5X2",
                "source_evaluation": rng.choice("123"),
                "intelligence_assessment": rng.choice("ABCDE"),
                "handling_code": rng.choice("PC"),
                "dissemination_authorisation": None,
            }
        return {
            "notice_id": notice_id_for(
                agency=agency, organisation_code=_ORGS[agency], source_reference=reference
            ),
            "notice_type": notice_type,
            "source": {
                "agency": agency,
                "organisation_code": _ORGS[agency],
                "source_reference": reference,
                "source_system": "synthetic",
            },
            "created_at": created,
            "subject": {
                "linkage_key": child.linkage_key,
                "nhs_number": child.nhs_number,
                "la_child_id": f"LAC{rng.randrange(10**6):06d}",
                "upn": None,
                "given_name": child.given_name,
                "family_name": child.family_name,
                "date_of_birth": child.date_of_birth,
                "age_years": age,
                "postcode_district": child.postcode.split()[0],
                "looked_after": child.looked_after,
                "responsible_la": "LA-E09000099",
                "placing_la": None,
                "exploitation_flagged": child.exploitation_flagged,
            },
            "concerns": [{"code": "CHILD_CRIMINAL_EXPLOITATION", "census_factor": "24A"}]
            if child.exploitation_flagged
            else [{"code": "NEGLECT", "census_factor": None}],
            "risk": {"level": rng.choice(["LOW", "MEDIUM", "HIGH"]), "immediate_danger": False},
            "narrative": {
                "summary": "Synthetic summary: concern reported for a fictional child.",
                "full_account": "Synthetic full account with details only the MASH should read.",
                "sensitivity": "SENSITIVE",
            },
            "classification": classification,
            "intelligence_grading": grading,
            "consent": {
                "status": "NOT_SOUGHT",
                "reason_not_sought": "Seeking consent could place the child at increased risk.",
            },
            "family_informed": {
                "informed": False,
                "reason_not_informed": "Risk of harm to the child.",
            },
            "referrer": {
                "role": "neighbour",
                "name": "Synthetic Referrer",
                "organisation": None,
                "contact": "07700 900000",
            },
            "third_parties": [],
            "contact_point": {
                "role": "Safeguarding desk",
                "organisation": _ORGS[agency],
                "telephone": "0300 000 0100",
                "secure_email": None,
            },
            "detail": detail,
        }

    def _detail(self, notice_type: str, created: dt.datetime) -> dict[str, Any]:
        rng = self._rng
        match notice_type:
            case "SAFEGUARDING_CONTACT":
                return {
                    "reason": "Synthetic: child seen out late with older associates.",
                    "children_in_household": rng.randrange(1, 4),
                }
            case "DOMESTIC_ABUSE_INCIDENT":
                return {
                    "incident_at": created,
                    "dash_risk": rng.choice(["STANDARD", "MEDIUM", "HIGH"]),
                    "children_present": True,
                    "marac_referral": rng.random() < 0.3,
                    "school_urn": "URN-999999",
                    "children_normally_resident": None,
                }
            case "MISSING_EPISODE":
                returned = rng.random() < 0.5
                return {
                    "status": "RETURNED" if returned else "REPORTED",
                    "risk_grade": rng.choice(["NO_APPARENT_RISK", "LOW", "MEDIUM", "HIGH"]),
                    "ssda903_code": rng.choice(["M", "A"]),
                    "started_at": created,
                    "ended_at": created + dt.timedelta(hours=9) if returned else None,
                    "return_interview_due_at": created + dt.timedelta(hours=81)
                    if returned
                    else None,
                    "carer_contact": "0300 000 0200",
                    "episodes_last_90_days": rng.randrange(1, 6),
                }
            case "EXPLOITATION_CONCERN":
                return {
                    "exploitation_types": ["CRIMINAL", "COUNTY_LINES"],
                    "indicators": ["unexplained money", "new phone"],
                }
            case "TRAFFICKING_NRM":
                return {
                    "exploitation_type": "CRIMINAL",
                    "first_responder_organisation": "Synthetic Children's Charity",
                    "referred_at": created,
                    "exploitation_account": "Synthetic account given by the child.",
                }
            case "HEALTH_SAFEGUARDING_ALERT":
                setting = rng.choice(["ED", "MIU", "SEXUAL_HEALTH", "CAMHS", "GP"])
                return {
                    "setting": setting,
                    "seen_at": created,
                    "snomed_codes": ["1064311000000109"],
                    "clinical_detail": "Synthetic clinical detail.",
                    "navigator_risk_summary": "Synthetic risk summary for partners.",
                    "cpis_flag": None,
                    "released_for_cp_decision": False,
                    "unscheduled_care": setting in ("ED", "MIU"),
                }
            case "CSC_STATUS_CHANGE":
                return {
                    "change": "CP_PLAN_STARTED",
                    "effective_date": created.date(),
                    "cp_category": "NEG",
                    "legal_status": None,
                    "primary_need": "N1",
                    "assessment_factors": ["10A", "11A"],
                    "allocated_worker": None,
                    "referral_source": None,
                    "period_start_date": None,
                }
            case "POLICE_INTELLIGENCE":
                return {
                    "sanitised_text": "Synthetic sanitised intelligence.",
                    "source_details": "Synthetic source-identifying detail.",
                }
            case "MASH_DECISION":
                return {
                    "rag": "AMBER",
                    "outcome": "S17_ASSESSMENT",
                    "rationale": "Synthetic rationale.",
                    "family_agreement": False,
                    "decided_by_role": "MASH manager",
                    "related_notice_ids": [],
                    "agreed_actions": ["Allocate for assessment"],
                    "referring_organisations": ["POL-XX01"],
                    "early_help_organisation": None,
                }
            case "VCS_UPDATE":
                return {
                    "kind": "ENGAGEMENT",
                    "category_of_need": "Emotional wellbeing",
                    "agreed_actions": ["Weekly mentoring"],
                    "safety_instructions": None,
                    "outcome_summary": None,
                }
        raise ValueError(f"unknown notice type {notice_type}")
