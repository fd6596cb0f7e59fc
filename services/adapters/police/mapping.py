"""Police occurrence record -> SafeguardingNotice. Pure.

Source reference: `<occurrence reference>/<record kind>` (missing-person records add the
stage, so reported and returned are separate notices), plus `/r<n>` for a correction.

    PUBLIC_PROTECTION_NOTICE -> SAFEGUARDING_CONTACT
    DASH_INCIDENT            -> DOMESTIC_ABUSE_INCIDENT  (concern DOMESTIC_ABUSE ensured)
    MISSING_PERSON           -> MISSING_EPISODE          (concern MISSING / census 10A ensured;
                                                          return interview due at return + 72h)
    INTELLIGENCE_REPORT      -> POLICE_INTELLIGENCE      (grading kept as graded: 3x5x2, or
                                                          LEGACY_5X5X5 for the policy's rule R6)
"""

from __future__ import annotations

from typing import Any

from services.adapters.ingest.mapping import (
    RETURN_INTERVIEW_DUE,
    MappingContext,
    Notice,
    build_notice,
    build_subject,
    concerns_of,
    consent_of,
    contact_point_of,
    family_informed_of,
    person_of,
    reference_with_revision,
    to_utc,
)
from services.adapters.police.models import (
    DashIncident,
    IntelligenceReport,
    MissingPersonRecord,
    MissingStatus,
    OccurrenceBase,
    PublicProtectionNotice,
)

__all__ = ["map_police_record", "source_reference_of"]

_KIND = {
    "PUBLIC_PROTECTION_NOTICE": "PPN",
    "DASH_INCIDENT": "DASH",
    "MISSING_PERSON": "MISPER",
    "INTELLIGENCE_REPORT": "INTEL",
}


def source_reference_of(
    record: PublicProtectionNotice | DashIncident | MissingPersonRecord | IntelligenceReport,
) -> str:
    reference = f"{record.occurrence_reference}/{_KIND[record.record_type]}"
    if isinstance(record, MissingPersonRecord):
        reference += f"/{record.status.value}"
    return reference_with_revision(reference, record.revision)


def map_police_record(
    record: PublicProtectionNotice | DashIncident | MissingPersonRecord | IntelligenceReport,
    ctx: MappingContext,
) -> Notice:
    ensure: list[tuple[str, str | None]] = []
    grading: dict[str, Any] | None = None
    detail: dict[str, Any]
    match record:
        case PublicProtectionNotice():
            notice_type = "SAFEGUARDING_CONTACT"
            detail = {
                "reason": record.reason,
                "children_in_household": record.children_in_household,
            }
        case DashIncident():
            notice_type = "DOMESTIC_ABUSE_INCIDENT"
            ensure.append(("DOMESTIC_ABUSE", None))
            detail = {
                "incident_at": to_utc(record.incident_at),
                "dash_risk": record.dash_grade.value,
                "children_present": record.children_present,
                "marac_referral": record.marac_referral,
                "school_urn": record.subject.school_urn,
            }
        case MissingPersonRecord():
            notice_type = "MISSING_EPISODE"
            ensure.append(("MISSING", "10A"))
            ended = to_utc(record.found_or_returned_at) if record.found_or_returned_at else None
            returned = record.status is MissingStatus.RETURNED
            detail = {
                "status": record.status.value,
                "risk_grade": record.risk_grade.value,
                "ssda903_code": record.ssda903_code,
                "started_at": to_utc(record.missing_since),
                "ended_at": ended,
                "return_interview_due_at": ended + RETURN_INTERVIEW_DUE
                if returned and ended
                else None,
                "carer_contact": record.carer_contact,
                "episodes_last_90_days": record.episodes_last_90_days,
            }
        case IntelligenceReport():
            notice_type = "POLICE_INTELLIGENCE"
            legacy = record.grading.scheme == "5x5x5"
            grading = {
                "scheme": "LEGACY_5X5X5" if legacy else "GRADING_3X5X2",
                "source_evaluation": record.grading.source_evaluation,
                "intelligence_assessment": record.grading.intelligence_assessment,
                "handling_code": record.grading.handling_code,
            }
            detail = {
                "sanitised_text": record.sanitised_text,
                "source_details": record.source_details,
            }
    return _notice(record, ctx, notice_type, source_reference_of(record), detail, ensure, grading)


def _notice(
    record: OccurrenceBase,
    ctx: MappingContext,
    notice_type: str,
    source_reference: str,
    detail: dict[str, Any],
    ensure: list[tuple[str, str | None]],
    grading: dict[str, Any] | None,
) -> Notice:
    child = record.subject
    subject = build_subject(
        ctx,
        created_at=to_utc(record.recorded_at),
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
        postcode=child.postcode,
        nhs_number=child.nhs_number,
        looked_after=child.looked_after,
        responsible_la=child.responsible_la,
        placing_la=child.placing_la,
        exploitation_flagged=child.exploitation_flagged,
        pointer="/subject",
    )
    return build_notice(
        ctx,
        notice_type=notice_type,
        source_reference=source_reference,
        source_system=record.source_system,
        created_at=record.recorded_at,
        subject=subject,
        concerns=concerns_of(record.concerns, ensure=ensure),
        risk_level=record.risk.level.value,
        immediate_danger=record.risk.immediate_danger,
        summary=record.summary,
        full_account=record.full_account,
        sensitivity=record.sensitivity.value,
        classification=record.classification.replace("-", "_"),
        consent=consent_of(record.consent),
        family_informed=family_informed_of(record.family_informed),
        contact_point=contact_point_of(record.officer_contact),
        detail=detail,
        intelligence_grading=grading,
        referrer=person_of(record.referrer) if record.referrer else None,
        third_parties=[person_of(p) for p in record.third_parties],
    )
