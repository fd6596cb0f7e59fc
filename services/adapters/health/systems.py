"""The URIs of the hub's FHIR profile: code systems, identifier systems, extensions."""

from __future__ import annotations

__all__ = [
    "CARE_SETTING_SYSTEM",
    "CONCERN_EXTENSION",
    "CONCERN_SYSTEM",
    "NHS_NUMBER_SYSTEM",
    "ORGANISATION_CODE_SYSTEM",
    "REFERRAL_EXTENSION",
    "SNOMED_SYSTEM",
]

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED_SYSTEM = "http://snomed.info/sct"
CARE_SETTING_SYSTEM = "https://fhir.safehub.example/CodeSystem/care-setting"
CONCERN_SYSTEM = "https://fhir.safehub.example/CodeSystem/concern"
REFERRAL_EXTENSION = "https://fhir.safehub.example/StructureDefinition/safeguarding-referral"
CONCERN_EXTENSION = "https://fhir.safehub.example/StructureDefinition/safeguarding-concern"
# Identifier system of hub organisation codes (e.g. LA-E09000099), as the topology names them.
ORGANISATION_CODE_SYSTEM = "https://fhir.safehub.example/Id/organisation-code"
