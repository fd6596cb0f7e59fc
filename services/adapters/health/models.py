"""Health native format: a FHIR R4 (UK Core) `Bundle`, and the parts of it the hub reads.

These models document the hub's *profile* of the Bundle (which resources and elements it
reads) for the OpenAPI page; unknown FHIR elements are allowed here. Full FHIR validity is
checked separately with `fhir.resources` (see `validation.py`).

The Bundle (type `collection`) holds:
- exactly one `Patient` with an NHS number identifier
  (system https://fhir.nhs.uk/Id/nhs-number, modulus-11 checked), name, birthDate, gender,
  address;
- exactly one `Encounter`: the care setting in `serviceType` (code system
  https://fhir.safehub.example/CodeSystem/care-setting: ED, MIU, MATERNITY, SEXUAL_HEALTH,
  TERMINATION, SARC, CAMHS, GP, COMMUNITY), `class` EMER for unscheduled care, `period.start`
  when the child was seen, and the hub's `safeguarding-referral` extension (risk, navigator
  summary, consent, family informed, contact);
- any number of `Flag`s and `Observation`s coded in SNOMED CT. A Flag coded
  1064311000000109 or 342191000000101 (child protection plan), 818901000000100 (unborn child
  subject to a child protection plan) or 764841000000100 (looked after child) is read as a
  CP-IS style plan flag: period = plan dates; author = the local authority that owns the
  plan, its contact in `display` and its hub organisation code in `identifier` (system
  https://fhir.safehub.example/Id/organisation-code, e.g. LA-E09000099), which becomes the
  notice's responsible LA (the LA told when unscheduled care looks the child up, rule R13).
  Observation notes carry the clinical detail. Either may carry the hub's
  `safeguarding-concern` extension naming a hub concern code.
Other resources (Organization, Practitioner, ...) may be present and are ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
)

from services.adapters.ingest.identifiers import FhirGender
from services.adapters.ingest.models import PersonName, example_of

__all__ = [
    "CARE_SETTING_SYSTEM",
    "CLINICAL_DETAIL_MAX_CHARS",
    "CONCERN_EXTENSION",
    "CONCERN_SYSTEM",
    "CPIS_FLAG_CODES",
    "NHS_NUMBER_SYSTEM",
    "ORGANISATION_CODE_SYSTEM",
    "REFERRAL_EXTENSION",
    "SNOMED_SYSTEM",
    "BundleEntry",
    "CodeableConcept",
    "Coding",
    "Encounter",
    "Extension",
    "FhirBundle",
    "Flag",
    "Observation",
    "OtherResource",
    "Patient",
]

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED_SYSTEM = "http://snomed.info/sct"
CARE_SETTING_SYSTEM = "https://fhir.safehub.example/CodeSystem/care-setting"
CONCERN_SYSTEM = "https://fhir.safehub.example/CodeSystem/concern"
REFERRAL_EXTENSION = "https://fhir.safehub.example/StructureDefinition/safeguarding-referral"
CONCERN_EXTENSION = "https://fhir.safehub.example/StructureDefinition/safeguarding-concern"
# Identifier system of hub organisation codes (e.g. LA-E09000099), as the topology names them.
ORGANISATION_CODE_SYSTEM = "https://fhir.safehub.example/Id/organisation-code"
# SNOMED CT concepts read as CP-IS style plan flags (codes from the domain brief).
CPIS_FLAG_CODES = {
    "1064311000000109": "CHILD_PROTECTION_PLAN",
    "342191000000101": "CHILD_PROTECTION_PLAN",
    "818901000000100": "UNBORN_CHILD_PROTECTION_PLAN",
    "764841000000100": "LOOKED_AFTER",
}

# Limits (issue 13): every element the hub reads is bounded here, so that no Bundle that passes
# validation can map to a notice too large for the hub to carry (docs/integrators.md, "Field
# and notice size limits", has the arithmetic). FHIR ids are at most 64 characters by the spec.
CLINICAL_DETAIL_MAX_CHARS = 20_000
"""Longest clinical detail: every Observation valueString and note text of the Bundle, joined
one per line. It is the notice's full account, as long as any other agency's narrative."""
_ID_MAX = 64
_URI_MAX = 500
_CODE_MAX = 64
_LIST_MAX = 10
_EXTENSIONS_MAX = 20


class FhirModel(BaseModel):
    """FHIR elements: camelCase names as in FHIR JSON; elements the hub ignores are allowed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Coding(FhirModel):
    system: str | None = Field(
        default=None, max_length=_URI_MAX, description="Code system URI.", examples=[SNOMED_SYSTEM]
    )
    code: str | None = Field(
        default=None,
        max_length=_CODE_MAX,
        description=(
            "Code. In the SNOMED CT system it must be a SNOMED CT identifier (6 to 18 digits)."
        ),
        examples=["1064311000000109"],
    )
    display: str | None = Field(
        default=None,
        max_length=500,
        description="Human-readable display.",
        examples=["Child protection plan"],
    )


