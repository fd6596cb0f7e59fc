"""Synthetic records in each agency's NATIVE format: what the adapters receive.

Fictional children, fictional events: names from short invented lists, NHS numbers in the
999 test range (modulus-11 valid), postcodes in the non-existent ZZ area, organisation codes
from the policy bundle's synthetic agencies. Deterministic for a seed and a `now`.

Records are JSON-ready dicts (dates and times as ISO 8601 strings) exactly as an integrator
would post them; CSV uploads are strings. Each agency records the same child its own way
(upper-case surnames at police, spaced double-barrelled names in health; sex as F/M at police
and charities, a census code at children's services, a FHIR gender at health), as real
systems do; the child index still joins them (services/childindex).

`as_held` rewrites a record's child identifiers to one agency's view of a child from the
synthetic population (services/synthetic/population.py: nicknames, typos, old postcodes, no
NHS number): what the demo's traffic sends (services/synthetic/traffic.py).

Scenarios:
- `linked_week`: one child seen by police (DASH incident), health (ED attendance) and
  children's services (referral) in the same week.
- `repeated_missing`: a looked-after child with repeated missing episodes: police
  missing-person records, the LA's SSDA903 upload, and a return-interview outcome.
- `nrm_referral`: a charity's NRM first-responder referral with police intelligence.
Police and children's services are NRM first responders too: `police_nrm_referral` and
`csc_nrm_referral` give their referral records (each adapter takes them on its own route).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from services.synthetic.notices import synthetic_nhs_number
from services.synthetic.population import AgencyRecord

__all__ = [
    "CARE_SETTING_SYSTEM",
    "CONCERN_EXTENSION",
    "CONCERN_SYSTEM",
    "NHS_NUMBER_SYSTEM",
    "ORGANISATION_CODE_SYSTEM",
    "REFERRAL_EXTENSION",
    "REGISTERED_SCHOOL_URN",
    "SSDA903_COLUMNS",
    "VCS_COLUMNS",
    "LinkedWeek",
    "NativeChild",
    "NativeRecords",
    "NrmScenario",
    "RepeatedMissing",
    "as_held",
    "to_csv",
    "with_risk",
]

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED = "http://snomed.info/sct"
CARE_SETTING_SYSTEM = "https://fhir.safehub.example/CodeSystem/care-setting"
CONCERN_SYSTEM = "https://fhir.safehub.example/CodeSystem/concern"
REFERRAL_EXTENSION = "https://fhir.safehub.example/StructureDefinition/safeguarding-referral"
CONCERN_EXTENSION = "https://fhir.safehub.example/StructureDefinition/safeguarding-concern"
ORGANISATION_CODE_SYSTEM = "https://fhir.safehub.example/Id/organisation-code"
_UK = ZoneInfo("Europe/London")  # SSDA903 dates and times are UK local
CP_PLAN_SNOMED = "1064311000000109"
LOOKED_AFTER_SNOMED = "764841000000100"
# The synthetic LA that owns every synthetic child's plan (the policy bundle's LA).
_RESPONSIBLE_LA = "LA-E09000099"
# The synthetic academy registered as a school subscriber in the policy bundle, so a linked
# week's domestic abuse incident reaches a school (Operation Encompass, rule R9).
REGISTERED_SCHOOL_URN = "999999"
# How forces write a school URN; the police adapter reads them all as "URN-<6 digits>".
_URN_STYLES = ("{}", "URN {}", "urn-{}", " URN:{} ")

SSDA903_COLUMNS = (
    "CHILD",
    "MISSING",
    "MIS_START",
    "MIS_END",
    "MIS_START_TIME",
    "MIS_END_TIME",
    "GIVEN_NAME",
    "FAMILY_NAME",
    "DOB",
    "SEX",
    "POSTCODE",
    "NHS_NUMBER",
    "RISK_GRADE",
    "PLACING_LA",
    "CARER_CONTACT",
    "EXPLOITATION_FLAGGED",
    "FAMILY_INFORMED",
    "FAMILY_NOT_INFORMED_REASON",
)
VCS_COLUMNS = (
    "reference",
    "kind",
    "recorded_at",
    "given_name",
    "family_name",
    "date_of_birth",
    "postcode",
    "nhs_number",
    "sex",
    "upn",
    "looked_after",
    "category_of_need",
    "concerns",
    "risk_level",
    "summary",
    "agreed_actions",
    "outcome_summary",
    "consent_status",
    "consent_reason_not_sought",
    "family_informed",
    "family_not_informed_reason",
    "worker_role",
    "worker_telephone",
)

_GIVEN = (
    "Ari",
    "Bex",
    "Cass",
    "Deni",
    "Ellis",
    "Fenn",
    "Gale",
    "Hollis",
    "Idris",
    "Jory",
    "Kai",
    "Lux",
    "Milo",
    "Nell",
    "Orrin",
    "Pip",
    "Roan",
    "Sol",
    "Tam",
    "Vale",
)
_FAMILY = (
    "Ashcombe",
    "Birchley",
    "Carrow-Hythe",
    "Dunleigh",
    "Eastwold",
    "Fallowmere",
    "Gorsey",
    "Hartwell-Penn",
    "Ivel",
    "Juniper",
    "Kilnsey",
    "Lowther",
    "Marchbank",
    "O'Farrell",
    "Pennock",
    "Quarrendon",
    "Rysdale",
    "Sallow",
    "Tarnbrook",
    "Underhill",
)
_SETTINGS = ("ED", "MIU", "CAMHS", "GP", "SEXUAL_HEALTH", "MATERNITY", "COMMUNITY")
_POLICE_CONTACT = {
    "role": "Public protection unit, referrals desk",
    "organisation": "Synthetic Constabulary",
    "telephone": "0300 000 0100",
    "secure_email": "ppu.referrals@synthetic-police.example",
}
_CSC_CONTACT = {
    "role": "Children's services front door",
    "organisation": "Synthetic Borough Children's Services",
    "telephone": "0300 000 0300",
    "secure_email": "front.door@synthetic-borough.example",
}


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class NativeChild:
    """One fictional child, with every identifier an agency might hold."""

    given_name: str
    family_name: str
    date_of_birth: dt.date
    postcode: str
    nhs_number: str
    la_child_id: str
    upn: str
    school_urn: str
    looked_after: bool
    exploitation_flagged: bool
    sex: str | None = None  # "F" or "M"; None when not known


# How each agency writes a child's sex (services/adapters/ingest/identifiers.py).
_FHIR_GENDER = {"F": "female", "M": "male"}
_CENSUS_SEX = {"M": "1", "F": "2"}


@dataclass(frozen=True, slots=True)
class LinkedWeek:
    child: NativeChild
    police_dash: dict[str, Any]
    health_bundle: dict[str, Any]
    csc_referral: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RepeatedMissing:
    child: NativeChild
    police_records: list[dict[str, Any]]
    ssda903_csv: str
    return_interview: dict[str, Any]
    episodes: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NrmScenario:
    child: NativeChild
    vcs_referral: dict[str, Any]
    police_intelligence: dict[str, Any]


def to_csv(rows: Sequence[dict[str, str]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header line (cells missing from a row are left empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buffer.getvalue()


class NativeRecords:
    """Generates native-format records. Every call advances one seeded random stream."""

    def __init__(self, *, seed: int, now: dt.datetime, run: str = "") -> None:
        """`run` (letters and digits) goes into every source reference, so records from
        separate runs against one long-lived broker never share a reference."""
        if run and not run.isalnum():
            raise ValueError("run must be letters and digits only")
        self._rng = random.Random(seed)
        self._now = now
        self._run = run.upper()
        self._serial = 0

    # ---- people and references -------------------------------------------------------
    def child(
        self, *, looked_after: bool | None = None, exploitation_flagged: bool | None = None
    ) -> NativeChild:
        rng = self._rng
        dob = (self._now - dt.timedelta(days=rng.randrange(365 * 4, 365 * 17))).date()
        given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
        postcode = (
            f"ZZ{rng.randrange(1, 10)} {rng.randrange(1, 10)}{rng.choice('ABDEFGHJ')}"
            f"{rng.choice('LNPQRSTUWXYZ')}"
        )
        nhs_number = synthetic_nhs_number(rng)
        return NativeChild(
            given_name=given,
            family_name=family,
            date_of_birth=dob,
            postcode=postcode,
            nhs_number=nhs_number,
            la_child_id=f"LAC{rng.randrange(10**6):06d}",
            upn=f"Z{rng.randrange(10**12):012d}",
            school_urn=f"999{rng.randrange(1000):03d}",
            looked_after=rng.random() < 0.2 if looked_after is None else looked_after,
            exploitation_flagged=rng.random() < 0.25
            if exploitation_flagged is None
            else exploitation_flagged,
            # From a digit already drawn, not the random stream, so other records stay put.
            sex="F" if int(nhs_number[8]) % 2 else "M",
        )

    def _next(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._run}{self._serial:06d}{self._rng.randrange(100):02d}"

    def _recent(self, *, max_hours: int = 72) -> dt.datetime:
        return self._now - dt.timedelta(minutes=self._rng.randrange(5, max_hours * 60))

    # ---- police -------------------------------------------------------------------------
    def _police_base(
        self, child: NativeChild, record_type: str, at: dt.datetime, occurrence: str | None
    ) -> dict[str, Any]:
        rng = self._rng
        return {
            "record_type": record_type,
            "occurrence_reference": occurrence or f"XX01/{at:%y}/{self._next('')}",
            "recorded_at": _iso(at),
            "source_system": "Synthetic RMS 4.2",
            "subject": {
                "given_name": child.given_name,
                # Police systems often hold surnames in capitals.
                "family_name": child.family_name.upper(),
                "date_of_birth": child.date_of_birth.isoformat(),
                "postcode": child.postcode,
                "nhs_number": child.nhs_number,
                "sex": child.sex,
                "looked_after": child.looked_after,
                "responsible_la": _RESPONSIBLE_LA,
                "exploitation_flagged": child.exploitation_flagged,
                # Chosen by the URN itself, not the random stream, so other records stay put.
                # Only a DASH incident carries it: the adapter refuses it on other records,
                # whose notices have no place for it (issue 21).
                "school_urn": _URN_STYLES[int(child.school_urn) % len(_URN_STYLES)].format(
                    child.school_urn
                )
                if record_type == "DASH_INCIDENT"
                else None,
            },
            "concerns": [{"code": "CHILD_CRIMINAL_EXPLOITATION", "census_factor": "24A"}]
            if child.exploitation_flagged
            else [],
            "risk": {"level": rng.choice(["LOW", "MEDIUM", "HIGH"]), "immediate_danger": False},
            "summary": "Synthetic: officers attended; concerns for the child's welfare.",
            "full_account": "Synthetic full account recorded by the attending officers.",
            "consent": {
                "status": "NOT_SOUGHT",
                "reason_not_sought": "Seeking consent could place the child at increased risk.",
            },
            "family_informed": {
                "informed": False,
                "reason_not_informed": "Telling the family could put the child at risk.",
            },
            "referrer": {"role": "neighbour", "name": "Synthetic Neighbour", "contact": None},
            "officer_contact": dict(_POLICE_CONTACT),
        }

    def police_ppn(self, child: NativeChild, *, at: dt.datetime | None = None) -> dict[str, Any]:
        at = at or self._recent()
        record = self._police_base(child, "PUBLIC_PROTECTION_NOTICE", at, None)
        record["reason"] = "Synthetic: child seen late at night with older associates."
        record["children_in_household"] = self._rng.randrange(1, 5)
        return record

    def police_dash(
        self, child: NativeChild, *, at: dt.datetime | None = None, children_present: bool = True
    ) -> dict[str, Any]:
        at = at or self._recent()
        record = self._police_base(child, "DASH_INCIDENT", at, None)
        record["incident_at"] = _iso(at - dt.timedelta(minutes=self._rng.randrange(20, 180)))
        record["dash_grade"] = self._rng.choice(["STANDARD", "MEDIUM", "HIGH"])
        record["children_present"] = children_present
        # The child lives there, present or not (Operation Encompass covers both, rule R9).
        record["children_normally_resident"] = True
        record["marac_referral"] = record["dash_grade"] == "HIGH"
        return record

    def police_missing(
        self,
        child: NativeChild,
        *,
        status: str,
        missing_since: dt.datetime,
        found_or_returned_at: dt.datetime | None = None,
        occurrence: str | None = None,
        episodes_last_90_days: int = 1,
    ) -> dict[str, Any]:
        at = found_or_returned_at or missing_since + dt.timedelta(minutes=30)
        record = self._police_base(child, "MISSING_PERSON", at, occurrence)
        record["status"] = status
        record["risk_grade"] = "HIGH" if child.exploitation_flagged else "MEDIUM"
        record["missing_since"] = _iso(missing_since)
        record["found_or_returned_at"] = (
            _iso(found_or_returned_at) if found_or_returned_at else None
        )
        record["ssda903_code"] = "M" if child.looked_after else None
        record["carer_contact"] = "0300 000 0200" if child.looked_after else None
        record["episodes_last_90_days"] = episodes_last_90_days
        record["summary"] = "Synthetic: child reported missing from home or placement."
        return record

    def police_intelligence(
        self, child: NativeChild, *, legacy: bool = False, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        rng = self._rng
        at = at or self._recent()
        record = self._police_base(child, "INTELLIGENCE_REPORT", at, None)
        record["grading"] = (
            {
                "scheme": "5x5x5",
                "source_evaluation": rng.choice("ABCDE"),
                "intelligence_assessment": rng.choice("12345"),
                "handling_code": rng.choice("12345"),
            }
            if legacy
            else {
                "scheme": "3x5x2",
                "source_evaluation": rng.choice("123"),
                "intelligence_assessment": rng.choice("ABCDE"),
                "handling_code": rng.choice("PC"),
            }
        )
        if legacy and record["grading"]["handling_code"] == "2":
            # Code 2 reaches partners only with a recorded authorisation (rule R6).
            record["grading"]["dissemination_authorisation"] = (
                f"AUTH/XX01/{at:%y}/{self._serial:06d}"
            )
        record["sanitised_text"] = "Synthetic: child believed to be running items for a group."
        record["source_details"] = "Synthetic source detail (police only)."
        record["sensitivity"] = "POLICE_CONFIDENTIAL"
        record["referrer"] = None
        return record

    def police_nrm_referral(
        self, child: NativeChild, *, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """An NRM referral the force made as first responder (POST /v1/nrm-referrals)."""
        at = at or self._recent()
        record = self._police_base(child, "NRM_REFERRAL", at, None)
        del record["record_type"]  # its own route; no record type to select
        record.update(self._nrm_fields(at))
        record["summary"] = "Synthetic: NRM referral made by the force as first responder."
        record["consent"] = {"status": "NOT_REQUIRED"}
        return record

    def _nrm_fields(self, at: dt.datetime) -> dict[str, Any]:
        return {
            "exploitation_type": self._rng.choice(["CRIMINAL", "SEXUAL", "COUNTY_LINES"]),
            "exploitation_account": "Synthetic account given by the child.",
            "referred_at": _iso(at - dt.timedelta(minutes=30)),
        }

    # ---- health (FHIR R4 Bundle) -------------------------------------------------------------
    def health_bundle(
        self,
        child: NativeChild,
        *,
        setting: str | None = None,
        seen_at: dt.datetime | None = None,
        cp_plan_since: dt.date | None = None,
        plan_snomed: str | None = None,
    ) -> dict[str, Any]:
        """`plan_snomed` overrides the plan flag's SNOMED CT code (CP plan by default, looked
        after for a looked-after child)."""
        rng = self._rng
        setting = setting or rng.choice(_SETTINGS)
        seen = seen_at or self._recent()
        reference = self._next("SGA-")
        given, family = child.given_name, child.family_name.replace("-", " ")
        entries: list[dict[str, Any]] = [
            {
                "fullUrl": "urn:uuid:patient-1",
                "resource": {
                    "resourceType": "Patient",
                    "id": "patient-1",
                    "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": child.nhs_number}],
                    "name": [{"use": "official", "family": family, "given": [given]}],
                    "birthDate": child.date_of_birth.isoformat(),
                    "gender": _FHIR_GENDER.get(child.sex or "", "unknown"),
                    "address": [{"use": "home", "postalCode": child.postcode.lower()}],
                },
            },
            {
                "fullUrl": "urn:uuid:encounter-1",
                "resource": {
                    "resourceType": "Encounter",
                    "id": "encounter-1",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "EMER" if setting in ("ED", "MIU") else "AMB",
                    },
                    "serviceType": {"coding": [{"system": CARE_SETTING_SYSTEM, "code": setting}]},
                    "subject": {"reference": "urn:uuid:patient-1"},
                    "period": {"start": _iso(seen)},
                    "extension": [self._referral_extension()],
                },
            },
            {
                "fullUrl": "urn:uuid:obs-1",
                "resource": {
                    "resourceType": "Observation",
                    "id": "obs-1",
                    "status": "final",
                    "code": {"text": "Safeguarding concern"},
                    "subject": {"reference": "urn:uuid:patient-1"},
                    "valueString": "Synthetic: injury pattern inconsistent with account.",
                    "note": [{"text": "Synthetic clinical detail for the health navigator."}],
                    "extension": [
                        {
                            "url": CONCERN_EXTENSION,
                            "valueCoding": {
                                "system": CONCERN_SYSTEM,
                                "code": "CHILD_CRIMINAL_EXPLOITATION"
                                if child.exploitation_flagged
                                else "PHYSICAL_ABUSE",
                            },
                        }
                    ],
                },
            },
        ]
        if cp_plan_since is not None or child.looked_after:
            code = plan_snomed or (LOOKED_AFTER_SNOMED if child.looked_after else CP_PLAN_SNOMED)
            entries.append(
                {
                    "fullUrl": "urn:uuid:flag-1",
                    "resource": {
                        "resourceType": "Flag",
                        "id": "flag-1",
                        "status": "active",
                        "code": {"coding": [{"system": SNOMED, "code": code}]},
                        "subject": {"reference": "urn:uuid:patient-1"},
                        "period": {
                            "start": (
                                cp_plan_since or (seen - dt.timedelta(days=200)).date()
                            ).isoformat()
                        },
                        # The LA that owns the plan: its contact, and its code (rule R13).
                        "author": {
                            "identifier": {
                                "system": ORGANISATION_CODE_SYSTEM,
                                "value": _RESPONSIBLE_LA,
                            },
                            "display": "Synthetic Borough Children's Services, 0300 000 0300",
                        },
                    },
                }
            )
        return {
            "resourceType": "Bundle",
            "id": reference.lower(),
            "identifier": {
                "system": "https://trust.example/safeguarding-alert",
                "value": reference,
            },
            "type": "collection",
            "timestamp": _iso(seen + dt.timedelta(minutes=40)),
            "entry": entries,
        }

    def _referral_extension(self) -> dict[str, Any]:
        level = self._rng.choice(["LOW", "MEDIUM", "HIGH"])
        return {
            "url": REFERRAL_EXTENSION,
            "extension": [
                {"url": "riskLevel", "valueCode": level},
                {"url": "immediateDanger", "valueBoolean": False},
                {
                    "url": "navigatorRiskSummary",
                    "valueString": "Synthetic: safeguarding concern raised in a health setting.",
                },
                {"url": "consentStatus", "valueCode": "NOT_SOUGHT"},
                {
                    "url": "consentReasonNotSought",
                    "valueString": "Seeking consent could increase the risk to the child.",
                },
                {"url": "familyInformed", "valueBoolean": True},
                {"url": "contactRole", "valueString": "Named nurse for safeguarding children"},
                {"url": "contactTelephone", "valueString": "0300 000 0400"},
            ],
        }

    # ---- children's social care -----------------------------------------------------------
    def _csc_base(self, child: NativeChild, record_type: str, at: dt.datetime) -> dict[str, Any]:
        rng = self._rng
        factors = ["24A", "10A"] if child.exploitation_flagged else [rng.choice(["3A", "4B", "1B"])]
        return {
            "record_type": record_type,
            "record_id": self._next("CS-"),
            "recorded_at": _iso(at),
            "source_system": "Synthetic Case System 7",
            "child": {
                "LAchildID": child.la_child_id,
                "UPN": child.upn,
                "nhs_number": child.nhs_number,
                "sex": _CENSUS_SEX.get(child.sex or "", "0"),
                "given_name": child.given_name,
                "family_name": child.family_name.lower(),
                "date_of_birth": child.date_of_birth.strftime("%d/%m/%Y"),
                "postcode": child.postcode,
                "looked_after": child.looked_after,
                "exploitation_flagged": child.exploitation_flagged,
            },
            "primary_need": rng.choice(["N1", "N2", "N3", "N4"]),
            "assessment_factors": factors,
            "risk": {"level": rng.choice(["MEDIUM", "HIGH"]), "immediate_danger": False},
            "summary": "Synthetic: status change recorded by children's services.",
            "full_account": None,
            "consent": {
                "status": "NOT_SOUGHT",
                "reason_not_sought": "Child at risk of significant harm.",
            },
            "family_informed": {"informed": True},
            "contact_point": dict(_CSC_CONTACT),
        }

    def csc_referral(self, child: NativeChild, *, at: dt.datetime | None = None) -> dict[str, Any]:
        at = at or self._recent()
        record = self._csc_base(child, "CIN_REFERRAL", at)
        record["referral_date"] = at.date().isoformat()
        record["referral_source"] = self._rng.choice(["6", "2A", "3C", "1A"])
        return record

    def csc_cp_plan(
        self,
        child: NativeChild,
        *,
        started: dt.date | None = None,
        ended: dt.date | None = None,
        at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        start = started or (at.date() if at else self._recent().date())
        record = self._csc_base(child, "CP_PLAN", at or self._recent())
        record["change"] = "ENDED" if ended else "STARTED"
        record["plan_start_date"] = start.isoformat()
        record["plan_end_date"] = ended.isoformat() if ended else None
        record["initial_category"] = self._rng.choice(["NEG", "PHY", "EMO", "SAB", "MUL"])
        return record

    def csc_looked_after(
        self, child: NativeChild, *, start: dt.date | None = None, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        record = self._csc_base(child, "LOOKED_AFTER", at or self._recent())
        record["change"] = "STARTED"
        record["legal_status"] = self._rng.choice(["S20", "S31", "S38"])
        record["start_date"] = (start or (at.date() if at else self._recent().date())).isoformat()
        return record

    def csc_s47(self, child: NativeChild, *, at: dt.datetime | None = None) -> dict[str, Any]:
        record = self._csc_base(child, "S47", at or self._recent())
        record["event"] = self._rng.choice(["ENQUIRY_STARTED", "STRATEGY_DISCUSSION_HELD"])
        record["event_date"] = (at.date() if at else self._recent().date()).isoformat()
        return record

    def csc_nrm_referral(
        self, child: NativeChild, *, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """An NRM referral the LA made as first responder (POST /v1/nrm-referrals)."""
        at = at or self._recent()
        record = self._csc_base(child, "NRM_REFERRAL", at)
        del record["record_type"]  # its own route; no record type to select
        record.update(self._nrm_fields(at))
        record["assessment_factors"] = ["12A"]
        record["primary_need"] = None  # an NRM notice has no place for it (refused)
        record["summary"] = "Synthetic: NRM referral made by children's services."
        record["consent"] = {"status": "NOT_REQUIRED"}
        return record

    def ssda903_row(
        self, child: NativeChild, *, start: dt.datetime, end: dt.datetime | None
    ) -> dict[str, str]:
        local_start = start.astimezone(_UK)
        local_end = end.astimezone(_UK) if end else None
        return {
            "CHILD": child.la_child_id,
            "MISSING": "M" if child.exploitation_flagged or self._rng.random() < 0.7 else "A",
            "MIS_START": local_start.strftime("%d/%m/%Y"),
            "MIS_START_TIME": local_start.strftime("%H:%M"),
            "MIS_END": local_end.strftime("%d/%m/%Y") if local_end else "",
            "MIS_END_TIME": local_end.strftime("%H:%M") if local_end else "",
            "GIVEN_NAME": child.given_name,
            "FAMILY_NAME": child.family_name,
            "DOB": child.date_of_birth.strftime("%d/%m/%Y"),
            "SEX": _CENSUS_SEX.get(child.sex or "", ""),
            "POSTCODE": child.postcode,
            "NHS_NUMBER": child.nhs_number,
            "RISK_GRADE": "HIGH" if child.exploitation_flagged else "MEDIUM",
            "PLACING_LA": "LA-E09000098",
            "CARER_CONTACT": "0300 000 0200",
            "EXPLOITATION_FLAGGED": "Y" if child.exploitation_flagged else "N",
            "FAMILY_INFORMED": "Y",
            "FAMILY_NOT_INFORMED_REASON": "",
        }

    # ---- voluntary sector --------------------------------------------------------------
    def vcs_update(
        self, child: NativeChild, *, kind: str | None = None, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        rng = self._rng
        kind = kind or rng.choice(["ENGAGEMENT", "CONCERN", "RETURN_INTERVIEW_OUTCOME"])
        at = at or self._recent()
        form: dict[str, Any] = {
            "reference": self._next("VCS-"),
            "kind": kind,
            "recorded_at": _iso(at),
            "given_name": child.given_name,
            "family_name": child.family_name,
            "date_of_birth": child.date_of_birth.isoformat(),
            "postcode": child.postcode,
            # A return-interview provider commissioned by the LA gets the child's identifiers
            # (rule R7); other charities rarely hold an NHS number.
            "nhs_number": child.nhs_number if child.looked_after else None,
            "sex": child.sex,
            "looked_after": child.looked_after,
            "category_of_need": "Risk of exploitation"
            if child.exploitation_flagged
            else "Emotional wellbeing",
            "concerns": ["CHILD_CRIMINAL_EXPLOITATION"] if child.exploitation_flagged else [],
            "risk_level": rng.choice(["LOW", "MEDIUM", "HIGH"]),
            "summary": "Synthetic: update from the charity's key worker.",
            "agreed_actions": ["Weekly mentoring", "Share with allocated social worker"],
            "outcome_summary": "Synthetic: push and pull factors discussed."
            if kind == "RETURN_INTERVIEW_OUTCOME"
            else None,
            "consent_status": "GIVEN",
            "family_informed": True,
            "worker_role": "Missing and exploitation service",
            "worker_telephone": "0300 000 0500",
        }
        if kind == "NRM_REFERRAL":
            form.update(
                {
                    "consent_status": None,
                    # An NRM referral's notice has no place for the update's own detail.
                    "category_of_need": None,
                    "agreed_actions": [],
                    "exploitation_type": "CRIMINAL",
                    "exploitation_account": "Synthetic account given by the child.",
                    "referred_at": _iso(at - dt.timedelta(minutes=30)),
                    "family_informed": False,
                    "family_not_informed_reason": "Family members may be involved.",
                }
            )
        return form

    def vcs_csv_row(self, form: dict[str, Any]) -> dict[str, str]:
        """A VCS form as one CSV row (lists joined with ';', booleans as true/false)."""
        row: dict[str, str] = {}
        for column in VCS_COLUMNS:
            value = form.get(column)
            if value is None:
                row[column] = ""
            elif isinstance(value, bool):
                row[column] = "true" if value else "false"
            elif isinstance(value, list):
                row[column] = ";".join(str(v) for v in value)
            else:
                row[column] = str(value)
        return row

    # ---- any record of an agency ----------------------------------------------------------
    def record(self, agency: str, child: NativeChild | None = None) -> dict[str, Any]:
        """One random JSON record for `agency` (POLICE, HEALTH, CHILDRENS_SERVICES,
        VOLUNTARY_SECTOR)."""
        child = child or self.child()
        rng = self._rng
        match agency:
            case "POLICE":
                kind = rng.randrange(4)
                if kind == 0:
                    return self.police_ppn(child)
                if kind == 1:
                    return self.police_dash(child)
                if kind == 2:
                    since = self._recent()
                    return self.police_missing(
                        child,
                        status="RETURNED",
                        missing_since=since,
                        found_or_returned_at=since + dt.timedelta(hours=rng.randrange(2, 30)),
                    )
                return self.police_intelligence(child, legacy=rng.random() < 0.3)
            case "HEALTH":
                return self.health_bundle(child)
            case "CHILDRENS_SERVICES":
                kind = rng.randrange(4)
                if kind == 0:
                    return self.csc_referral(child)
                if kind == 1:
                    return self.csc_cp_plan(child)
                if kind == 2:
                    return self.csc_looked_after(child)
                return self.csc_s47(child)
            case "VOLUNTARY_SECTOR":
                return self.vcs_update(
                    child,
                    kind=rng.choice(
                        ["ENGAGEMENT", "CONCERN", "RETURN_INTERVIEW_OUTCOME", "NRM_REFERRAL"]
                    ),
                )
        raise ValueError(f"no native records for agency {agency!r}")

    # ---- scenarios ---------------------------------------------------------------------
    def linked_week(self) -> LinkedWeek:
        """One child seen by police, health and children's services in the same week."""
        child = dataclasses.replace(
            self.child(looked_after=False, exploitation_flagged=False),
            school_urn=REGISTERED_SCHOOL_URN,
        )
        monday = (self._now - dt.timedelta(days=self._now.weekday() + 7)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        incident = monday + dt.timedelta(days=1, hours=22, minutes=15)
        return LinkedWeek(
            child=child,
            police_dash=self.police_dash(child, at=incident),
            health_bundle=self.health_bundle(
                child, setting="ED", seen_at=incident + dt.timedelta(hours=11)
            ),
            csc_referral=self.csc_referral(child, at=incident + dt.timedelta(days=2, hours=11)),
        )

    def repeated_missing(self, episodes: int = 4) -> RepeatedMissing:
        """A looked-after child missing again and again over a few weeks."""
        child = self.child(looked_after=True, exploitation_flagged=True)
        spans: list[tuple[dt.datetime, dt.datetime]] = []
        start = self._now - dt.timedelta(days=8 * episodes)
        for _ in range(episodes):
            start = start + dt.timedelta(
                days=self._rng.randrange(5, 9), hours=self._rng.randrange(0, 6)
            )
            start = start.replace(
                hour=19, minute=self._rng.randrange(0, 60), second=0, microsecond=0
            )
            end = start + dt.timedelta(hours=self._rng.randrange(6, 40))
            spans.append((start, end))
        police: list[dict[str, Any]] = []
        for number, (since, back) in enumerate(spans, start=1):
            occurrence = f"XX01/{since:%y}/{self._next('')}"
            for status, ended in (("REPORTED", None), ("RETURNED", back)):
                police.append(
                    self.police_missing(
                        child,
                        status=status,
                        missing_since=since,
                        found_or_returned_at=ended,
                        occurrence=occurrence,
                        episodes_last_90_days=number,
                    )
                )
        rows = [self.ssda903_row(child, start=s, end=e) for s, e in spans]
        last_return = spans[-1][1]
        interview = self.vcs_update(
            child, kind="RETURN_INTERVIEW_OUTCOME", at=last_return + dt.timedelta(hours=50)
        )
        return RepeatedMissing(
            child=child,
            police_records=police,
            ssda903_csv=to_csv(rows, SSDA903_COLUMNS),
            return_interview=interview,
            episodes=spans,
        )

    def nrm_referral(self) -> NrmScenario:
        """A charity, as NRM first responder, refers a child; police hold intelligence."""
        child = self.child(exploitation_flagged=True)
        referral = self.vcs_update(child, kind="NRM_REFERRAL")
        return NrmScenario(
            child=child,
            vcs_referral=referral,
            police_intelligence=self.police_intelligence(child),
        )


# ---- one agency's view of a population child ------------------------------------------------
def as_held(agency: str, document: dict[str, Any], held: AgencyRecord) -> dict[str, Any]:
    """`document` (a record of `agency` about a child) with the child's identifiers as that
    agency holds them in `held`, written the agency's way. An identifier the agency's format
    requires (names everywhere, date of birth at children's services and charities, the NHS
    number in a FHIR Bundle, LAchildID) keeps the document's value when `held` lacks it: the
    agency's system would not have saved the record without it. Returns a new document."""
    doc = copy.deepcopy(document)
    given = held.given_name
    family = held.family_name
    dob = held.date_of_birth.isoformat() if held.date_of_birth else None
    match agency:
        case "POLICE":
            subject = doc["subject"]
            subject["given_name"] = given or subject["given_name"]
            subject["family_name"] = family.upper() if family else subject["family_name"]
            subject.update(
                date_of_birth=dob, postcode=held.postcode, nhs_number=held.nhs_number, sex=held.sex
            )
        case "HEALTH":
            patient = doc["entry"][0]["resource"]
            name = patient["name"][0]
            name["given"] = [given] if given else name["given"]
            name["family"] = family.replace("-", " ") if family else name["family"]
            if held.nhs_number:
                patient["identifier"][0]["value"] = held.nhs_number
            patient["gender"] = _FHIR_GENDER.get(held.sex or "", "unknown")
            # FHIR JSON has no nulls and no empty arrays: what is not held is left out.
            patient.pop("birthDate", None)
            patient.pop("address", None)
            if dob:
                patient["birthDate"] = dob
            if held.postcode:
                patient["address"] = [{"use": "home", "postalCode": held.postcode.lower()}]
        case "CHILDRENS_SERVICES":
            child = doc["child"]
            child["given_name"] = given or child["given_name"]
            child["family_name"] = family.lower() if family else child["family_name"]
            if held.date_of_birth:
                child["date_of_birth"] = held.date_of_birth.strftime("%d/%m/%Y")
            child["LAchildID"] = held.la_child_id or child["LAchildID"]
            child.update(
                UPN=held.upn,
                nhs_number=held.nhs_number,
                postcode=held.postcode,
                sex=_CENSUS_SEX.get(held.sex or "", "0"),
            )
        case "VOLUNTARY_SECTOR":
            doc["given_name"] = given or doc["given_name"]
            doc["family_name"] = family or doc["family_name"]
            doc["date_of_birth"] = dob or doc["date_of_birth"]
            doc.update(
                postcode=held.postcode, nhs_number=held.nhs_number, sex=held.sex, upn=held.upn
            )
        case _:
            raise ValueError(f"no native records for agency {agency!r}")
    return doc


def with_risk(
    agency: str, document: dict[str, Any], *, level: str, immediate_danger: bool
) -> dict[str, Any]:
    """`document` with the sender's risk level and immediate-danger flag, written where the
    agency's format holds them. Returns a new document."""
    doc = copy.deepcopy(document)
    match agency:
        case "POLICE" | "CHILDRENS_SERVICES":
            doc["risk"] = {"level": level, "immediate_danger": immediate_danger}
        case "VOLUNTARY_SECTOR":
            doc.update(risk_level=level, immediate_danger=immediate_danger)
        case "HEALTH":
            encounter = next(
                e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Encounter"
            )
            referral = next(x for x in encounter["extension"] if x["url"] == REFERRAL_EXTENSION)
            for part in referral["extension"]:
                if part["url"] == "riskLevel":
                    part["valueCode"] = level
                if part["url"] == "immediateDanger":
                    part["valueBoolean"] = immediate_danger
        case _:
            raise ValueError(f"no native records for agency {agency!r}")
    return doc
