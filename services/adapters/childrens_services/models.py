"""Children's social care native formats.

1. JSON records from the case system in Children in Need (CIN) census vocabulary
   (LAchildID, UPN, referral source, primary need N0-N9, assessment factors N00181), one
   per status change; `record_type` selects the shape:
   CIN_REFERRAL, CP_PLAN (started / ended), LOOKED_AFTER (started / ended),
   S47 (enquiry started / strategy discussion held). An NRM referral the authority made as
   first responder goes on its own route (`CscNrmReferral`, POST /v1/nrm-referrals).
2. SSDA903 missing-episode CSV (one row per episode: CHILD, MISSING M/A, MIS_START,
   MIS_END), extended with the identifiers and risk grade the hub needs.

Census code lists below follow the DfE CIN census guide (factors: the domain brief's list;
labels other than 12A are marked "check" there, codes are used as given). An assessment
factor that is not in the list does not stop a record: the mapping leaves it out and warns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from services.adapters.ingest.code_lists import CodeList
from services.adapters.ingest.identifiers import CensusSex, Upn
from services.adapters.ingest.models import (
    CodedValueError,
    ConsentIn,
    ContactPointIn,
    FamilyInformedIn,
    FlexibleDate,
    NativeModel,
    NhsNumber,
    PersonIn,
    PersonName,
    Postcode,
    RiskIn,
    example_of,
)
from services.adapters.ingest.nrm import NrmReferralFields
from services.adapters.ingest.vocab import NarrativeSensitivity, RiskLevel

__all__ = [
    "ASSESSMENT_FACTORS",
    "REFERRAL_SOURCES",
    "CinChild",
    "CinReferral",
    "CpCategory",
    "CpPlanChange",
    "CscNrmReferral",
    "CscRecord",
    "LegalStatus",
    "LookedAfterChange",
    "S47Event",
    "Ssda903MissingRow",
    "StatusChange",
]

# Factors identified at assessment (CIN census data item N00181).
ASSESSMENT_FACTORS = frozenset(
    {
        *(f"{n}{v}" for n in range(1, 7) for v in "ABC"),
        "7A",
        *(f"8{v}" for v in "BCDEF"),
        "9A",
        "10A",
        "11A",
        "12A",
        "13A",
        "14A",
        "15A",
        "16A",
        "17A",
        *(f"18{v}" for v in "ABC"),
        *(f"19{v}" for v in "ABC"),
        "20",
        "21",
        "22A",
        "23A",
        "24A",
    }
)
# CIN census referral source codes (check against the current census guide).
REFERRAL_SOURCES = frozenset(
    [
        "1A",
        "1B",
        "1C",
        "1D",
        "2A",
        "2B",
        "3A",
        "3B",
        "3C",
        "3D",
        "3E",
        "3F",
        "4",
        "5A",
        "5B",
        "5C",
        "5D",
        "6",
        "7",
        "8",
        "9",
        "10",
    ]
)


AssessmentFactor = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, max_length=100),
    CodeList.of(ASSESSMENT_FACTORS),
]
"""A factor code as sent, upper-cased. Whether it is a census factor is the mapping's call:
an unknown code is left out with a warning, so one bad factor never sinks a record. The
OpenAPI enum is ASSESSMENT_FACTORS, the list the mapping keeps factors by."""


def _referral_source(raw: str) -> str:
    code = raw.strip().upper()
    if code not in REFERRAL_SOURCES:
        raise CodedValueError("referral_source", "not a CIN census referral source code")
    return code


class CinChild(NativeModel):
    """The child, with CIN census identifiers. LAchildID alone is enough for the hub's child
    index to link the child; every other identifier held helps it match the child with the
    other agencies' records."""

    la_child_id: str = Field(
        alias="LAchildID",
        min_length=1,
        max_length=10,
        pattern=r"^[A-Za-z0-9]+$",
        description="LAchildID: the local authority's child identifier (CIN census).",
        examples=["LAC004512"],
    )
    upn: Upn | None = Field(
        default=None,
        alias="UPN",
        description="Unique pupil number (13 characters), when known.",
        examples=["A999123456789"],
    )
    nhs_number: NhsNumber | None = Field(
        default=None,
        description="NHS number (10 digits, modulus-11 checked), when known.",
        examples=["9991234551"],
    )
    sex: CensusSex | None = Field(
        default=None,
        description=(
            "Sex as the CIN census codes it: 1 male, 2 female, 0 not known, 9 not specified. "
            "Helps the hub tell this child from a sibling; not shared in the notice."
        ),
        examples=["2"],
    )
    given_name: PersonName = Field(
        min_length=1, max_length=100, description="Given name.", examples=["Avery"]
    )
    family_name: PersonName = Field(
        min_length=1, max_length=100, description="Family name.", examples=["Kestrel-Moor"]
    )
    date_of_birth: FlexibleDate = Field(
        description="PersonBirthDate (YYYY-MM-DD or DD/MM/YYYY).", examples=["2012-04-17"]
    )
    postcode: Postcode | None = Field(
        default=None,
        description="Home postcode; only its district leaves the adapter.",
        examples=["ZZ1 4XY"],
    )
    looked_after: bool = Field(
        default=False,
        description="True when the child is currently looked after by this authority.",
        examples=[False],
    )
    placing_la: str | None = Field(
        default=None,
        max_length=40,
        description="Organisation code of the placing authority when placed out of area.",
        examples=[None],
    )
    exploitation_flagged: bool = Field(
        default=False,
        description="True when the child is flagged for sexual or criminal exploitation.",
        examples=[False],
    )