class CodeableConcept(FhirModel):
    coding: list[Coding] = Field(
        default_factory=list,
        max_length=_LIST_MAX,
        description="Codings (at most 10).",
        examples=[[example_of(Coding)]],
    )
    text: str | None = Field(
        default=None, max_length=500, description="Plain text.", examples=["Child protection plan"]
    )


class Identifier(FhirModel):
    system: str | None = Field(
        default=None,
        max_length=200,
        description="Identifier namespace (a URI).",
        examples=[NHS_NUMBER_SYSTEM],
    )
    value: str | None = Field(
        default=None, max_length=100, description="Identifier value.", examples=["9991234551"]
    )


class HumanName(FhirModel):
    use: str | None = Field(
        default=None,
        max_length=_CODE_MAX,
        description="official, usual, nickname, ...",
        examples=["official"],
    )
    family: PersonName | None = Field(
        default=None, max_length=100, description="Family name.", examples=["Kestrel-Moor"]
    )
    given: list[Annotated[PersonName, StringConstraints(max_length=100)]] = Field(
        default_factory=list,
        max_length=_LIST_MAX,
        description="Given names (at most 10 of at most 100 characters), first one used.",
        examples=[["Avery"]],
    )


class Address(FhirModel):
    use: str | None = Field(
        default=None, max_length=_CODE_MAX, description="home, temp, ...", examples=["home"]
    )
    postalCode: str | None = Field(
        default=None,
        max_length=16,
        description="Postcode; only its district leaves the adapter.",
        examples=["ZZ1 4XY"],
    )


class Period(FhirModel):
    start: AwareDatetime | dt.date | None = Field(
        default=None,
        description="Start (FHIR dateTime with offset, or date).",
        examples=["2026-11-18T10:20:00+00:00"],
    )
    end: AwareDatetime | dt.date | None = Field(
        default=None, description="End; absent while open.", examples=[None]
    )


class Reference(FhirModel):
    reference: str | None = Field(
        default=None,
        max_length=_URI_MAX,
        description="Literal reference, e.g. urn:uuid:...",
        examples=["urn:uuid:patient-1"],
    )
    identifier: Identifier | None = Field(
        default=None,
        description=(
            "Logical reference. For a CP-IS flag's author: the hub organisation code of the "
            f"local authority that owns the plan, system {ORGANISATION_CODE_SYSTEM}."
        ),
        examples=[{"system": ORGANISATION_CODE_SYSTEM, "value": "LA-E09000099"}],
    )
    display: str | None = Field(
        default=None,
        max_length=200,
        description="Display text; for a CP-IS flag's author, the responsible LA contact.",
        examples=["Synthetic Borough Children's Services, 0300 000 0300"],
    )


