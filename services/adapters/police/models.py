"""Police native format: occurrence exports from a records management system, as JSON.

Every record is keyed on the force's occurrence reference and names its `record_type`:

- PUBLIC_PROTECTION_NOTICE   a safeguarding contact / public protection notice (PPN)
- DASH_INCIDENT              a domestic abuse incident with the DASH risk grade
- MISSING_PERSON             a missing-person record (reported / found / returned) with the
                             police risk grade (no apparent risk, low, medium, high)
- INTELLIGENCE_REPORT        an intelligence report graded 3x5x2 (or legacy 5x5x5)

A National Referral Mechanism referral made by the force as first responder is sent on its
own route (`PoliceNrmReferral`, POST /v1/nrm-referrals), keyed on the occurrence reference.

One occurrence may produce several records (a PPN and a DASH incident; a missing report and
later the return); each is its own notice. A correction to a record already sent is sent
again with `revision` incremented.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from services.adapters.ingest.identifiers import RecordedSex
from services.adapters.ingest.models import (
    CodedValueError,
    ConcernIn,
    ConsentIn,
    ContactPointIn,
    FamilyInformedIn,
    NativeModel,
    NhsNumber,
    PersonIn,
    PersonName,
    Postcode,
    RecordRule,
    RiskIn,
    example_of,
)
from services.adapters.ingest.nrm import NrmReferralFields
from services.adapters.ingest.vocab import NarrativeSensitivity, RiskLevel

__all__ = [
    "DashGrade",
    "DashIncident",
    "GradingIn",
    "IntelligenceReport",
    "MissingPersonRecord",
    "MissingStatus",
    "OccurrenceBase",
    "PoliceNrmReferral",
    "PoliceRecord",
    "PoliceSubject",
    "PublicProtectionNotice",
]


class PoliceSubject(NativeModel):
    """The child the record is about, as the force recorded them. The hub's child index
    decides whether the identifiers are enough to link the child (a valid NHS number, or
    given name, family name and date of birth or postcode); a record it cannot key is
    answered 422 identifiers_incomplete at /subject."""

    given_name: PersonName = Field(
        min_length=1, max_length=100, description="Given name.", examples=["Avery"]
    )
    family_name: PersonName = Field(
        min_length=1, max_length=100, description="Family name.", examples=["Kestrel-Moor"]
    )
    date_of_birth: dt.date | None = Field(
        default=None, description="Date of birth (YYYY-MM-DD).", examples=["2012-04-17"]
    )
    postcode: Postcode | None = Field(
        default=None,
        description="Home postcode; only its district (outward code) leaves the adapter.",
        examples=["ZZ1 4XY"],
    )
    nhs_number: NhsNumber | None = Field(
        default=None,
        description="NHS number when known (10 digits, modulus-11 checked).",
        examples=["9991234551"],
    )
    sex: RecordedSex | None = Field(
        default=None,
        description=(
            "Sex as recorded: F, M, or U when not known. Helps the hub tell this child from a "
            "sibling; not shared in the notice."
        ),
        examples=["F"],
    )
    looked_after: bool = Field(
        default=False, description="True when the child is looked after.", examples=[False]
    )
    responsible_la: str | None = Field(
        default=None,
        max_length=40,
        description="Organisation code of the responsible local authority, when known.",
        examples=["LA-E09000099"],
    )
    placing_la: str | None = Field(
        default=None,
        max_length=40,
        description="Organisation code of the placing local authority (placed out of area).",
        examples=[None],
    )
    exploitation_flagged: bool = Field(
        default=False,
        description="True when the child carries a CSE or CCE marker on police systems.",
        examples=[True],
    )
    school_urn: str | None = Field(
        default=None,
        max_length=40,
        description=(
            "Unique reference number (URN) of the child's school, for Operation Encompass "
            "(rule R9): the school's 6-digit URN, written any usual way ('123456', "
            "'URN 123456', 'urn-123456', 'URN:123456'); the hub sends it on as 'URN-123456', "
            "the form schools are registered under. Read on DASH incidents only: any other "
            "record with a school_urn is refused (422 unexpected_field), since its notice has "
            "no place for it. A value that is "
            "not a 6-digit URN does not stop the incident: the notice is published without a "
            "school (so no school is told) and the 202 answer carries a warning at "
            "/subject/school_urn; send a correction (revision + 1) with the right URN."
        ),
        examples=["URN 999001"],
    )


class OccurrenceBase(NativeModel):
    """Fields every occurrence export record carries."""

    occurrence_reference: str = Field(
        min_length=4,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_-]*$",
        description="The force's occurrence reference: the key of the export.",
        examples=["XX01/26/004512"],
    )
    revision: int = Field(
        default=1,
        ge=1,
        le=999,
        description="1 for the first send; increment to send a correction of this record.",
        examples=[1],
    )
    recorded_at: AwareDatetime = Field(
        description="When the record was created, with UTC offset (RFC 3339).",
        examples=["2026-11-18T21:40:00+00:00"],
    )
    source_system: str | None = Field(
        default=None,
        max_length=100,
        description="Name of the exporting system, for support.",
        examples=["Synthetic RMS 4.2"],
    )
    subject: PoliceSubject = Field(
        description="The child.",
        # school_urn only on a DASH incident; its own example shows the form.
        examples=[example_of(PoliceSubject, school_urn=None)],
    )
    concerns: list[ConcernIn] = Field(
        default_factory=list,
        max_length=20,
        description="Vulnerability concerns recorded (hub vocabulary).",
        examples=[[example_of(ConcernIn)]],
    )
    risk: RiskIn = Field(description="Risk assessment.", examples=[example_of(RiskIn)])
    summary: str = Field(
        min_length=1,
        max_length=1000,
        description="Short factual summary, written to be shareable with partners.",
        examples=["Child found in a vehicle with older males at 02:00; returned home."],
    )
    full_account: str | None = Field(
        default=None,
        max_length=20000,
        description="Full account as recorded; normally seen only inside the MASH.",
        examples=["Officers attended following a call from a member of the public..."],
    )
    sensitivity: NarrativeSensitivity = Field(
        default=NarrativeSensitivity.SENSITIVE,
        description="Sensitivity of full_account.",
        examples=["SENSITIVE"],
    )
    classification: Literal["OFFICIAL", "OFFICIAL-SENSITIVE"] = Field(
        default="OFFICIAL-SENSITIVE",
        description="Government Security Classification marking of the record.",
        examples=["OFFICIAL-SENSITIVE"],
    )
    consent: ConsentIn = Field(
        description="Consent status and why not sought.", examples=[example_of(ConsentIn)]
    )
    family_informed: FamilyInformedIn = Field(
        description="Whether the family was told.", examples=[example_of(FamilyInformedIn)]
    )
    referrer: PersonIn | None = Field(
        default=None,
        description="Who raised the concern, when not the police themselves.",
        examples=[example_of(PersonIn)],
    )
    third_parties: list[PersonIn] = Field(
        default_factory=list,
        max_length=20,
        description="Other people named in the record.",
        examples=[[example_of(PersonIn, role="older associate", organisation=None)]],
    )
    officer_contact: ContactPointIn = Field(
        description=(
            "Team to contact about this record (not an officer's private details). On an NRM "
            "referral its organisation is the first responder organisation the notice names."
        ),
        examples=[example_of(ContactPointIn)],
    )

    reads_school_urn: ClassVar[bool] = False
    """Only a DASH incident's notice has a place for the school (Operation Encompass)."""

    def _school_urn_where_read(self) -> Iterator[CodedValueError]:
        # Refused rather than ignored (issue 21): any other record's notice has no school, so
        # the URN would be accepted and lost.
        if not self.reads_school_urn and self.subject.school_urn is not None:
            yield CodedValueError(
                "unexpected_field",
                "school_urn is read on DASH incidents only (Operation Encompass); remove it",
                field=("subject", "school_urn"),
            )

    record_rules: ClassVar[tuple[RecordRule, ...]] = (_school_urn_where_read,)