class CscRecordBase(NativeModel):
    """Fields every children's social care record carries."""

    record_id: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$",
        description="The case system's id for this event: the source reference.",
        examples=["CS-2026-118842"],
    )
    revision: int = Field(
        default=1,
        ge=1,
        le=999,
        description="1 for the first send; increment to send a correction.",
        examples=[1],
    )
    recorded_at: AwareDatetime = Field(
        description="When the event was recorded, with UTC offset.",
        examples=["2026-11-19T09:30:00+00:00"],
    )
    source_system: str | None = Field(
        default=None,
        max_length=100,
        description="Exporting case system, for support.",
        examples=["Synthetic Case System 7"],
    )
    child: CinChild = Field(description="The child.", examples=[example_of(CinChild)])
    primary_need: str | None = Field(
        default=None,
        pattern=r"^N[0-9]$",
        description="CIN primary need code N0-N9, when assessed. Not on an NRM referral.",
        examples=[None, "N1"],
    )
    assessment_factors: list[AssessmentFactor] = Field(
        default_factory=list,
        max_length=40,
        description=(
            "Factors identified at assessment (CIN census N00181), e.g. 10A, 16A, 24A: 1-6 "
            "with A/B/C, 7A, 8B-8F, 9A-17A, 18A-C, 19A-C, 20, 21, 22A, 23A, 24A. A code that "
            "is not a census factor does not stop the record: the notice is published without "
            "it and the 202 answer carries a warning at /assessment_factors/<index>."
        ),
        examples=[["10A", "24A"]],
    )
    risk: RiskIn = Field(description="Risk assessment.", examples=[example_of(RiskIn)])
    summary: str = Field(
        min_length=1,
        max_length=1000,
        description="Short factual summary, shareable with partners.",
        examples=["Child protection plan started following strategy discussion."],
    )
    full_account: str | None = Field(
        default=None,
        max_length=20000,
        description="Fuller account; normally seen only inside the MASH.",
        examples=["Strategy discussion held with police and health on 18/11..."],
    )
    sensitivity: NarrativeSensitivity = Field(
        default=NarrativeSensitivity.SENSITIVE,
        description="Sensitivity of full_account.",
        examples=["SENSITIVE"],
    )
    consent: ConsentIn = Field(
        description="Consent status and why not sought.", examples=[example_of(ConsentIn)]
    )
    family_informed: FamilyInformedIn = Field(
        description="Whether the family was told.", examples=[example_of(FamilyInformedIn)]
    )
    referrer: PersonIn | None = Field(
        default=None,
        description="Who referred, for a referral; masked outside the MASH.",
        examples=[example_of(PersonIn)],
    )
    contact_point: ContactPointIn = Field(
        description="Team to contact about this record.",
        examples=[
            example_of(
                ContactPointIn,
                role="Children's services front door",
                organisation="Synthetic Borough Children's Services",
                secure_email="front.door@synthetic-borough.example",
            )
        ],
    )
    allocated_worker: ContactPointIn | None = Field(
        default=None,
        description="Allocated worker's team contact, when allocated. Not on an NRM referral.",
        examples=[
            None,
            example_of(
                ContactPointIn,
                role="Allocated social worker, Safeguarding Team 2",
                organisation="Synthetic Borough Children's Services",
                secure_email=None,
            ),
        ],
    )


