"""FHIR safeguarding Bundle -> HEALTH_SAFEGUARDING_ALERT notice. Pure.

Profile checks (each failure is a field-level error with a JSON pointer into the Bundle):
exactly one Patient with a modulus-11-valid NHS number, a given and a family name; exactly
one Encounter with a care setting, a seen time and the safeguarding-referral extension.

    narrative.summary       <- referral extension navigatorRiskSummary (shareable)
    narrative.full_account  <- the clinical detail (CLINICAL: navigator only, R3): in entry
                               order, each Flag's code.text and narrative, and each
                               Observation's code.text, valueString, note texts and narrative
                               (issue 21: a Flag's text was once dropped), one per line; the
                               same text goes to detail.clinical_detail
    detail.snomed_codes     <- SNOMED CT codes of every Flag and Observation, in order (each
                               must be a SNOMED CT identifier: 6 to 18 digits)
    detail.cpis_flag        <- the first Flag coded as a CP-IS plan (CP plan, unborn child
                               plan, looked after)
    subject.responsible_la  <- that open plan flag's author.identifier: the hub code of the
                               LA that owns the plan (rule R13); missing or malformed, the
                               alert is published without it and the 202 carries a warning
    detail.unscheduled_care <- setting ED or MIU, or Encounter.class EMER (rule R13)
Source reference: the Bundle identifier value.

Limits beyond the models' (issue 13): the clinical detail, joined from every Observation, is
at most CLINICAL_DETAIL_MAX_CHARS, and each referral sub-extension string is held to the
length the same field has at the other adapters (_REFERRAL_MAX_CHARS).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from services.adapters.health.models import (
    CARE_SETTING_SYSTEM,
    CLINICAL_DETAIL_MAX_CHARS,
    CONCERN_EXTENSION,
    CONCERN_SYSTEM,
    CPIS_FLAG_CODES,
    NHS_NUMBER_SYSTEM,
    ORGANISATION_CODE_SYSTEM,
    REFERRAL_EXTENSION,
    SNOMED_SYSTEM,
    CodeableConcept,
    Encounter,
    Extension,
    FhirBundle,
    Flag,
    Observation,
    Patient,
    narrative_text,
)
from services.adapters.ingest.identifiers import fhir_sex
from services.adapters.ingest.mapping import (
    Mapped,
    MappingContext,
    MappingFailed,
    build_notice,
    build_subject,
    exploitation_signalled,
)
from services.adapters.ingest.models import CodedValueError, check_nhs_number, normalise_postcode
from services.adapters.ingest.problems import FieldError, json_pointer
from services.adapters.ingest.vocab import ConcernCode, ConsentStatus, RiskLevel
from services.hubkit.notice import concern, to_utc

__all__ = ["CARE_SETTINGS", "map_fhir_bundle"]

_R = TypeVar("_R")

CARE_SETTINGS = frozenset(
    {"ED", "MIU", "MATERNITY", "SEXUAL_HEALTH", "TERMINATION", "SARC", "CAMHS", "GP", "COMMUNITY"}
)
_UNSCHEDULED_SETTINGS = frozenset({"ED", "MIU"})
# A hub local authority code: "LA-" and the authority's GSS code (E, W, S or N and 8 digits).
_LA_CODE = re.compile(r"LA-[ENSW][0-9]{8}")
# A SNOMED CT identifier (SCTID): 6 to 18 digits.
_SCTID = re.compile(r"[0-9]{6,18}")


class _Errors:
    """Collects every profile error before failing, so one response lists them all."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        self.items.append(FieldError(pointer=json_pointer(path), code=code, message=message))


