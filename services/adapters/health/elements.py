"""Which elements of a FHIR Bundle the hub reads; every other element is refused. Pure.

Issue 21: a Bundle whose safeguarding detail sat where the adapter did not look was accepted
with 202 and the detail was lost. Now an element is either read (it reaches the notice, or
is used to link the child) or refused with a pointer naming it (code `element_not_read`):

- content the notice carries: see services/adapters/health/mapping.py;
- bookkeeping that carries nothing about the child or the concern, accepted and not
  carried: ids, `meta`, `language`, `fullUrl`, `status`, references to the Bundle's own
  Patient and Encounter (`subject`, `encounter`), and in a CodeableConcept every `coding`
  (FHIR codings of one concept are translations of each other; the SNOMED CT ones are
  carried) with its `display`, `version`, `userSelected`;
- a Patient or Encounter narrative (`text`) only when its status is `generated`: FHIR
  defines that as rendered from the structured elements alone, which are read or refused
  themselves. A Flag's or Observation's narrative is clinical detail (mapped).

The child's identifiers are read for linkage only (the NHS number, the official or first
name, the home or first address's postcode, birth date, gender); other identifiers, names
and address lines are refused rather than accepted unused: the hub takes only what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.adapters.health.systems import (
    CONCERN_EXTENSION,
    NHS_NUMBER_SYSTEM,
    REFERRAL_EXTENSION,
)
from services.adapters.ingest.problems import FieldError, json_pointer

__all__ = ["REFERRAL_SUB_EXTENSIONS", "unread_elements"]

Path = tuple[str | int, ...]
# A spec names the elements read in an object: None takes the value whole.
Spec = Mapping[str, "Spec | None"]

REFERRAL_SUB_EXTENSIONS: Mapping[str, str] = {
    "riskLevel": "valueCode",
    "immediateDanger": "valueBoolean",
    "navigatorRiskSummary": "valueString",
    "consentStatus": "valueCode",
    "consentReasonNotSought": "valueString",
    "familyInformed": "valueBoolean",
    "familyNotInformedReason": "valueString",
    "contactRole": "valueString",
    "contactTelephone": "valueString",
    "contactEmail": "valueString",
    "releasedForCpDecision": "valueBoolean",
}

_CODING: Spec = dict.fromkeys(("system", "code", "display", "version", "userSelected"))
_CONCEPT: Spec = {"coding": _CODING, "text": None}
_CONCEPT_NO_TEXT: Spec = {"coding": _CODING}
_IDENTIFIER: Spec = {"system": None, "value": None, "use": None}
_REFERENCE: Spec = {"reference": None, "display": None, "type": None}
_PERIOD: Spec = {"start": None, "end": None}
_NARRATIVE: Spec = {"status": None, "div": None}
_BOOKKEEPING: Spec = {"resourceType": None, "id": None, "meta": None, "language": None}

_RESOURCES: Mapping[str, Spec] = {
    "Patient": {**_BOOKKEEPING, "birthDate": None, "gender": None},
    "Encounter": {
        **_BOOKKEEPING,
        "status": None,
        "class": _CODING,
        "serviceType": _CONCEPT_NO_TEXT,
        "period": {"start": None},
        "subject": _REFERENCE,
    },
    "Flag": {
        **_BOOKKEEPING,
        "text": _NARRATIVE,
        "status": None,
        "code": _CONCEPT,
        "period": _PERIOD,
        "author": {"identifier": _IDENTIFIER, "display": None},
        "subject": _REFERENCE,
        "encounter": _REFERENCE,
    },
    "Observation": {
        **_BOOKKEEPING,
        "text": _NARRATIVE,
        "status": None,
        "code": _CONCEPT,
        "valueString": None,
        "note": {"text": None},
        "subject": _REFERENCE,
        "encounter": _REFERENCE,
    },
}
_BUNDLE: Spec = {
    **_BOOKKEEPING,
    "identifier": {"system": None, "value": None},
    "type": None,
    "timestamp": None,
}


def unread_elements(document: Any) -> list[FieldError]:
    """An `element_not_read` error for every element of the Bundle the hub would not read."""
    errors: list[FieldError] = []
    if not isinstance(document, Mapping):
        return errors
    _walk(document, {**_BUNDLE, "entry": None}, (), errors)
    entries = document.get("entry")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        path: Path = ("entry", index)
        if not isinstance(entry, Mapping):
            continue
        _walk(entry, {"fullUrl": None, "resource": None}, path, errors)
        resource = entry.get("resource")
        if isinstance(resource, Mapping):
            _resource(resource, (*path, "resource"), errors)
    return errors


def _resource(resource: Mapping[str, Any], path: Path, errors: list[FieldError]) -> None:
    kind = resource.get("resourceType")
    spec = _RESOURCES.get(kind) if isinstance(kind, str) else None
    if spec is None or not isinstance(kind, str):
        errors.append(
            _not_read(
                path,
                "the hub reads Patient, Encounter, Flag and Observation resources only; put "
                "what matters in an Observation (valueString or note) or remove the resource",
            )
        )
        return
    handled = {"extension"} if kind != "Patient" else {"identifier", "name", "address"}
    if kind in ("Patient", "Encounter"):
        handled.add("text")
    _walk(resource, {**spec, **dict.fromkeys(handled)}, path, errors)
    if kind == "Patient":
        _patient(resource, path, errors)
    else:
        _extensions(resource, kind, path, errors)
    if kind in ("Patient", "Encounter"):
        text = resource.get("text")
        if text is not None and not (
            isinstance(text, Mapping) and text.get("status") == "generated"
        ):
            errors.append(
                _not_read(
                    (*path, "text"),
                    f"a {kind}'s narrative is read only when generated from its elements "
                    "(status 'generated'); put clinical detail in an Observation",
                )
            )


def _patient(patient: Mapping[str, Any], path: Path, errors: list[FieldError]) -> None:
    identifiers = patient.get("identifier")
    for index, identifier in enumerate(identifiers if isinstance(identifiers, list) else []):
        where = (*path, "identifier", index)
        if isinstance(identifier, Mapping) and identifier.get("system") == NHS_NUMBER_SYSTEM:
            _walk(identifier, _IDENTIFIER, where, errors)
        else:
            errors.append(_not_read(where, "only the NHS number identifier is read; remove it"))
    name: Spec = dict.fromkeys(("use", "family", "given"))
    _chosen(
        patient,
        "name",
        "official",
        name,
        "one name is read (the official one, or the first)",
        path,
        errors,
    )
    address: Spec = dict.fromkeys(("use", "postalCode"))
    _chosen(
        patient,
        "address",
        "home",
        address,
        "one address is read (the home one, or the first)",
        path,
        errors,
    )


def _chosen(
    patient: Mapping[str, Any],
    element: str,
    use: str,
    spec: Spec,
    what: str,
    path: Path,
    errors: list[FieldError],
) -> None:
    """Of a Patient's names or addresses the mapping reads one: the `use` one or the first."""
    items = patient.get(element)
    if not isinstance(items, list) or not items:
        return
    uses = [i.get("use") if isinstance(i, Mapping) else None for i in items]
    chosen = uses.index(use) if use in uses else 0
    for index, item in enumerate(items):
        where = (*path, element, index)
        if index != chosen:
            errors.append(_not_read(where, f"{what}; remove the others"))
        elif isinstance(item, Mapping):
            _walk(item, spec, where, errors)


