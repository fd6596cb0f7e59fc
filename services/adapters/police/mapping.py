"""Police occurrence record -> SafeguardingNotice. Pure.

Source reference: `<occurrence reference>/<record kind>` (missing-person records add the
stage, so reported and returned are separate notices), plus `/r<n>` for a correction.

    PUBLIC_PROTECTION_NOTICE -> SAFEGUARDING_CONTACT
    DASH_INCIDENT            -> DOMESTIC_ABUSE_INCIDENT  (concern DOMESTIC_ABUSE ensured; the
                                                          school URN in its canonical
                                                          'URN-123456' form, or left out with a
                                                          warning when it is not a URN)
    MISSING_PERSON           -> MISSING_EPISODE          (concern MISSING / census 10A ensured;
                                                          return interview due 72h after the
                                                          child is back, found or returned)
    INTELLIGENCE_REPORT      -> POLICE_INTELLIGENCE      (grading kept as graded: 3x5x2, or
                                                          LEGACY_5X5X5 with any code 2
                                                          dissemination authorisation, for the
                                                          policy's rule R6)
    NRM referral (own route) -> TRAFFICKING_NRM          (`<occurrence reference>/NRM`; the NRM
                                                          parts shared with the other first
                                                          responders, see ingest/nrm.py; first
                                                          responder: officer_contact's
                                                          organisation, as the record names it)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.adapters.ingest.identifiers import recorded_sex
from services.adapters.ingest.mapping import (
    RETURN_INTERVIEW_DUE,
    Mapped,
    MappingContext,
    build_notice,
    build_subject,
    concerns_of,
    consent_of,
    contact_point_of,
    exploitation_signalled,
    family_informed_of,
    person_of,
    reference_with_revision,
)
from services.adapters.ingest.nrm import NRM_CONCERN, nrm_consent, nrm_detail
from services.adapters.ingest.problems import FieldError
from services.adapters.police.models import (
    DashIncident,
    IntelligenceReport,
    MissingPersonRecord,
    MissingStatus,
    OccurrenceBase,
    PoliceNrmReferral,
    PublicProtectionNotice,
)
from services.hubkit.notice import to_utc
from services.hubkit.school_urn import normalise_school_urn

__all__ = ["map_police_nrm_referral", "map_police_record", "source_reference_of"]

_KIND = {
    "PUBLIC_PROTECTION_NOTICE": "PPN",
    "DASH_INCIDENT": "DASH",
    "MISSING_PERSON": "MISPER",
    "INTELLIGENCE_REPORT": "INTEL",
}
# The child is back either way; the return home interview is due 72 hours later (rule R7).
_BACK = frozenset({MissingStatus.FOUND, MissingStatus.RETURNED})


def source_reference_of(
    record: PublicProtectionNotice
    | DashIncident
    | MissingPersonRecord
    | IntelligenceReport
    | PoliceNrmReferral,
) -> str:
    if isinstance(record, PoliceNrmReferral):
        return reference_with_revision(f"{record.occurrence_reference}/NRM", record.revision)
    reference = f"{record.occurrence_reference}/{_KIND[record.record_type]}"
    if isinstance(record, MissingPersonRecord):
        reference += f"/{record.status.value}"
    return reference_with_revision(reference, record.revision)


def map_police_record(
    record: PublicProtectionNotice | DashIncident | MissingPersonRecord | IntelligenceReport,
    ctx: MappingContext,
) -> Mapped:
    ensure: list[tuple[str, str | None]] = []
    grading: dict[str, Any] | None = None
    warnings: list[FieldError] = []
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
            school_urn = _school_urn(record.subject.school_urn, warnings)
            detail = {
                "incident_at": to_utc(record.incident_at),
                "dash_risk": record.dash_grade.value,
                "children_present": record.children_present,
                "marac_referral": record.marac_referral,
                "school_urn": school_urn,
                "children_normally_resident": record.children_normally_resident,
            }
        case MissingPersonRecord():
            notice_type = "MISSING_EPISODE"
            ensure.append(("MISSING", "10A"))
            ended = to_utc(record.found_or_returned_at) if record.found_or_returned_at else None
            back = record.status in _BACK
            detail = {
                "status": record.status.value,
                "risk_grade": record.risk_grade.value,
                "ssda903_code": record.ssda903_code,
                "started_at": to_utc(record.missing_since),
                "ended_at": ended,
                "return_interview_due_at": ended + RETURN_INTERVIEW_DUE if back and ended else None,
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
                "dissemination_authorisation": record.grading.dissemination_authorisation,
            }
            detail = {
                "sanitised_text": record.sanitised_text,
                "source_details": record.source_details,
            }
    concerns = concerns_of(record.concerns, ensure=ensure)
    notice = _notice(
        record,
        ctx,
        notice_type,
        detail,
        source_reference=source_reference_of(record),
        concerns=concerns,
        consent=consent_of(record.consent),
        exploitation_flagged=record.subject.exploitation_flagged,
        grading=grading,
    )
    return Mapped(notice, tuple(warnings))


def map_police_nrm_referral(record: PoliceNrmReferral, ctx: MappingContext) -> Mapped:
    """A referral the force made as NRM first responder -> TRAFFICKING_NRM."""
    concerns = concerns_of(record.concerns, ensure=[NRM_CONCERN])
    detail = nrm_detail(
        exploitation_type=record.exploitation_type,
        first_responder_organisation=record.officer_contact.organisation,
        referred_at=record.referred_at,
        exploitation_account=record.exploitation_account,
    )
    notice = _notice(
        record,
        ctx,
        "TRAFFICKING_NRM",
        detail,
        source_reference=source_reference_of(record),
        concerns=concerns,
        consent=nrm_consent(record.consent.status, record.consent.reason_not_sought),
        exploitation_flagged=record.subject.exploitation_flagged
        or exploitation_signalled(concerns),
        grading=None,
    )
    return Mapped(notice)


def _school_urn(written: str | None, warnings: list[FieldError]) -> str | None:
    if written is None:
        return None
    canonical = normalise_school_urn(written)
    if canonical is None:
        # Published without the school rather than refused: the MASH still needs the
        # incident now; only the school notification waits for a corrected URN.
        warnings.append(
            FieldError(
                pointer="/subject/school_urn",
                code="school_urn_invalid",
                message=(
                    "school_urn is not a 6-digit school URN (e.g. 'URN 123456'); the notice "
                    "was published without a school, so no school is told (rule R9)"
                ),
            )
        )
    return canonical


def _notice(
    record: OccurrenceBase,
    ctx: MappingContext,
    notice_type: str,
    detail: dict[str, Any],
    *,
    source_reference: str,
    concerns: Sequence[dict[str, Any]],
    consent: dict[str, Any],
    exploitation_flagged: bool,
    grading: dict[str, Any] | None,
) -> dict[str, Any]:
    child = record.subject
    subject = build_subject(
        ctx,
        created_at=to_utc(record.recorded_at),
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
        postcode=child.postcode,
        nhs_number=child.nhs_number,
        sex=recorded_sex(child.sex),
        looked_after=child.looked_after,
        responsible_la=child.responsible_la,
        placing_la=child.placing_la,
        exploitation_flagged=exploitation_flagged,
        pointer="/subject",
    )
    return build_notice(
        ctx,
        notice_type=notice_type,
        source_reference=source_reference,
        source_system=record.source_system,
        created_at=record.recorded_at,
        subject=subject,
        concerns=concerns,
        risk_level=record.risk.level.value,
        immediate_danger=record.risk.immediate_danger,
        summary=record.summary,
        full_account=record.full_account,
        sensitivity=record.sensitivity.value,
        classification=record.classification.replace("-", "_"),
        consent=consent,
        family_informed=family_informed_of(record.family_informed),
        contact_point=contact_point_of(record.officer_contact),
        detail=detail,
        intelligence_grading=grading,
        referrer=person_of(record.referrer) if record.referrer else None,
        third_parties=[person_of(p) for p in record.third_parties],
    )