def map_fhir_bundle(bundle: FhirBundle, ctx: MappingContext) -> Mapped:
    errors = _Errors()
    patients = _of_type(bundle, Patient)
    encounters = _of_type(bundle, Encounter)
    if len(patients) != 1:
        errors.add(("entry",), "patient_count", "the Bundle must hold exactly one Patient")
    if len(encounters) != 1:
        errors.add(("entry",), "encounter_count", "the Bundle must hold exactly one Encounter")
    # Each resource is checked even when another is missing, so one answer names every
    # problem (issue 21); the notice is built only when there is none.
    patient_found = _patient_checks(patients, errors) if len(patients) == 1 else None
    encounter_found = _encounter_checks(encounters, errors) if len(encounters) == 1 else None
    flags = _of_type(bundle, Flag)
    observations = _of_type(bundle, Observation)
    cpis, responsible_la, warnings = _cpis_flag(flags, errors)
    concerns = _concerns([*flags, *observations], errors)
    _check_snomed_codes([*flags, *observations], errors)
    clinical = _clinical_detail(bundle, errors)
    if errors.items or patient_found is None or encounter_found is None:
        raise MappingFailed(errors.items)
    p_path, patient, nhs_number, given, family, postcode = patient_found
    encounter, setting, seen_at, referral = encounter_found

    coded: list[Flag | Observation] = [r for _, r in flags] + [r for _, r in observations]
    snomed = _unique(
        c.code
        for r in coded
        for c in (r.code.coding if r.code else [])
        if c.system == SNOMED_SYSTEM and c.code
    )
    clinical_detail = "\n".join(clinical) if clinical else "No clinical detail recorded."
    unscheduled = setting in _UNSCHEDULED_SETTINGS or (
        encounter.class_ is not None and encounter.class_.code == "EMER"
    )
    looked_after = (
        cpis is not None and cpis["plan_type"] == "LOOKED_AFTER" and cpis["plan_end"] is None
    )
    subject = build_subject(
        ctx,
        created_at=to_utc(bundle.timestamp),
        given_name=given,
        family_name=family,
        date_of_birth=patient.birthDate,
        postcode=postcode,
        nhs_number=nhs_number,
        sex=fhir_sex(patient.gender),
        looked_after=looked_after,
        responsible_la=responsible_la,
        exploitation_flagged=exploitation_signalled(concerns),
        pointer=json_pointer(p_path),
    )
    notice = build_notice(
        ctx,
        notice_type="HEALTH_SAFEGUARDING_ALERT",
        source_reference=str(bundle.identifier.value),
        source_system=bundle.identifier.system,
        created_at=bundle.timestamp,
        subject=subject,
        concerns=concerns,
        risk_level=referral["riskLevel"],
        immediate_danger=bool(referral.get("immediateDanger", False)),
        summary=referral["navigatorRiskSummary"],
        full_account=clinical_detail,
        sensitivity="CLINICAL",
        classification="OFFICIAL_SENSITIVE",
        consent={
            "status": referral["consentStatus"],
            "reason_not_sought": referral.get("consentReasonNotSought"),
        },
        family_informed={
            "informed": referral["familyInformed"],
            "reason_not_informed": None
            if referral["familyInformed"]
            else referral.get("familyNotInformedReason"),
        },
        contact_point={
            "role": referral["contactRole"],
            "organisation": ctx.organisation_name,
            "telephone": referral["contactTelephone"],
            "secure_email": referral.get("contactEmail"),
        },
        detail={
            "setting": setting,
            "seen_at": to_utc(seen_at),
            "snomed_codes": snomed,
            "clinical_detail": clinical_detail,
            "navigator_risk_summary": referral["navigatorRiskSummary"],
            "cpis_flag": cpis,
            "released_for_cp_decision": bool(referral.get("releasedForCpDecision", False)),
            "unscheduled_care": unscheduled,
        },
    )
    return Mapped(notice, tuple(warnings))


def _patient_checks(
    patients: list[tuple[int, Patient]], errors: _Errors
) -> tuple[tuple[str | int, ...], Patient, str | None, str, str, str | None]:
    p_index, patient = patients[0]
    p_path: tuple[str | int, ...] = ("entry", p_index, "resource")
    nhs_number = _nhs_number(patient, p_path, errors)
    given, family = _names(patient, p_path, errors)
    postcode = _postcode(patient, p_path, errors)
    return p_path, patient, nhs_number, given, family, postcode