class CinReferral(CscRecordBase):
    """A referral accepted by children's social care."""

    record_type: Literal["CIN_REFERRAL"] = Field(
        description="Record type discriminator.", examples=["CIN_REFERRAL"]
    )
    referral_date: FlexibleDate = Field(description="CINreferralDate.", examples=["2026-11-18"])
    referral_source: Annotated[
        str,
        StringConstraints(max_length=10),
        AfterValidator(_referral_source),
        CodeList.of(REFERRAL_SOURCES),
    ] = Field(
        description=(
            "CIN census referral source code, e.g. 6 (police), 2A (school); any other code is "
            "refused (referral_source)."
        ),
        examples=["6"],
    )


class StatusChange(StrEnum):
    STARTED = "STARTED"
    ENDED = "ENDED"


class CpCategory(StrEnum):
    NEG = "NEG"
    PHY = "PHY"
    EMO = "EMO"
    SAB = "SAB"
    MUL = "MUL"


class CpPlanChange(CscRecordBase):
    """A child protection plan started or ended."""

    record_type: Literal["CP_PLAN"] = Field(
        description="Record type discriminator.", examples=["CP_PLAN"]
    )
    change: StatusChange = Field(description="STARTED or ENDED.", examples=["STARTED"])
    plan_start_date: FlexibleDate = Field(description="CPPstartDate.", examples=["2026-11-19"])
    plan_end_date: FlexibleDate | None = Field(
        default=None,
        description=(
            "CPPendDate: required when change is ENDED (missing), refused when STARTED "
            "(unexpected_field), not before plan_start_date (date_order)."
        ),
        examples=[None],
    )
    initial_category: CpCategory = Field(
        description="Initial category of abuse: NEG, PHY, EMO, SAB or MUL.", examples=["NEG"]
    )

    def _end_when_ended(self) -> Iterator[CodedValueError]:
        yield from _check_dates(
            self.change, self.plan_start_date, self.plan_end_date, "plan_end_date"
        )

    record_rules = (_end_when_ended,)


class LegalStatus(StrEnum):
    S20 = "S20"
    S31 = "S31"
    S38 = "S38"


class LookedAfterChange(CscRecordBase):
    """A period of being looked after started or ended."""

    record_type: Literal["LOOKED_AFTER"] = Field(
        description="Record type discriminator.", examples=["LOOKED_AFTER"]
    )
    change: StatusChange = Field(description="STARTED or ENDED.", examples=["STARTED"])
    legal_status: LegalStatus = Field(
        description="Legal status: S20 (voluntary), S31 (care order), S38 (interim care order).",
        examples=["S20"],
    )
    start_date: FlexibleDate = Field(
        description="Date the period of care started.", examples=["2026-11-19"]
    )
    end_date: FlexibleDate | None = Field(
        default=None,
        description=(
            "Date it ended: required when change is ENDED (missing), refused when STARTED "
            "(unexpected_field), not before start_date (date_order)."
        ),
        examples=[None],
    )

    def _end_when_ended(self) -> Iterator[CodedValueError]:
        yield from _check_dates(self.change, self.start_date, self.end_date, "end_date")

    record_rules = (_end_when_ended,)