class Annotation(FhirModel):
    text: str = Field(
        max_length=CLINICAL_DETAIL_MAX_CHARS,
        description=(
            "Note text; Observation notes carry the clinical detail (at most 20,000 characters, "
            "and at most 20,000 for all the Bundle's clinical detail together)."
        ),
        examples=["Injury pattern inconsistent with the account given."],
    )


class Extension(FhirModel):
    url: str = Field(
        max_length=_URI_MAX,
        description="Extension URL or sub-extension name.",
        examples=["riskLevel"],
    )
    valueCode: str | None = Field(
        default=None, max_length=_CODE_MAX, description="Code value.", examples=["HIGH"]
    )
    valueString: str | None = Field(
        default=None,
        max_length=1000,
        description=(
            "String value, at most 1,000 characters (navigatorRiskSummary); the "
            "safeguarding-referral sub-extensions allow less: consentReasonNotSought and "
            "familyNotInformedReason 500, contactRole and contactEmail 200, contactTelephone 40."
        ),
        examples=["Child at risk; strategy discussion advised."],
    )
    valueBoolean: bool | None = Field(default=None, description="Boolean value.", examples=[False])
    valueCoding: Coding | None = Field(
        default=None,
        description="Coding value (the concern extension uses it).",
        examples=[{"system": CONCERN_SYSTEM, "code": "CHILD_SEXUAL_EXPLOITATION"}],
    )
    extension: list[Extension] = Field(
        default_factory=list,
        max_length=_EXTENSIONS_MAX,
        description="Sub-extensions of a complex extension (at most 20).",
        examples=[[{"url": "riskLevel", "valueCode": "HIGH"}]],
    )


_REFERRAL_EXAMPLE = {
    "url": REFERRAL_EXTENSION,
    "extension": [
        {"url": "riskLevel", "valueCode": "HIGH"},
        {"url": "immediateDanger", "valueBoolean": False},
        {"url": "navigatorRiskSummary", "valueString": "Injury; CP plan open; s47 advised."},
        {"url": "consentStatus", "valueCode": "NOT_SOUGHT"},
        {"url": "consentReasonNotSought", "valueString": "Could increase risk to the child."},
        {"url": "familyInformed", "valueBoolean": False},
        {"url": "familyNotInformedReason", "valueString": "Could increase risk to the child."},
        {"url": "contactRole", "valueString": "Named nurse for safeguarding children"},
        {"url": "contactTelephone", "valueString": "0300 000 0400"},
    ],
}


class Patient(FhirModel):
    """The child. UK Core Patient with the NHS number identifier."""

    resourceType: Literal["Patient"] = Field(
        description="FHIR resource type.", examples=["Patient"]
    )
    id: str | None = Field(
        default=None, max_length=_ID_MAX, description="Logical id.", examples=["patient-1"]
    )
    identifier: list[Identifier] = Field(
        default_factory=list,
        max_length=_LIST_MAX,
        description=f"Identifiers (at most 10); one must have system {NHS_NUMBER_SYSTEM}.",
        examples=[[example_of(Identifier)]],
    )
    name: list[HumanName] = Field(
        default_factory=list,
        max_length=_LIST_MAX,
        description="Names (at most 10); the 'official' one (or the first) is used.",
        examples=[[example_of(HumanName)]],
    )
    birthDate: dt.date | None = Field(
        default=None, description="Date of birth.", examples=["2012-04-17"]
    )
    gender: FhirGender | None = Field(
        default=None,
        description=(
            "Administrative gender: male, female, other or unknown. Helps the hub tell the "
            "child from a sibling (other and unknown are sent as not known); not shared in "
            "the notice."
        ),
        examples=["female"],
    )
    address: list[Address] = Field(
        default_factory=list,
        max_length=_LIST_MAX,
        description=(
            "Addresses (at most 10); the 'home' one (or the first) gives the postcode district."
        ),
        examples=[[example_of(Address)]],
    )