def _encounter_checks(
    encounters: list[tuple[int, Encounter]], errors: _Errors
) -> tuple[Encounter, str, dt.datetime, dict[str, Any]] | None:
    e_index, encounter = encounters[0]
    e_path: tuple[str | int, ...] = ("entry", e_index, "resource")
    setting = _setting(encounter, e_path, errors)
    seen_at = encounter.period.start if encounter.period else None
    if not isinstance(seen_at, dt.datetime):
        errors.add((*e_path, "period", "start"), "missing", "period.start (a dateTime) is required")
    referral = _referral(encounter, e_path, errors)
    if setting is None or not isinstance(seen_at, dt.datetime) or referral is None:
        return None
    return encounter, setting, seen_at, referral


def _of_type(bundle: FhirBundle, kind: type[_R]) -> list[tuple[int, _R]]:
    return [(i, e.resource) for i, e in enumerate(bundle.entry) if isinstance(e.resource, kind)]


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


def _clinical_detail(bundle: FhirBundle, errors: _Errors) -> list[str]:
    """Every clinical text of the Flags and Observations, in entry order; an error at the text
    that takes the joined detail past CLINICAL_DETAIL_MAX_CHARS (each part alone is bounded by
    the model, but a Bundle holds many of them)."""
    parts: list[str] = []
    length = -1  # no separator before the first part
    for index, resource in enumerate(e.resource for e in bundle.entry):
        for where, text in _clinical_texts(resource):
            if not text or not text.strip():
                continue
            length += 1 + len(text)
            if length > CLINICAL_DETAIL_MAX_CHARS:
                errors.add(
                    ("entry", index, "resource", *where),
                    "clinical_detail_too_long",
                    f"the Bundle's clinical detail (every Flag and Observation text, one per "
                    f"line) is over {CLINICAL_DETAIL_MAX_CHARS:,} characters from here",
                )
                return parts
            parts.append(text)
    return parts


def _clinical_texts(resource: object) -> list[tuple[tuple[str | int, ...], str | None]]:
    """Where a Flag or an Observation holds clinical text, and the text."""
    if not isinstance(resource, Flag | Observation):
        return []
    texts: list[tuple[tuple[str | int, ...], str | None]] = [
        (("code", "text"), resource.code.text if resource.code else None)
    ]
    if isinstance(resource, Observation):
        texts.append((("valueString",), resource.valueString))
        texts += [(("note", n, "text"), note.text) for n, note in enumerate(resource.note)]
    if resource.text is not None and resource.text.status != "empty":
        texts.append((("text", "div"), narrative_text(resource.text.div)))
    return texts


def _check_snomed_codes(
    resources: Sequence[tuple[int, Flag | Observation]], errors: _Errors
) -> None:
    for index, resource in resources:
        for c_index, coding in enumerate(resource.code.coding if resource.code else []):
            if coding.system == SNOMED_SYSTEM and coding.code and not _SCTID.fullmatch(coding.code):
                errors.add(
                    ("entry", index, "resource", "code", "coding", c_index, "code"),
                    "snomed_code",
                    "a SNOMED CT code must be a SNOMED CT identifier: 6 to 18 digits",
                )


def _nhs_number(patient: Patient, path: tuple[str | int, ...], errors: _Errors) -> str | None:
    for index, identifier in enumerate(patient.identifier):
        if identifier.system == NHS_NUMBER_SYSTEM:
            # The same check, codes and messages as the other adapters' nhs_number fields.
            try:
                return check_nhs_number(identifier.value or "")
            except CodedValueError as error:
                errors.add((*path, "identifier", index, "value"), error.code, str(error))
                return None
    errors.add(
        (*path, "identifier"),
        "nhs_number_missing",
        f"Patient needs an identifier with system {NHS_NUMBER_SYSTEM}",
    )
    return None


def _names(patient: Patient, path: tuple[str | int, ...], errors: _Errors) -> tuple[str, str]:
    names = patient.name
    chosen = next((n for n in names if n.use == "official"), names[0] if names else None)
    if chosen is None:
        errors.add((*path, "name"), "missing", "Patient needs a name")
        return "", ""
    index = names.index(chosen)
    if not chosen.given or not chosen.given[0].strip():
        errors.add((*path, "name", index, "given"), "missing", "a given name is required")
    if not chosen.family or not chosen.family.strip():
        errors.add((*path, "name", index, "family"), "missing", "a family name is required")
    return (chosen.given[0].strip() if chosen.given else ""), (chosen.family or "").strip()


