"""Voluntary-sector form -> notice. Pure.

    NRM_REFERRAL  -> TRAFFICKING_NRM (first responder = this organisation; the NRM parts are
                     shared with the police and children's services adapters, see
                     services/adapters/ingest/nrm.py)
    others        -> VCS_UPDATE (a RETURN_INTERVIEW_OUTCOME ensures concern MISSING / 10A)
Source reference: the charity's reference, plus '/r<n>' for a correction.
"""

from __future__ import annotations

from typing import Any

from services.adapters.ingest.identifiers import recorded_sex
from services.adapters.ingest.mapping import (
    Mapped,
    MappingContext,
    build_notice,
    build_subject,
    exploitation_signalled,
    reference_with_revision,
)
from services.adapters.ingest.nrm import NRM_CONCERN, nrm_consent, nrm_detail
from services.adapters.voluntary_sector.models import VcsKind, VcsUpdateForm
from services.hubkit.notice import concern, to_utc

__all__ = ["map_vcs_update"]


def map_vcs_update(form: VcsUpdateForm, ctx: MappingContext) -> Mapped:
    nrm = form.kind is VcsKind.NRM_REFERRAL
    implied: list[tuple[str, str | None]] = []
    if nrm:
        implied.append(NRM_CONCERN)
    if form.kind is VcsKind.RETURN_INTERVIEW_OUTCOME:
        implied.append(("MISSING", "10A"))
    concerns = [concern(code.value) for code in dict.fromkeys(form.concerns)]
    for code, factor in implied:
        existing = next((c for c in concerns if c["code"] == code), None)
        if existing is None:
            concerns.append(concern(code, factor))
        else:
            existing["census_factor"] = factor
    detail: dict[str, Any]
    consent: dict[str, Any]
    if nrm:
        # The model requires these for an NRM_REFERRAL.
        assert form.exploitation_type is not None
        assert form.referred_at is not None
        assert form.exploitation_account is not None
        notice_type = "TRAFFICKING_NRM"
        detail = nrm_detail(
            exploitation_type=form.exploitation_type,
            # The form names no organisation: the charity is the client's own organisation.
            first_responder_organisation=ctx.organisation_name,
            referred_at=form.referred_at,
            exploitation_account=form.exploitation_account,
        )
        consent = nrm_consent(form.consent_status, form.consent_reason_not_sought)
    else:
        # The model requires a consent status for every other kind.
        assert form.consent_status is not None
        notice_type = "VCS_UPDATE"
        detail = {
            "kind": form.kind.value,
            "category_of_need": form.category_of_need,
            "agreed_actions": list(form.agreed_actions),
            "safety_instructions": form.safety_instructions,
            "outcome_summary": form.outcome_summary,
        }
        consent = {
            "status": form.consent_status.value,
            "reason_not_sought": form.consent_reason_not_sought,
        }
    subject = build_subject(
        ctx,
        created_at=to_utc(form.recorded_at),
        given_name=form.given_name,
        family_name=form.family_name,
        date_of_birth=form.date_of_birth,
        postcode=form.postcode,
        nhs_number=form.nhs_number,
        upn=form.upn,
        sex=recorded_sex(form.sex),
        looked_after=form.looked_after,
        exploitation_flagged=exploitation_signalled(concerns),
    )
    notice = build_notice(
        ctx,
        notice_type=notice_type,
        source_reference=reference_with_revision(form.reference, form.revision),
        source_system=None,
        created_at=form.recorded_at,
        subject=subject,
        concerns=concerns,
        risk_level=form.risk_level.value,
        immediate_danger=form.immediate_danger,
        summary=form.summary,
        full_account=form.full_account,
        sensitivity="SENSITIVE" if nrm or form.kind is VcsKind.CONCERN else "ROUTINE",
        classification="OFFICIAL_SENSITIVE",
        consent=consent,
        family_informed={
            "informed": form.family_informed,
            "reason_not_informed": None
            if form.family_informed
            else form.family_not_informed_reason,
        },
        contact_point={
            "role": form.worker_role,
            "organisation": ctx.organisation_name,
            "telephone": form.worker_telephone,
            "secure_email": form.worker_email,
        },
        detail=detail,
    )
    return Mapped(notice)