class PublicProtectionNotice(OccurrenceBase):
    """A safeguarding contact / public protection notice (PPN)."""

    record_type: Literal["PUBLIC_PROTECTION_NOTICE"] = Field(
        description="Record type discriminator.", examples=["PUBLIC_PROTECTION_NOTICE"]
    )
    reason: str = Field(
        min_length=1,
        max_length=300,
        description="Why the notice was raised, in one line.",
        examples=["Child out late with older associates; concerns of exploitation."],
    )
    children_in_household: int = Field(
        default=0,
        ge=0,
        le=30,
        description="Number of children in the household; 0 when unknown.",
        examples=[2],
    )


class DashGrade(StrEnum):
    STANDARD = "STANDARD"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class DashIncident(OccurrenceBase):
    """A police-attended domestic abuse incident with its DASH risk grade."""

    record_type: Literal["DASH_INCIDENT"] = Field(
        description="Record type discriminator.", examples=["DASH_INCIDENT"]
    )
    incident_at: AwareDatetime = Field(
        description="When the incident happened, with UTC offset.",
        examples=["2026-11-18T20:55:00+00:00"],
    )
    dash_grade: DashGrade = Field(
        description="DASH risk grade: STANDARD, MEDIUM or HIGH.", examples=["HIGH"]
    )
    children_present: bool = Field(
        description="True when children were present at the incident.", examples=[True]
    )
    children_normally_resident: bool | None = Field(
        default=None,
        description=(
            "True when a child normally lives in the household, whether or not present at "
            "the incident (Operation Encompass covers both, rule R9); false when none does; "
            "omit or null when not recorded."
        ),
        examples=[True],
    )
    marac_referral: bool = Field(
        default=False, description="True when referred to MARAC.", examples=[True]
    )

    reads_school_urn: ClassVar[bool] = True