def _postcode(patient: Patient, path: tuple[str | int, ...], errors: _Errors) -> str | None:
    addresses = patient.address
    chosen = next((a for a in addresses if a.use == "home"), addresses[0] if addresses else None)
    if chosen is None or not chosen.postalCode:
        return None
    try:
        return normalise_postcode(chosen.postalCode)
    except CodedValueError as error:
        errors.add(
            (*path, "address", addresses.index(chosen), "postalCode"), error.code, str(error)
        )
        return None


def _setting(encounter: Encounter, path: tuple[str | int, ...], errors: _Errors) -> str | None:
    codings = encounter.serviceType.coding if encounter.serviceType else []
    for index, coding in enumerate(codings):
        if coding.system == CARE_SETTING_SYSTEM:
            if coding.code in CARE_SETTINGS:
                return coding.code
            errors.add(
                (*path, "serviceType", "coding", index, "code"),
                "care_setting",
                f"care setting must be one of {', '.join(sorted(CARE_SETTINGS))}",
            )
            return None
    errors.add(
        (*path, "serviceType"),
        "care_setting_missing",
        f"Encounter.serviceType needs a coding in {CARE_SETTING_SYSTEM}",
    )
    return None


_REFERRAL_REQUIRED = {
    "riskLevel": "valueCode",
    "navigatorRiskSummary": "valueString",
    "consentStatus": "valueCode",
    "familyInformed": "valueBoolean",
    "contactRole": "valueString",
    "contactTelephone": "valueString",
}
_REFERRAL_OPTIONAL = {
    "immediateDanger": "valueBoolean",
    "releasedForCpDecision": "valueBoolean",
    "consentReasonNotSought": "valueString",
    "familyNotInformedReason": "valueString",
    "contactEmail": "valueString",
}
# The same limits the other adapters put on the notice fields these become (the summary is
# bounded by the Extension model: 1,000 characters).
_REFERRAL_MAX_CHARS = {
    "consentReasonNotSought": 500,
    "familyNotInformedReason": 500,
    "contactRole": 200,
    "contactTelephone": 40,
    "contactEmail": 200,
}


def _referral(
    encounter: Encounter, path: tuple[str | int, ...], errors: _Errors
) -> dict[str, Any] | None:
    found = [(i, x) for i, x in enumerate(encounter.extension) if x.url == REFERRAL_EXTENSION]
    if not found:
        errors.add(
            (*path, "extension"),
            "referral_extension_missing",
            f"Encounter needs the {REFERRAL_EXTENSION} extension",
        )
        return None
    index, extension = found[0]
    ext_path = (*path, "extension", index, "extension")
    values: dict[str, Any] = {}
    before = len(errors.items)
    for name, element in {**_REFERRAL_REQUIRED, **_REFERRAL_OPTIONAL}.items():
        sub = _sub_extension(extension, name)
        if sub is None:
            if name in _REFERRAL_REQUIRED:
                errors.add(ext_path, "missing", f"sub-extension {name!r} ({element}) is required")
            continue
        sub_index, sub_ext = sub
        value = getattr(sub_ext, element)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.add((*ext_path, sub_index), "missing", f"{name} needs a non-empty {element}")
            continue
        if isinstance(value, str):
            value = value.strip()
            limit = _REFERRAL_MAX_CHARS.get(name)
            if limit is not None and len(value) > limit:
                errors.add(
                    (*ext_path, sub_index, element),
                    "string_too_long",
                    f"{name} must be at most {limit} characters",
                )
                continue
        values[name] = value
    _check_code(values, "riskLevel", {r.value for r in RiskLevel}, ext_path, extension, errors)
    _check_code(
        values, "consentStatus", {c.value for c in ConsentStatus}, ext_path, extension, errors
    )
    if values.get("consentStatus") == "NOT_SOUGHT" and "consentReasonNotSought" not in values:
        errors.add(
            ext_path, "reason_required", "consentReasonNotSought is required when NOT_SOUGHT"
        )
    if values.get("familyInformed") is False and "familyNotInformedReason" not in values:
        errors.add(
            ext_path,
            "reason_required",
            "familyNotInformedReason is required when familyInformed is false",
        )
    return values if len(errors.items) == before else None