def _extensions(
    resource: Mapping[str, Any], kind: str, path: Path, errors: list[FieldError]
) -> None:
    extensions = resource.get("extension")
    read = REFERRAL_EXTENSION if kind == "Encounter" else CONCERN_EXTENSION
    for index, extension in enumerate(extensions if isinstance(extensions, list) else []):
        where = (*path, "extension", index)
        if not isinstance(extension, Mapping) or extension.get("url") != read:
            errors.append(_not_read(where, f"the only extension read on a {kind} is {read}"))
            continue
        if read == CONCERN_EXTENSION:
            _walk(extension, {"url": None, "valueCoding": _CODING}, where, errors)
            continue
        _walk(extension, {"url": None, "extension": None}, where, errors)
        subs = extension.get("extension")
        for s_index, sub in enumerate(subs if isinstance(subs, list) else []):
            s_where = (*where, "extension", s_index)
            name = sub.get("url") if isinstance(sub, Mapping) else None
            element = REFERRAL_SUB_EXTENSIONS.get(name) if isinstance(name, str) else None
            if element is None or not isinstance(sub, Mapping):
                errors.append(
                    _not_read(
                        s_where,
                        "not a safeguarding-referral sub-extension: "
                        + ", ".join(REFERRAL_SUB_EXTENSIONS),
                    )
                )
                continue
            _walk(sub, {"url": None, element: None}, s_where, errors)


def _walk(node: Mapping[str, Any], spec: Spec, path: Path, errors: list[FieldError]) -> None:
    for name, value in node.items():
        if name not in spec:
            errors.append(_not_read((*path, name), "the hub does not read this element; remove it"))
            continue
        inner = spec[name]
        if inner is None:
            continue
        items: Sequence[Any] = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            where = (*path, name, index) if isinstance(value, list) else (*path, name)
            if isinstance(item, Mapping):
                _walk(item, inner, where, errors)


def _not_read(path: Path, message: str) -> FieldError:
    return FieldError(
        pointer=json_pointer(path),
        code="element_not_read",
        message=f"{message} (it would otherwise be accepted and lost)",
    )