class MissingStatus(StrEnum):
    REPORTED = "REPORTED"
    FOUND = "FOUND"
    RETURNED = "RETURNED"


class MissingPersonRecord(OccurrenceBase):
    """A missing-person record at one stage: reported, found or returned."""

    record_type: Literal["MISSING_PERSON"] = Field(
        description="Record type discriminator.", examples=["MISSING_PERSON"]
    )
    status: MissingStatus = Field(
        description="Stage of the episode: REPORTED, FOUND or RETURNED.", examples=["RETURNED"]
    )
    risk_grade: RiskLevel = Field(
        description=(
            "Police risk grade for the episode: NO_APPARENT_RISK (formerly 'absent'), LOW, "
            "MEDIUM or HIGH."
        ),
        examples=["MEDIUM"],
    )
    missing_since: AwareDatetime = Field(
        description="When the child went missing, with UTC offset.",
        examples=["2026-11-17T18:00:00+00:00"],
    )
    found_or_returned_at: AwareDatetime | None = Field(
        default=None,
        description=(
            "When found or returned: required for FOUND and RETURNED (missing), refused while "
            "REPORTED (unexpected_field), not before missing_since (date_order)."
        ),
        examples=["2026-11-18T03:10:00+00:00"],
    )
    ssda903_code: Literal["M", "A"] | None = Field(
        default=None,
        description=(
            "For a looked-after child: M missing from placement, A away without authorisation."
        ),
        examples=["M"],
    )
    carer_contact: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[0-9 +()-]+$",
        description="Carer or placement telephone, for the return-interview provider.",
        examples=["0300 000 0200"],
    )
    episodes_last_90_days: int = Field(
        default=1,
        ge=1,
        le=366,
        description="Missing episodes for this child in the last 90 days, including this one.",
        examples=[3],
    )

    def _dates_consistent(self) -> Iterator[CodedValueError]:
        if self.status is MissingStatus.REPORTED:
            if self.found_or_returned_at is not None:
                yield CodedValueError(
                    "unexpected_field",
                    "found_or_returned_at must be empty while REPORTED",
                    field="found_or_returned_at",
                )
            return
        if self.found_or_returned_at is None:
            yield CodedValueError(
                "missing",
                f"found_or_returned_at is required when status is {self.status}",
                field="found_or_returned_at",
            )
        elif self.found_or_returned_at < self.missing_since:
            yield CodedValueError(
                "date_order",
                "found_or_returned_at is before missing_since",
                field="found_or_returned_at",
            )

    record_rules = (*OccurrenceBase.record_rules, _dates_consistent)