def _sub_extension(extension: Extension, name: str) -> tuple[int, Extension] | None:
    for index, sub in enumerate(extension.extension):
        if sub.url == name:
            return index, sub
    return None


def _check_code(
    values: dict[str, Any],
    name: str,
    allowed: set[str],
    path: tuple[str | int, ...],
    extension: Extension,
    errors: _Errors,
) -> None:
    if name in values and values[name] not in allowed:
        sub = _sub_extension(extension, name)
        index = sub[0] if sub else 0
        errors.add(
            (*path, index, "valueCode"),
            "code_invalid",
            f"{name} must be one of {', '.join(sorted(allowed))}",
        )


def _cpis_flag(
    flags: list[tuple[int, Flag]], errors: _Errors
) -> tuple[dict[str, Any] | None, str | None, list[FieldError]]:
    """The first plan flag, the LA that owns the plan while it is open, and warnings."""
    for index, flag in flags:
        plan_type = _first_code(flag.code, CPIS_FLAG_CODES)
        if plan_type is None:
            continue
        path = ("entry", index, "resource")
        start = flag.period.start if flag.period else None
        end = flag.period.end if flag.period else None
        if start is None:
            errors.add((*path, "period", "start"), "missing", "a plan flag needs period.start")
        contact = flag.author.display if flag.author else None
        if not contact:
            errors.add(
                (*path, "author", "display"),
                "missing",
                "a plan flag needs author.display: the responsible local authority contact",
            )
        if start is None or not contact:
            return None, None, []
        cpis = {
            "plan_type": plan_type,
            "plan_start": _as_date(start),
            "plan_end": _as_date(end) if end is not None else None,
            "responsible_la_contact": contact,
        }
        if end is not None:
            return cpis, None, []  # an ended plan has no LA to tell of an access
        warnings: list[FieldError] = []
        return cpis, _plan_owner(flag, path, warnings), warnings
    return None, None, []


def _plan_owner(flag: Flag, path: tuple[str | int, ...], warnings: list[FieldError]) -> str | None:
    """The hub code of the LA that owns the plan, from author.identifier."""
    # A warning, not an error: the alert still matters to the MASH without the code.
    identifier = flag.author.identifier if flag.author else None
    if identifier is None or identifier.system != ORGANISATION_CODE_SYSTEM:
        warnings.append(
            FieldError(
                pointer=json_pointer((*path, "author", "identifier")),
                code="responsible_la_missing",
                message=(
                    f"a plan flag's author needs an identifier in {ORGANISATION_CODE_SYSTEM} "
                    "naming the LA that owns the plan; without it that LA cannot be told of "
                    "this access (rule R13)"
                ),
            )
        )
        return None
    code = (identifier.value or "").strip().upper()
    if _LA_CODE.fullmatch(code) is None:
        warnings.append(
            FieldError(
                pointer=json_pointer((*path, "author", "identifier", "value")),
                code="responsible_la_invalid",
                message=(
                    "not a hub local authority code ('LA-' and the GSS code, e.g. "
                    "LA-E09000099); the alert was published without the responsible LA"
                ),
            )
        )
        return None
    return code


def _as_date(value: dt.datetime | dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _first_code(concept: CodeableConcept | None, table: dict[str, str]) -> str | None:
    for coding in concept.coding if concept else []:
        if coding.system == SNOMED_SYSTEM and coding.code in table:
            return table[coding.code]
    return None


def _concerns(
    resources: Sequence[tuple[int, Flag | Observation]], errors: _Errors
) -> list[dict[str, Any]]:
    allowed = {c.value for c in ConcernCode}
    found: list[dict[str, Any]] = []
    for index, resource in resources:
        for ext_index, extension in enumerate(resource.extension):
            if extension.url != CONCERN_EXTENSION:
                continue
            coding = extension.valueCoding
            path = ("entry", index, "resource", "extension", ext_index, "valueCoding")
            if coding is None or coding.system != CONCERN_SYSTEM or coding.code not in allowed:
                errors.add(
                    path,
                    "concern_code",
                    f"concern must be a valueCoding in {CONCERN_SYSTEM} with a hub concern code",
                )
                continue
            if all(c["code"] != coding.code for c in found):
                found.append(concern(str(coding.code)))
    return found