class S47Event(CscRecordBase):
    """A section 47 enquiry started, or a strategy discussion held."""

    record_type: Literal["S47"] = Field(description="Record type discriminator.", examples=["S47"])
    event: Literal["ENQUIRY_STARTED", "STRATEGY_DISCUSSION_HELD"] = Field(
        description="What happened.", examples=["STRATEGY_DISCUSSION_HELD"]
    )
    event_date: FlexibleDate = Field(
        description="S47ActualStartDate or the strategy discussion date.",
        examples=["2026-11-18"],
    )


class CscNrmReferral(NrmReferralFields, CscRecordBase):
    """A National Referral Mechanism referral the local authority made as first responder
    (local authorities are first responders, rule R12). A child's referral needs no consent:
    send consent status NOT_REQUIRED (the notice gives the reason when none is sent). The
    first responder the notice names is contact_point's organisation. primary_need and
    allocated_worker are refused: an NRM notice has no place for them (issue 21)."""

    def _status_fields_refused(self) -> Iterator[CodedValueError]:
        for name in ("primary_need", "allocated_worker"):
            if getattr(self, name) is not None:
                yield CodedValueError(
                    "unexpected_field",
                    f"{name} is not read on an NRM referral (its notice has no place for it); "
                    "remove it",
                    field=name,
                )

    record_rules = (_status_fields_refused,)


def _check_dates(
    change: StatusChange, start: dt.date, end: dt.date | None, end_name: str
) -> Iterator[CodedValueError]:
    if change is StatusChange.ENDED and end is None:
        yield CodedValueError(
            "missing", f"{end_name} is required when change is ENDED", field=end_name
        )
    if change is StatusChange.STARTED and end is not None:
        yield CodedValueError(
            "unexpected_field", f"{end_name} must be empty when STARTED", field=end_name
        )
    if end is not None and end < start:
        yield CodedValueError("date_order", f"{end_name} is before the start date", field=end_name)


CscRecord = Annotated[
    CinReferral | CpPlanChange | LookedAfterChange | S47Event,
    Field(discriminator="record_type"),
]
"""One case-system record; `record_type` selects the shape."""


