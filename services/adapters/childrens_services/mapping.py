"""Children's social care records -> notices. Pure.

JSON case-system records -> CSC_STATUS_CHANGE (source reference: record_id, plus '/r<n>'):
    CIN_REFERRAL             -> CIN_REFERRAL_ACCEPTED
    CP_PLAN STARTED / ENDED  -> CP_PLAN_STARTED / CP_PLAN_ENDED  (cp_category)
    LOOKED_AFTER STARTED/ENDED -> LOOKED_AFTER_STARTED / _ENDED  (legal_status)
    S47 ENQUIRY_STARTED      -> S47_ENQUIRY_STARTED
    S47 STRATEGY_DISCUSSION_HELD -> STRATEGY_DISCUSSION_HELD
NRM referral (own route)     -> TRAFFICKING_NRM (source reference: record_id; the NRM parts
                                shared with the other first responders, see ingest/nrm.py)
Concerns come from the assessment factors (table below) and the CP plan category. A factor
that is not a census factor is left out of the notice (detail and concerns) with a warning;
it never sinks the record. The child is flagged for exploitation when the case system says
so, or a factor signals it (CSE, trafficking, gangs, CCE, and 9A: an unaccompanied asylum-
seeking child is at high risk of being trafficked and exploited).

SSDA903 missing rows -> MISSING_EPISODE, one per row. Source reference:
`SSDA903/<CHILD>/<start, local ISO>/<REPORTED|RETURNED>`, so a resubmitted file is
idempotent and an episode reported open then later closed gives two notices (reported,
returned). Times are UK local (Europe/London). Nothing is invented about the return (rule
R7): without MIS_END_TIME a returned episode has no ended_at and no return interview due
time, and the row's result carries a warning. The start, which the notice must have, is
00:00 on MIS_START when no time is given (the start of that day: the earliest it can have
begun). `episodes_last_90_days` counts this child's distinct episodes in the same upload
starting in the 90 days up to and including this one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from services.adapters.childrens_services.models import (
    ASSESSMENT_FACTORS,
    CinReferral,
    CpPlanChange,
    CscNrmReferral,
    CscRecordBase,
    LookedAfterChange,
    S47Event,
    Ssda903MissingRow,
    StatusChange,
)
from services.adapters.ingest.csv_batch import BatchItem, CsvRow
from services.adapters.ingest.identifiers import census_sex
from services.adapters.ingest.mapping import (
    RETURN_INTERVIEW_DUE,
    Mapped,
    MappingContext,
    MappingFailed,
    build_notice,
    build_subject,
    consent_of,
    contact_point_of,
    exploitation_signalled,
    family_informed_of,
    person_of,
    reference_with_revision,
)
from services.adapters.ingest.models import ContactPointIn
from services.adapters.ingest.nrm import NRM_CONCERN, nrm_consent, nrm_detail
from services.adapters.ingest.problems import FieldError
from services.hubkit.notice import concern, to_utc

__all__ = [
    "EXPLOITATION_SIGNAL_FACTORS",
    "FACTOR_CONCERNS",
    "UK_TIME",
    "map_csc_nrm_referral",
    "map_csc_record",
    "map_ssda903_row",
    "map_ssda903_rows",
]

UK_TIME = ZoneInfo("Europe/London")

# CIN census factor -> hub concern code (factors with no hub equivalent map to OTHER;
# 21 'no factors identified' maps to nothing). Every census factor has an entry.
FACTOR_CONCERNS: dict[str, str | None] = {
    **{f"{n}{v}": "SUBSTANCE_MISUSE" for n in (1, 2) for v in "ABC"},
    **{f"3{v}": "DOMESTIC_ABUSE" for v in "ABC"},
    **{f"4{v}": "MENTAL_HEALTH" for v in "ABC"},
    **{f"{n}{v}": "OTHER" for n in (5, 6) for v in "ABC"},
    "7A": "OTHER",
    **{f"8{v}": "OTHER" for v in "BCDEF"},
    "9A": "OTHER",
    "10A": "MISSING",
    "11A": "CHILD_SEXUAL_EXPLOITATION",
    "12A": "TRAFFICKING",
    "13A": "GANGS",
    "14A": "OTHER",
    "15A": "SELF_HARM",
    "16A": "NEGLECT",
    "17A": "EMOTIONAL_ABUSE",
    **{f"18{v}": "PHYSICAL_ABUSE" for v in "ABC"},
    **{f"19{v}": "SEXUAL_ABUSE" for v in "ABC"},
    "20": "OTHER",
    "21": None,
    "22A": "FGM",
    "23A": "OTHER",
    "24A": "CHILD_CRIMINAL_EXPLOITATION",
}
# Factors that signal exploitation although their hub concern does not say so (9A has no
# hub concern of its own); the rest come through the concern codes (see vocab).
EXPLOITATION_SIGNAL_FACTORS = frozenset({"9A", "13A"})
_CATEGORY_CONCERN = {
    "NEG": "NEGLECT",
    "PHY": "PHYSICAL_ABUSE",
    "EMO": "EMOTIONAL_ABUSE",
    "SAB": "SEXUAL_ABUSE",
}


def _known_factors(factors: Sequence[str]) -> tuple[list[str], list[FieldError]]:
    """The census factors as sent, and a warning for each code that is not one."""
    known: list[str] = []
    warnings: list[FieldError] = []
    for index, factor in enumerate(factors):
        if factor in ASSESSMENT_FACTORS:
            known.append(factor)
        else:
            warnings.append(
                FieldError(
                    pointer=f"/assessment_factors/{index}",
                    code="census_factor_unknown",
                    message=(
                        "not a CIN census assessment factor (N00181), e.g. 10A, 16A, 24A; "
                        "the notice was published without it"
                    ),
                )
            )
    return known, warnings


def _concerns(
    factors: Sequence[str],
    cp_category: str | None,
    ensure: Sequence[tuple[str, str | None]] = (),
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for factor in factors:
        code = FACTOR_CONCERNS.get(factor)
        if code is not None and code not in seen:
            seen.add(code)
            result.append(concern(code, factor))
    category_code = _CATEGORY_CONCERN.get(cp_category or "")
    if category_code is not None and category_code not in seen:
        seen.add(category_code)
        result.append(concern(category_code))
    for implied, implied_factor in ensure:
        if implied not in seen:
            seen.add(implied)
            result.append(concern(implied, implied_factor))
    return result


def _exploitation_flagged(
    record: CscRecordBase, factors: Sequence[str], concerns: Sequence[dict[str, Any]]
) -> bool:
    return (
        record.child.exploitation_flagged
        or any(f in EXPLOITATION_SIGNAL_FACTORS for f in factors)
        or exploitation_signalled(concerns)
    )


def map_csc_record(
    record: CinReferral | CpPlanChange | LookedAfterChange | S47Event, ctx: MappingContext
) -> Mapped:
    cp_category: str | None = None
    legal_status: str | None = None
    referral_source: str | None = None
    # An ended plan's or period's notice is dated by its end; its start travels beside it.
    period_start: dt.date | None = None
    effective: dt.date | None
    looked_after = record.child.looked_after
    match record:
        case CinReferral():
            change, effective = "CIN_REFERRAL_ACCEPTED", record.referral_date
            referral_source = record.referral_source
        case CpPlanChange():
            started = record.change is StatusChange.STARTED
            change = "CP_PLAN_STARTED" if started else "CP_PLAN_ENDED"
            effective = record.plan_start_date if started else record.plan_end_date
            period_start = None if started else record.plan_start_date
            cp_category = record.initial_category.value
        case LookedAfterChange():
            started = record.change is StatusChange.STARTED
            change = "LOOKED_AFTER_STARTED" if started else "LOOKED_AFTER_ENDED"
            effective = record.start_date if started else record.end_date
            period_start = None if started else record.start_date
            legal_status = record.legal_status.value
            looked_after = started
        case S47Event():
            change = (
                "S47_ENQUIRY_STARTED"
                if record.event == "ENQUIRY_STARTED"
                else "STRATEGY_DISCUSSION_HELD"
            )
            effective = record.event_date
    assert effective is not None  # models require the end date when ENDED
    factors, warnings = _known_factors(record.assessment_factors)
    concerns = _concerns(factors, cp_category)
    detail = {
        "change": change,
        "effective_date": effective,
        "cp_category": cp_category,
        "legal_status": legal_status,
        "primary_need": record.primary_need,
        "assessment_factors": factors,
        "allocated_worker": contact_point_of(record.allocated_worker)
        if record.allocated_worker
        else None,
        "referral_source": referral_source,
        "period_start_date": period_start,
    }
    notice = _notice(
        record,
        ctx,
        "CSC_STATUS_CHANGE",
        detail,
        concerns=concerns,
        consent=consent_of(record.consent),
        looked_after=looked_after,
        exploitation_flagged=_exploitation_flagged(record, factors, concerns),
    )
    return Mapped(notice, tuple(warnings))


def map_csc_nrm_referral(record: CscNrmReferral, ctx: MappingContext) -> Mapped:
    """A referral the authority made as NRM first responder -> TRAFFICKING_NRM."""
    factors, warnings = _known_factors(record.assessment_factors)
    concerns = _concerns(factors, None, ensure=[NRM_CONCERN])
    detail = nrm_detail(
        exploitation_type=record.exploitation_type,
        first_responder_organisation=record.contact_point.organisation,
        referred_at=record.referred_at,
        exploitation_account=record.exploitation_account,
    )
    notice = _notice(
        record,
        ctx,
        "TRAFFICKING_NRM",
        detail,
        concerns=concerns,
        consent=nrm_consent(record.consent.status, record.consent.reason_not_sought),
        looked_after=record.child.looked_after,
        exploitation_flagged=_exploitation_flagged(record, factors, concerns),
    )
    return Mapped(notice, tuple(warnings))


def _notice(
    record: CscRecordBase,
    ctx: MappingContext,
    notice_type: str,
    detail: dict[str, Any],
    *,
    concerns: Sequence[dict[str, Any]],
    consent: dict[str, Any],
    looked_after: bool,
    exploitation_flagged: bool,
) -> dict[str, Any]:
    child = record.child
    subject = build_subject(
        ctx,
        created_at=to_utc(record.recorded_at),
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
        postcode=child.postcode,
        nhs_number=child.nhs_number,
        la_child_id=child.la_child_id,
        upn=child.upn,
        sex=census_sex(child.sex),
        looked_after=looked_after,
        responsible_la=ctx.organisation_code,
        placing_la=child.placing_la,
        exploitation_flagged=exploitation_flagged,
        pointer="/child",
    )
    return build_notice(
        ctx,
        notice_type=notice_type,
        source_reference=reference_with_revision(record.record_id, record.revision),
        source_system=record.source_system,
        created_at=record.recorded_at,
        subject=subject,
        concerns=concerns,
        risk_level=record.risk.level.value,
        immediate_danger=record.risk.immediate_danger,
        summary=record.summary,
        full_account=record.full_account,
        sensitivity=record.sensitivity.value,
        classification="OFFICIAL_SENSITIVE",
        consent=consent,
        family_informed=family_informed_of(record.family_informed),
        contact_point=contact_point_of(record.contact_point),
        detail=detail,
        referrer=person_of(record.referrer) if record.referrer else None,
    )


def _local(day: dt.date, hhmm: str | None) -> dt.datetime:
    hour, minute = (int(p) for p in (hhmm or "00:00").split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UK_TIME)


def map_ssda903_rows(
    rows: Sequence[CsvRow[Ssda903MissingRow]],
    ctx: MappingContext,
    *,
    contact_point: ContactPointIn,
) -> list[BatchItem]:
    """Map a whole 903 upload; each row succeeds or fails on its own."""
    # A set: the same episode listed twice in one upload is still one episode.
    starts: dict[str, set[dt.datetime]] = {}
    for row in rows:
        if row.record is not None:
            record = row.record
            starts.setdefault(record.CHILD, set()).add(
                _local(record.MIS_START, record.MIS_START_TIME)
            )
    items: list[BatchItem] = []
    for row in rows:
        if row.record is None:
            items.append(BatchItem(row.row, row.line, None, row.errors))
            continue
        try:
            mapped = map_ssda903_row(
                row.record, ctx, contact_point=contact_point, child_starts=starts[row.record.CHILD]
            )
        except MappingFailed as failed:
            items.append(BatchItem(row.row, row.line, None, failed.errors))
            continue
        items.append(BatchItem.mapped(row.row, row.line, mapped))
    return items


def map_ssda903_row(
    record: Ssda903MissingRow,
    ctx: MappingContext,
    *,
    contact_point: ContactPointIn,
    child_starts: Iterable[dt.datetime] = (),
) -> Mapped:
    started = _local(record.MIS_START, record.MIS_START_TIME)
    status = "RETURNED" if record.MIS_END else "REPORTED"
    warnings: list[FieldError] = []
    ended: dt.datetime | None = None
    created = started
    if record.MIS_END is not None:
        if record.MIS_END_TIME is not None:
            ended = _local(record.MIS_END, record.MIS_END_TIME)
        else:
            warnings.append(
                FieldError(
                    pointer="/MIS_END_TIME",
                    code="time_unknown",
                    message=(
                        "the return time is not given, so the notice has no return time and "
                        "no return interview due time (nothing is invented, rule R7)"
                    ),
                )
            )
        # The notice is created on the day of the return: at the return, or, when only the
        # date is known, at the start of that day (the creation stamp, not a return time).
        created = ended or _local(record.MIS_END, None)
    window_start = started - dt.timedelta(days=90)
    episodes = sum(1 for s in set(child_starts) if window_start <= s <= started) or 1
    kind = "missing from placement" if record.MISSING == "M" else "away from placement"
    summary = f"Looked-after child {kind} from {record.MIS_START:%d/%m/%Y}" + (
        f"; returned {record.MIS_END:%d/%m/%Y}." if record.MIS_END else "; still missing."
    )
    subject = build_subject(
        ctx,
        created_at=to_utc(created),
        given_name=record.GIVEN_NAME,
        family_name=record.FAMILY_NAME,
        date_of_birth=record.DOB,
        postcode=record.POSTCODE,
        nhs_number=record.NHS_NUMBER,
        la_child_id=record.CHILD,
        sex=census_sex(record.SEX),
        looked_after=True,
        responsible_la=ctx.organisation_code,
        placing_la=record.PLACING_LA,
        exploitation_flagged=record.EXPLOITATION_FLAGGED,
    )
    notice = build_notice(
        ctx,
        notice_type="MISSING_EPISODE",
        source_reference=f"SSDA903/{record.CHILD}/{started.strftime('%Y-%m-%dT%H:%M')}/{status}",
        source_system="SSDA903 missing upload",
        created_at=created,
        subject=subject,
        concerns=[concern("MISSING", "10A")],
        risk_level=record.RISK_GRADE.value,
        immediate_danger=False,
        summary=summary,
        full_account=None,
        sensitivity="ROUTINE",
        classification="OFFICIAL_SENSITIVE",
        consent={
            "status": "NOT_REQUIRED",
            "reason_not_sought": (
                "Missing-from-care notification for a looked-after child; consent is not the "
                "basis for sharing where a child may be at risk (DfE 2024, golden rule 3)."
            ),
        },
        family_informed={
            "informed": record.FAMILY_INFORMED,
            "reason_not_informed": None
            if record.FAMILY_INFORMED
            else record.FAMILY_NOT_INFORMED_REASON,
        },
        contact_point=contact_point_of(contact_point),
        detail={
            "status": status,
            "risk_grade": record.RISK_GRADE.value,
            "ssda903_code": record.MISSING,
            "started_at": to_utc(started),
            "ended_at": to_utc(ended) if ended else None,
            "return_interview_due_at": to_utc(ended) + RETURN_INTERVIEW_DUE if ended else None,
            "carer_contact": record.CARER_CONTACT,
            "episodes_last_90_days": episodes,
        },
    )
    return Mapped(notice, tuple(warnings))
