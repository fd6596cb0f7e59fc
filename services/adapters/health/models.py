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
  The clinical detail is every Flag's and Observation's text: code.text, narrative, and an
  Observation's valueString and notes. Either may carry the hub's `safeguarding-concern`
  extension naming a hub concern code.
Any other resource, and any element the hub does not read, is refused with a pointer
(services/adapters/health/elements.py): nothing is accepted and lost (issue 21).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from services.adapters.health.elements import unread_elements
from services.adapters.health.systems import (
    CARE_SETTING_SYSTEM,
    CONCERN_EXTENSION,
    CONCERN_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ORGANISATION_CODE_SYSTEM,
    REFERRAL_EXTENSION,
    SNOMED_SYSTEM,
)
from services.adapters.health.validation import fhir_errors
from services.adapters.ingest.identifiers import FhirGender
from services.adapters.ingest.models import (
    CodedValueError,
    PersonName,
    as_error_line,
    example_of,
)
from services.adapters.ingest.problems import FieldError, field_errors_from_validation

__all__ = [
    "CARE_SETTING_SYSTEM",
    "CLINICAL_DETAIL_MAX_CHARS",
    "CONCERN_EXTENSION",
    "CONCERN_SYSTEM",
    "CPIS_FLAG_CODES",
    "NARRATIVE_MAX_CHARS",
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
    "Narrative",
    "Observation",
    "OtherResource",
    "Patient",
    "narrative_text",
]

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
NARRATIVE_MAX_CHARS = 40_000
"""Longest XHTML narrative, markup included; its text counts towards the clinical detail."""
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
            "Code. In the SNOMED CT system it must be a SNOMED CT identifier (6 to 18 digits); "
            "in the care-setting system a CareSetting code, in the concern system a "
            "ConcernCode (code lists on this page)."
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
        default=None,
        max_length=500,
        description=(
            "Plain text. On a Flag's or an Observation's code it is clinical detail (mapped); "
            "on an Encounter's serviceType it is refused (not read)."
        ),
        examples=["Child protection plan"],
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


class Narrative(FhirModel):
    status: str = Field(
        max_length=_CODE_MAX,
        description="generated, extensions, additional or empty.",
        examples=["additional"],
    )
    div: str = Field(
        max_length=NARRATIVE_MAX_CHARS,
        description=(
            "XHTML narrative. On a Flag or an Observation its text (markup removed) is clinical "
            "detail; on a Patient or Encounter only a 'generated' narrative is accepted."
        ),
        examples=['<div xmlns="http://www.w3.org/1999/xhtml">Known to CSC; CP plan open.</div>'],
    )


_TAG = re.compile(r"<[^>]*>")


def narrative_text(div: str) -> str:
    """The text of an XHTML narrative: markup removed, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(_TAG.sub(" ", div)).split())


class Extension(FhirModel):
    url: str = Field(
        max_length=_URI_MAX,
        description=(
            "Extension URL, or a sub-extension name (the safeguarding-referral extension's "
            "names are the ReferralSubExtension code list)."
        ),
        examples=["riskLevel"],
    )
    valueCode: str | None = Field(
        default=None,
        max_length=_CODE_MAX,
        description=(
            "Code value: riskLevel takes a RiskLevel code, consentStatus a ConsentStatus code "
            "(code lists on this page)."
        ),
        examples=["HIGH"],
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
        description=(
            f"Care setting, coded in {CARE_SETTING_SYSTEM} (required): a CareSetting code "
            "(code list on this page)."
        ),
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
    text: Narrative | None = Field(
        default=None,
        description="Narrative; its text is added to the clinical detail (navigator only).",
        examples=[None],
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
        description=(
            "For a plan flag: period.start (the plan start) is required (missing); period.end "
            "when the plan has ended."
        ),
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
    text: Narrative | None = Field(
        default=None,
        description="Narrative; its text is added to the clinical detail (navigator only).",
        examples=[None],
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
        description="The resource: Patient, Encounter, Flag or Observation (others refused).",
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
        description=(
            "Entries (2 to 100): one Patient, one Encounter, any Flags and Observations; any "
            "other resource is refused (element_not_read)."
        ),
        examples=[[{"fullUrl": "urn:uuid:patient-1", "resource": {"resourceType": "Patient"}}]],
    )

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Every problem of the Bundle's shape in one answer (issue 21): this profile's
        limits, FHIR R4 validity (fhir.resources) and the elements the hub does not read.
        The hub's profile checks (mapping.py) follow once the shape is right."""
        found = [*fhir_errors(data), *unread_elements(data)]
        try:
            bundle = handler(data)
        except ValidationError as failed:
            if not found:
                raise
            reported = {e.pointer for e in field_errors_from_validation(failed.errors(), data)}
            extra = [e for e in found if e.pointer not in reported]
            if not extra:
                raise
            lines = [as_error_line(e) for e in failed.errors(include_url=False)]
            raise ValidationError.from_exception_data(
                failed.title, [*lines, *(_error_line(e, data) for e in extra)]
            ) from None
        if found:
            raise ValidationError.from_exception_data(
                cls.__name__, [_error_line(e, data) for e in found]
            )
        return bundle


def _error_line(error: FieldError, data: Any) -> InitErrorDetails:
    path = tuple(s.replace("~1", "/").replace("~0", "~") for s in error.pointer.split("/")[1:])
    problem = CodedValueError(error.code, error.message, field=path)
    return InitErrorDetails(type="value_error", loc=(), input=data, ctx={"error": problem})
