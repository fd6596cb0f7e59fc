"""Pure helpers every adapter's mapping uses to build a SafeguardingNotice dict.

No clock, no I/O, no randomness: the same native record and context always give the same
notice (and so the same notice id and content fingerprint). The child's linkage key comes
from the context's `ChildKeys` (services/hubkit/linkage.py; the adapters' own are in
services/adapters/ingest/child_keys.py): answers the edge got from the child index before
mapping, never a secret held here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.adapters.ingest.models import (
    ConcernIn,
    ConsentIn,
    ContactPointIn,
    FamilyInformedIn,
    PersonIn,
)
from services.adapters.ingest.problems import FieldError
from services.adapters.ingest.vocab import EXPLOITATION_CONCERNS
from services.hubkit.linkage import ChildKeys, IdentifiersIncomplete, postcode_district
from services.hubkit.notice import concern, notice_id_for, to_json_value, to_utc

__all__ = [
    "IDENTIFIERS_NEEDED",
    "RETURN_INTERVIEW_DUE",
    "Mapped",
    "MappingContext",
    "MappingFailed",
    "Notice",
    "age_on",
    "build_notice",
    "build_subject",
    "concerns_of",
    "consent_of",
    "contact_point_of",
    "content_fingerprint",
    "exploitation_signalled",
    "family_informed_of",
    "person_of",
    "reference_with_revision",
]

Notice = dict[str, Any]

# A return home interview is due within 72 hours of the child's return.
RETURN_INTERVIEW_DUE = dt.timedelta(hours=72)

# What the child index needs to key a child (the index decides; this says it to the sender).
IDENTIFIERS_NEEDED = (
    "the child cannot be linked: give a valid NHS number, UPN or LA child id, or given name, "
    "family name and date of birth or postcode"
)


class MappingFailed(ValueError):
    """The record is well-formed but cannot become a notice; carries field-level errors."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.pointer}: {e.message}" for e in errors))


@dataclass(frozen=True, slots=True)
class Mapped:
    """A notice, and the warnings about what the mapping could not use.

    A warning never stops a notice: a safeguarding record is worth publishing even when one
    optional value in it is unusable. It names a value the mapping left out (an unknown
    census factor, an unreadable school URN) or a gap that changes what recipients get (no
    return time, so no interview due time), so the sender can send a correction. The
    adapter answers them with the 202; they never echo the submitted value.
    """

    notice: Notice
    warnings: tuple[FieldError, ...] = ()


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What a mapping needs besides the record: who the adapter publishes for, and the
    children's keys (from the child index)."""

    agency: str
    organisation_code: str
    organisation_name: str
    child_keys: ChildKeys


def age_on(date_of_birth: dt.date | None, day: dt.date) -> int | None:
    """Age in whole years on `day` (a birthday on `day` counts)."""
    if date_of_birth is None:
        return None
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return max(years, 0)


def reference_with_revision(reference: str, revision: int) -> str:
    """Revision 1 is the reference itself; a correction sent as revision n gets '/r<n>'."""
    return reference if revision <= 1 else f"{reference}/r{revision}"


def build_subject(
    ctx: MappingContext,
    *,
    created_at: dt.datetime,
    given_name: str,
    family_name: str,
    date_of_birth: dt.date | None,
    postcode: str | None,
    nhs_number: str | None = None,
    la_child_id: str | None = None,
    upn: str | None = None,
    sex: str | None = None,
    looked_after: bool = False,
    responsible_la: str | None = None,
    placing_la: str | None = None,
    exploitation_flagged: bool = False,
    pointer: str = "",
) -> dict[str, Any]:
    """The Subject record, with the pseudonymous linkage key (from the child index,
    services/childindex).

    The index is sent every identifier the record holds (sex "F"/"M"/None, UPN and LA child
    id too: its matcher weighs them) and alone decides whether they are enough to key the
    child. Only the postcode *district* is kept in the notice, never the full postcode; sex
    is sent to the index only.
    """
    try:
        key = ctx.child_keys.key_for(
            nhs_number=nhs_number,
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            postcode=postcode,
            sex=sex,
            upn=upn,
            la_child_id=la_child_id,
        )
    except IdentifiersIncomplete:
        raise MappingFailed(
            [
                FieldError(
                    pointer=pointer,
                    code="identifiers_incomplete",
                    message=IDENTIFIERS_NEEDED,
                )
            ]
        ) from None
    return {
        "linkage_key": key,
        "nhs_number": nhs_number,
        "la_child_id": la_child_id,
        "upn": upn,
        "given_name": given_name,
        "family_name": family_name,
        "date_of_birth": date_of_birth,
        "age_years": age_on(date_of_birth, created_at.date()),
        "postcode_district": postcode_district(postcode) if postcode else None,
        "looked_after": looked_after,
        "responsible_la": responsible_la,
        "placing_la": placing_la,
        "exploitation_flagged": exploitation_flagged,
    }