class Encounter(FhirModel):
    """Where and when the child was seen, with the safeguarding-referral extension."""

    resourceType: Literal["Encounter"] = Field(
        description="FHIR resource type.", examples=["Encounter"]
    )
    id: str | None = Field(
        default=None, max_length=_ID_MAX, description="Logical id.", examples=["encounter-1"]
    )
    status: str | None = Field(
        default=None, max_length=_CODE_MAX, description="Encounter status.", examples=["finished"]
    )
    class_: Coding | None = Field(
        default=None,
        alias="class",
        description="Encounter class (v3 ActCode); EMER marks unscheduled care.",
        examples=[{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}],
    )
    serviceType: CodeableConcept | None = Field(
        default=None,
        description=f"Care setting, coded in {CARE_SETTING_SYSTEM}.",
        examples=[{"coding": [{"system": CARE_SETTING_SYSTEM, "code": "ED"}]}],
    )
    period: Period | None = Field(
        default=None,
        description="period.start is when the child was seen (with offset).",
        examples=[{"start": "2026-11-18T10:20:00+00:00"}],
    )
    extension: list[Extension] = Field(
        default_factory=list,
        max_length=_EXTENSIONS_MAX,
        description=(
            f"At most 20. Must include {REFERRAL_EXTENSION} with sub-extensions riskLevel (code), "
            "navigatorRiskSummary (string), consentStatus (code), consentReasonNotSought "
            "(string, when NOT_SOUGHT), familyInformed (boolean), familyNotInformedReason "
            "(string, when false), contactRole and contactTelephone (strings); optional: "
            "immediateDanger, releasedForCpDecision (booleans), contactEmail (string)."
        ),
        examples=[[_REFERRAL_EXAMPLE]],
    )


class Flag(FhirModel):
    """A safeguarding flag; CP-IS plan flags are read from their SNOMED CT code."""

    resourceType: Literal["Flag"] = Field(description="FHIR resource type.", examples=["Flag"])
    id: str | None = Field(
        default=None, max_length=_ID_MAX, description="Logical id.", examples=["flag-1"]
    )
    status: str | None = Field(
        default=None, max_length=_CODE_MAX, description="active or inactive.", examples=["active"]
    )
    code: CodeableConcept | None = Field(
        default=None,
        description="What the flag is about, in SNOMED CT.",
        examples=[example_of(CodeableConcept)],
    )
    period: Period | None = Field(
        default=None,
        description="For a plan flag: plan start and (when ended) end.",
        examples=[{"start": "2026-09-01"}],
    )
    author: Reference | None = Field(
        default=None,
        description=(
            "For a plan flag: the local authority that owns the plan. `display` (required) is "
            "its contact; `identifier` (system "
            f"{ORGANISATION_CODE_SYSTEM}) its hub organisation code, which becomes the "
            "notice's responsible LA. Without a valid code the alert is still published, with "
            "a warning, but that LA cannot be told of this access (rule R13)."
        ),
        examples=[
            {
                "identifier": {"system": ORGANISATION_CODE_SYSTEM, "value": "LA-E09000099"},
                "display": "Synthetic Borough Children's Services, 0300 000 0300",
            }
        ],
    )
    extension: list[Extension] = Field(
        default_factory=list,
        max_length=_EXTENSIONS_MAX,
        description=f"At most 20; optional {CONCERN_EXTENSION} (valueCoding in {CONCERN_SYSTEM}).",
        examples=[
            [
                {
                    "url": CONCERN_EXTENSION,
                    "valueCoding": {"system": CONCERN_SYSTEM, "code": "NEGLECT"},
                }
            ]
        ],
    )


