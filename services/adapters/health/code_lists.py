"""The health adapter's code lists as named OpenAPI components.

FHIR carries these codes in generic elements (a Coding's `code`, an Extension's `valueCode`),
so they cannot be a field's enum; each is published as a component instead, built from the
very set the profile checks (services/adapters/health/mapping.py, elements.py) and naming the
element it applies to.
"""

from __future__ import annotations

from typing import Any

from services.adapters.health.elements import REFERRAL_SUB_EXTENSIONS
from services.adapters.health.mapping import CARE_SETTINGS
from services.adapters.health.systems import (
    CARE_SETTING_SYSTEM,
    CONCERN_EXTENSION,
    CONCERN_SYSTEM,
    REFERRAL_EXTENSION,
)
from services.adapters.ingest.code_lists import code_list_schema
from services.adapters.ingest.vocab import ConcernCode, ConsentStatus, RiskLevel

__all__ = ["HEALTH_CODE_LISTS"]

HEALTH_CODE_LISTS: dict[str, dict[str, Any]] = {
    "CareSetting": code_list_schema(
        CARE_SETTINGS,
        f"Encounter.serviceType: the code of its coding in system {CARE_SETTING_SYSTEM} "
        "(required). Any other code is refused (care_setting). ED and MIU are unscheduled "
        "care.",
    ),
    "ReferralSubExtension": code_list_schema(
        REFERRAL_SUB_EXTENSIONS,
        f"The `url` of a sub-extension of the Encounter's {REFERRAL_EXTENSION} extension. "
        "Required: riskLevel, navigatorRiskSummary, consentStatus, familyInformed, "
        "contactRole, contactTelephone. consentReasonNotSought is required when "
        "consentStatus is NOT_SOUGHT, familyNotInformedReason when familyInformed is false; "
        "any other url is refused (element_not_read).",
    ),
    "RiskLevel": code_list_schema(
        RiskLevel,
        "valueCode of the safeguarding-referral sub-extension riskLevel; any other code is "
        "refused (code_invalid).",
    ),
    "ConsentStatus": code_list_schema(
        ConsentStatus,
        "valueCode of the safeguarding-referral sub-extension consentStatus; any other code "
        "is refused (code_invalid).",
    ),
    "ConcernCode": code_list_schema(
        ConcernCode,
        f"valueCoding.code (system {CONCERN_SYSTEM}) of a Flag's or an Observation's "
        f"{CONCERN_EXTENSION} extension; any other code or system is refused (concern_code).",
    ),
}