def concerns_of(
    given: Iterable[ConcernIn], *, ensure: Iterable[tuple[str, str | None]] = ()
) -> list[dict[str, Any]]:
    """Concerns as sent, plus the ones the record type implies, each code once, in order."""
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in given:
        if item.code.value not in seen:
            seen.add(item.code.value)
            result.append(concern(item.code.value, item.census_factor))
    for code, factor in ensure:
        if code not in seen:
            seen.add(code)
            result.append(concern(code, factor))
    return result


def exploitation_signalled(concerns: Iterable[Mapping[str, Any]]) -> bool:
    """True when a concern marks the child as at risk of exploitation (see vocab)."""
    return any(c["code"] in EXPLOITATION_CONCERNS for c in concerns)


def consent_of(consent: ConsentIn) -> dict[str, Any]:
    return {"status": consent.status.value, "reason_not_sought": consent.reason_not_sought}


def family_informed_of(family: FamilyInformedIn) -> dict[str, Any]:
    return {
        "informed": family.informed,
        "reason_not_informed": None if family.informed else family.reason_not_informed,
    }


def contact_point_of(contact: ContactPointIn) -> dict[str, Any]:
    return {
        "role": contact.role,
        "organisation": contact.organisation,
        "telephone": contact.telephone,
        "secure_email": contact.secure_email,
    }


def person_of(person: PersonIn) -> dict[str, Any]:
    return {
        "role": person.role,
        "name": person.name,
        "organisation": person.organisation,
        "contact": person.contact,
    }


def build_notice(
    ctx: MappingContext,
    *,
    notice_type: str,
    source_reference: str,
    source_system: str | None,
    created_at: dt.datetime,
    subject: Mapping[str, Any],
    concerns: Sequence[Mapping[str, Any]],
    risk_level: str,
    immediate_danger: bool,
    summary: str,
    full_account: str | None,
    sensitivity: str,
    classification: str,
    consent: Mapping[str, Any],
    family_informed: Mapping[str, Any],
    contact_point: Mapping[str, Any],
    detail: Mapping[str, Any],
    intelligence_grading: Mapping[str, Any] | None = None,
    referrer: Mapping[str, Any] | None = None,
    third_parties: Sequence[Mapping[str, Any]] = (),
) -> Notice:
    """A complete notice in the Avro record shape, with its deterministic notice id."""
    return {
        "notice_id": notice_id_for(
            agency=ctx.agency,
            organisation_code=ctx.organisation_code,
            source_reference=source_reference,
        ),
        "notice_type": notice_type,
        "source": {
            "agency": ctx.agency,
            "organisation_code": ctx.organisation_code,
            "source_reference": source_reference,
            "source_system": source_system,
        },
        "created_at": to_utc(created_at),
        "subject": dict(subject),
        "concerns": [dict(c) for c in concerns],
        "risk": {"level": risk_level, "immediate_danger": immediate_danger},
        "narrative": {
            "summary": summary,
            "full_account": full_account,
            "sensitivity": sensitivity,
        },
        "classification": classification,
        "intelligence_grading": dict(intelligence_grading) if intelligence_grading else None,
        "consent": dict(consent),
        "family_informed": dict(family_informed),
        "referrer": dict(referrer) if referrer else None,
        "third_parties": [dict(p) for p in third_parties],
        "contact_point": dict(contact_point),
        "detail": dict(detail),
    }


def content_fingerprint(notice: Mapping[str, Any]) -> str:
    """SHA-256 over the notice's canonical JSON: equal for equal content, whatever the order."""
    canonical = json.dumps(
        to_json_value(notice), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