class GradingIn(NativeModel):
    """Intelligence grading as recorded: 3x5x2, or the legacy 5x5x5 kept as graded."""

    scheme: Literal["3x5x2", "5x5x5"] = Field(
        description="Grading scheme used by the source.", examples=["3x5x2"]
    )
    source_evaluation: str = Field(
        max_length=1, description="3x5x2: 1, 2 or 3. 5x5x5: A-E.", examples=["2"]
    )
    intelligence_assessment: str = Field(
        max_length=1, description="3x5x2: A-E. 5x5x5: 1-5.", examples=["B"]
    )
    handling_code: str = Field(
        max_length=1,
        description="3x5x2: P (lawful sharing permitted) or C (sharing with conditions). "
        "5x5x5: 1-5 (mapped by the hub's sharing rule R6).",
        examples=["P"],
    )
    dissemination_authorisation: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description=(
            "Legacy 5x5x5 with handling code 2 only: the reference of the recorded "
            "authorisation to disseminate to a UK non-prosecuting party (social care, health, "
            "education). Without it a code 2 item stays with law enforcement (rule R6). Any "
            "other grading with this field is refused."
        ),
        examples=[None],
    )

    def _codes_fit_scheme(self) -> Iterator[CodedValueError]:
        allowed = {
            "3x5x2": ("123", "ABCDE", "PC"),
            "5x5x5": ("ABCDE", "12345", "12345"),
        }[self.scheme]
        names = ("source_evaluation", "intelligence_assessment", "handling_code")
        for name, codes in zip(names, allowed, strict=True):
            value = getattr(self, name)
            if len(value) != 1 or value not in codes:
                yield CodedValueError(
                    "grading_code",
                    f"{name} must be one of {', '.join(codes)} under {self.scheme}",
                    field=name,
                )
        # Refused rather than ignored: an authorisation on any other code contradicts the
        # grading, and the grading decides who may see the item.
        legacy_code_2 = self.scheme == "5x5x5" and self.handling_code == "2"
        if self.dissemination_authorisation is not None and not legacy_code_2:
            yield CodedValueError(
                "unexpected_field",
                "dissemination_authorisation applies only to 5x5x5 handling code 2",
                field="dissemination_authorisation",
            )

    record_rules = (_codes_fit_scheme,)


class IntelligenceReport(OccurrenceBase):
    """A graded intelligence report; source-identifying detail never leaves police."""

    record_type: Literal["INTELLIGENCE_REPORT"] = Field(
        description="Record type discriminator.", examples=["INTELLIGENCE_REPORT"]
    )
    grading: GradingIn = Field(
        description="Intelligence grading.", examples=[example_of(GradingIn)]
    )
    sanitised_text: str = Field(
        min_length=1,
        max_length=5000,
        description="Sanitised intelligence text, with source-identifying detail removed.",
        examples=["Child believed to be carrying drugs between ZZ1 and ZZ9 for an OCG."],
    )
    source_details: str | None = Field(
        default=None,
        max_length=2000,
        description="Source-identifying detail; kept for police only (sharing rule R5).",
        examples=["CHIS ref withheld"],
    )


class PoliceNrmReferral(NrmReferralFields, OccurrenceBase):
    """A National Referral Mechanism referral the force made as first responder (police are
    first responders, rule R12). A child's referral needs no consent: send consent status
    NOT_REQUIRED (the notice gives the reason when none is sent)."""


PoliceRecord = Annotated[
    PublicProtectionNotice | DashIncident | MissingPersonRecord | IntelligenceReport,
    Field(discriminator="record_type"),
]
"""One occurrence export record; `record_type` selects the shape."""
