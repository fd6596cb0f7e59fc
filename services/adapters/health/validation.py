"""FHIR validity of a submitted Bundle, checked with a real FHIR library. Pure.

`fhir.resources` ships FHIR R4B models (R4B is R4 with a small set of resource changes that
do not touch Bundle, Patient, Encounter, Flag or Observation); it checks element names,
cardinality, primitive formats (dates, dateTimes with offsets, codes) and required elements.
The hub's profile (NHS number, care setting, extensions) is checked by the mapping.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from services.adapters.ingest.problems import FieldError, field_errors_from_validation, json_pointer

__all__ = ["fhir_errors"]


def fhir_errors(document: Any) -> list[FieldError]:
    """Field-level errors for a FHIR R4 Bundle document; empty when it is valid FHIR."""
    unknown = _unknown_resource_types(document)
    if unknown:
        return unknown
    try:
        Bundle.model_validate(document)
    except ValidationError as error:
        return [
            e.model_copy(update={"code": f"fhir_{e.code}"})
            for e in field_errors_from_validation(error.errors(), document)
        ]
    return []


def _unknown_resource_types(document: Any) -> list[FieldError]:
    # The library raises KeyError (not a validation error) for an unknown resourceType.
    errors: list[FieldError] = []
    entries = document.get("entry", []) if isinstance(document, dict) else []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        try:
            get_fhir_model_class(str(kind))
        except (KeyError, ValueError):
            errors.append(
                FieldError(
                    pointer=json_pointer(("entry", index, "resource", "resourceType")),
                    code="fhir_unknown_resource_type",
                    message="not a FHIR R4 resource type",
                )
            )
    return errors