_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class Ssda903MissingRow(NativeModel):
    """One SSDA903 missing episode (a CSV row). The first four columns are the DfE 903
    'missing' return; the rest are what the hub needs to link and route the notice."""

    CHILD: str = Field(
        min_length=1,
        max_length=10,
        pattern=r"^[A-Za-z0-9]+$",
        description="903 CHILD: the local authority's child identifier.",
        examples=["LAC004512"],
    )
    MISSING: Literal["M", "A"] = Field(
        description="903 MISSING: M missing from placement, A away without authorisation.",
        examples=["M"],
    )
    MIS_START: FlexibleDate = Field(
        description="903 MIS_START: start date (DD/MM/YYYY or YYYY-MM-DD).",
        examples=["14/11/2026"],
    )
    MIS_END: FlexibleDate | None = Field(
        default=None,
        description=(
            "903 MIS_END: end date; empty while the child is still missing. Not before "
            "MIS_START (date_order)."
        ),
        examples=["15/11/2026"],
    )
    MIS_START_TIME: str | None = Field(
        default=None,
        pattern=_TIME,
        description=(
            "Start time HH:MM, UK local time (hub extension). Without it the episode is taken "
            "to start at 00:00 on MIS_START, the earliest it can have begun."
        ),
        examples=["19:30"],
    )
    MIS_END_TIME: str | None = Field(
        default=None,
        pattern=_TIME,
        description=(
            "Return time HH:MM, UK local time (hub extension). Without it nothing is invented "
            "(rule R7): the returned episode is published with no return time and no return "
            "interview due time, and the row's result carries a warning; send it whenever "
            "it is known, so the return interview provider knows when the interview is due."
        ),
        examples=["08:15"],
    )
    GIVEN_NAME: PersonName = Field(
        min_length=1, max_length=100, description="Child's given name.", examples=["Remy"]
    )
    FAMILY_NAME: PersonName = Field(
        min_length=1, max_length=100, description="Child's family name.", examples=["Northcote"]
    )
    DOB: FlexibleDate = Field(description="Date of birth.", examples=["03/02/2011"])
    POSTCODE: Postcode | None = Field(
        default=None,
        description=(
            "Placement postcode, when known; only its district leaves the adapter. Optional: "
            "CHILD alone links the child (with the names and DOB the index matches better)."
        ),
        examples=["ZZ3 2XY"],
    )
    NHS_NUMBER: NhsNumber | None = Field(
        default=None,
        description=(
            "NHS number, when known (10 digits, modulus-11 checked). Optional: CHILD alone "
            "links the child."
        ),
        examples=["9991234551"],
    )
    SEX: CensusSex | None = Field(
        default=None,
        description=(
            "903 SEX: 1 male, 2 female (0 not known, 9 not specified are accepted too); helps "
            "the hub tell the child from a sibling, not shared in the notice."
        ),
        examples=["1"],
    )
    RISK_GRADE: RiskLevel = Field(
        description=(
            "Police risk grade for the episode (NO_APPARENT_RISK, LOW, MEDIUM, HIGH). Not in "
            "the 903 return; the hub needs it and never guesses it."
        ),
        examples=["MEDIUM"],
    )
    PLACING_LA: str | None = Field(
        default=None,
        max_length=40,
        description="Organisation code of the placing authority when placed out of area.",
        examples=["LA-E09000098"],
    )
    CARER_CONTACT: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[0-9 +()-]+$",
        description="Carer or placement telephone, for the return-interview provider.",
        examples=["0300 000 0200"],
    )
    EXPLOITATION_FLAGGED: bool = Field(
        default=False,
        description="Y when the child is flagged for sexual or criminal exploitation.",
        examples=["Y"],
    )
    FAMILY_INFORMED: bool = Field(
        description="Y when the family / carer has been told this is being shared.",
        examples=["N"],
    )
    FAMILY_NOT_INFORMED_REASON: str | None = Field(
        default=None,
        max_length=500,
        description=(
            "Why not: required when FAMILY_INFORMED is N (reason_required), refused when Y "
            "(unexpected_field)."
        ),
        examples=["Parent's whereabouts unknown."],
    )

    def _consistent(self) -> Iterator[CodedValueError]:
        if self.MIS_END is not None and self.MIS_END < self.MIS_START:
            yield CodedValueError("date_order", "MIS_END is before MIS_START", field="MIS_END")
        if self.MIS_END is None and self.MIS_END_TIME is not None:
            yield CodedValueError(
                "unexpected_field", "MIS_END_TIME given without MIS_END", field="MIS_END_TIME"
            )
        if not self.FAMILY_INFORMED and not self.FAMILY_NOT_INFORMED_REASON:
            yield CodedValueError(
                "reason_required",
                "FAMILY_NOT_INFORMED_REASON is required when FAMILY_INFORMED is N",
                field="FAMILY_NOT_INFORMED_REASON",
            )
        if self.FAMILY_INFORMED and self.FAMILY_NOT_INFORMED_REASON:
            # Refused rather than dropped: the notice has a reason only when the family was not
            # told (issue 21).
            yield CodedValueError(
                "unexpected_field",
                "FAMILY_NOT_INFORMED_REASON must be empty when FAMILY_INFORMED is Y",
                field="FAMILY_NOT_INFORMED_REASON",
            )

    record_rules = (_consistent,)