class Observation(FhirModel):
    """A clinical observation about the concern, coded in SNOMED CT."""

    resourceType: Literal["Observation"] = Field(
        description="FHIR resource type.", examples=["Observation"]
    )
    id: str | None = Field(
        default=None, max_length=_ID_MAX, description="Logical id.", examples=["obs-1"]
    )
    status: str | None = Field(
        default=None, max_length=_CODE_MAX, description="Observation status.", examples=["final"]
    )
    code: CodeableConcept | None = Field(
        default=None,
        description="What was observed, in SNOMED CT.",
        examples=[{"coding": [{"system": SNOMED_SYSTEM, "code": "1064311000000109"}]}],
    )
    valueString: str | None = Field(
        default=None,
        max_length=CLINICAL_DETAIL_MAX_CHARS,
        description=(
            "Observation value as text; added to the clinical detail (at most 20,000 "
            "characters, and at most 20,000 for all the Bundle's clinical detail together)."
        ),
        examples=["Bruising to upper arms."],
    )
    note: list[Annotation] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "Notes (at most 20); their text is the clinical detail (health navigator only, "
            "rule R3)."
        ),
        examples=[[example_of(Annotation)]],
    )
    extension: list[Extension] = Field(
        default_factory=list,
        max_length=_EXTENSIONS_MAX,
        description=f"At most 20; optional {CONCERN_EXTENSION} (valueCoding in {CONCERN_SYSTEM}).",
        examples=[
            [
                {
                    "url": CONCERN_EXTENSION,
                    "valueCoding": {"system": CONCERN_SYSTEM, "code": "PHYSICAL_ABUSE"},
                }
            ]
        ],
    )


class OtherResource(FhirModel):
    """Any other FHIR resource: accepted (if valid FHIR) and ignored."""

    resourceType: str = Field(
        max_length=_ID_MAX, description="FHIR resource type.", examples=["Organization"]
    )


def _resource_tag(value: Any) -> str:
    kind = (
        value.get("resourceType")
        if isinstance(value, dict)
        else getattr(value, "resourceType", None)
    )
    return kind if kind in ("Patient", "Encounter", "Flag", "Observation") else "other"


Resource = Annotated[
    Annotated[Patient, Tag("Patient")]
    | Annotated[Encounter, Tag("Encounter")]
    | Annotated[Flag, Tag("Flag")]
    | Annotated[Observation, Tag("Observation")]
    | Annotated[OtherResource, Tag("other")],
    Discriminator(_resource_tag),
]


class BundleEntry(FhirModel):
    fullUrl: str | None = Field(
        default=None,
        max_length=_URI_MAX,
        description="Entry URL, e.g. urn:uuid:...",
        examples=["urn:uuid:patient-1"],
    )
    resource: Resource = Field(
        description="The resource: Patient, Encounter, Flag, Observation (others ignored).",
        examples=[{"resourceType": "Patient", "id": "patient-1"}],
    )


class FhirBundle(FhirModel):
    """A FHIR R4 Bundle of type 'collection' with one safeguarding alert."""

    resourceType: Literal["Bundle"] = Field(description="FHIR resource type.", examples=["Bundle"])
    id: str | None = Field(
        default=None, max_length=_ID_MAX, description="Logical id.", examples=["bundle-1"]
    )
    identifier: Identifier = Field(
        description=(
            "Business identifier of this alert in the sending system; its value is the "
            "source reference (a correction needs a new identifier value)."
        ),
        examples=[
            {"system": "https://trust.example/safeguarding-alert", "value": "SGA-2026-000123"}
        ],
    )
    type: Literal["collection"] = Field(description="Bundle type.", examples=["collection"])
    timestamp: AwareDatetime = Field(
        description="When the bundle was assembled (the record's created time), with offset.",
        examples=["2026-11-18T11:02:00+00:00"],
    )
    entry: list[BundleEntry] = Field(
        min_length=2,
        max_length=100,
        description=("Entries (2 to 100): one Patient, one Encounter, any Flags and Observations."),
        examples=[[{"fullUrl": "urn:uuid:patient-1", "resource": {"resourceType": "Patient"}}]],
    )
