"""Voluntary-sector native format: one flat, minimal form, sent as JSON or as CSV rows.

The same fields serve both: a charity's case tool can post one update as JSON, or upload
a spreadsheet saved as CSV (header = these field names; several values in one cell are
separated by ';'). `kind` says what the update is:

- ENGAGEMENT                 the charity is working with the child
- CONCERN                    a safeguarding concern
- RETURN_INTERVIEW_OUTCOME   outcome of an independent return home interview
- NRM_REFERRAL               a National Referral Mechanism referral made by the charity as a
                             first responder (child referrals need no consent)
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from services.adapters.ingest.identifiers import RecordedSex, Upn
from services.adapters.ingest.models import (
    CodedValueError,
    FlexibleDate,
    NativeModel,
    NhsNumber,
    PersonName,
    Postcode,
)
from services.adapters.ingest.vocab import (
    ConcernCode,
    ConsentStatus,
    ExploitationType,
    RiskLevel,
)

__all__ = ["VcsKind", "VcsUpdateForm"]


class VcsKind(StrEnum):
    ENGAGEMENT = "ENGAGEMENT"
    CONCERN = "CONCERN"
    RETURN_INTERVIEW_OUTCOME = "RETURN_INTERVIEW_OUTCOME"
    NRM_REFERRAL = "NRM_REFERRAL"


class VcsUpdateForm(NativeModel):
    """One update from a voluntary-sector organisation about one child. Given name, family
    name and date of birth are enough for the hub's child index to link the child; a
    postcode, NHS number, UPN and sex, when held, help it match the child with the other
    agencies' records."""

    reference: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$",
        description="The charity's own reference for this update (unique per update).",
        examples=["VCS-2026-0042"],
    )
    revision: int = Field(
        default=1,
        ge=1,
        le=999,
        description="1 for the first send; increment to send a correction.",
        examples=[1],
    )
    kind: VcsKind = Field(
        description="ENGAGEMENT, CONCERN, RETURN_INTERVIEW_OUTCOME or NRM_REFERRAL.",
        examples=["RETURN_INTERVIEW_OUTCOME"],
    )
    recorded_at: AwareDatetime = Field(
        description="When the update was recorded, with UTC offset.",
        examples=["2026-11-19T16:00:00+00:00"],
    )
    given_name: PersonName = Field(
        min_length=1, max_length=100, description="Child's given name.", examples=["Remy"]
    )
    family_name: PersonName = Field(
        min_length=1, max_length=100, description="Child's family name.", examples=["Northcote"]
    )
    date_of_birth: FlexibleDate = Field(
        description="Date of birth (YYYY-MM-DD or DD/MM/YYYY).", examples=["2011-02-03"]
    )
    postcode: Postcode | None = Field(
        default=None,
        description="Home postcode; only its district leaves the adapter.",
        examples=["ZZ3 2XY"],
    )
    nhs_number: NhsNumber | None = Field(
        default=None, description="NHS number, when known.", examples=["9991234551"]
    )
    sex: RecordedSex | None = Field(
        default=None,
        description=(
            "Child's sex as recorded: F, M, or U when not known. Helps the hub tell the child "
            "from a sibling; not shared in the notice."
        ),
        examples=["M"],
    )
    upn: Upn | None = Field(
        default=None,
        description="Unique pupil number (13 characters), when the charity holds it.",
        examples=[None],
    )
    looked_after: bool = Field(
        default=False, description="True when the child is looked after.", examples=[True]
    )
    category_of_need: str | None = Field(
        default=None,
        max_length=200,
        description="Category of need as the charity records it. Not on an NRM_REFERRAL.",
        examples=["Risk of criminal exploitation"],
    )
    concerns: list[ConcernCode] = Field(
        default_factory=list,
        max_length=20,
        description="Hub concern codes (CSV: separated by ';').",
        examples=[["CHILD_CRIMINAL_EXPLOITATION", "MISSING"]],
    )
    risk_level: RiskLevel = Field(
        description="The charity's risk view: NO_APPARENT_RISK, LOW, MEDIUM or HIGH.",
        examples=["MEDIUM"],
    )
    immediate_danger: bool = Field(
        default=False,
        description="True when the child is in immediate danger now.",
        examples=[False],
    )
    summary: str = Field(
        min_length=1,
        max_length=1000,
        description="Short factual summary, shareable with partners.",
        examples=["Return interview completed; child disclosed pressure to carry items."],
    )
    full_account: str | None = Field(
        default=None,
        max_length=20000,
        description="Fuller account; normally seen only inside the MASH.",
        examples=["Remy said older boys give him lifts and ask him to hold bags..."],
    )
    agreed_actions: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list,
        max_length=20,
        description="Agreed actions, at most 20 of at most 500 characters each (CSV: separated "
        "by ';'). Not on an NRM_REFERRAL.",
        examples=[["Weekly mentoring", "Refer to exploitation panel"]],
    )
    safety_instructions: str | None = Field(
        default=None,
        max_length=500,
        description=(
            "Safety instructions for workers (the source is never named). Not on an NRM_REFERRAL."
        ),
        examples=["Do not visit alone after dark."],
    )
    outcome_summary: str | None = Field(
        default=None,
        max_length=2000,
        description=(
            "Outcome summary; required for RETURN_INTERVIEW_OUTCOME, not on an NRM_REFERRAL."
        ),
        examples=["Push factors at placement; pull factors from older associates."],
    )
    exploitation_type: ExploitationType | None = Field(
        default=None,
        description=(
            "Required for an NRM_REFERRAL (missing), refused on other kinds (unexpected_field): "
            "the main exploitation type referred."
        ),
        examples=[None, "CRIMINAL"],
    )
    exploitation_account: str | None = Field(
        default=None,
        max_length=20000,
        description=(
            "Required for an NRM_REFERRAL (missing), refused on other kinds (unexpected_field): "
            "the child's account (restricted, rule R12)."
        ),
        examples=[None, "Remy described being made to sell drugs in another town."],
    )
    referred_at: AwareDatetime | None = Field(
        default=None,
        description=(
            "Required for an NRM_REFERRAL (missing), refused on other kinds (unexpected_field): "
            "when the NRM referral was made, with offset."
        ),
        examples=[None, "2026-11-19T15:30:00+00:00"],
    )
    consent_status: ConsentStatus | None = Field(
        default=None,
        description=(
            "Consent status: required for every kind but NRM_REFERRAL (missing); an "
            "NRM_REFERRAL of a child needs none (NOT_REQUIRED when left out)."
        ),
        examples=["NOT_SOUGHT"],
    )
    consent_reason_not_sought: str | None = Field(
        default=None,
        max_length=500,
        description="Why consent was not sought; required when NOT_SOUGHT.",
        examples=["Seeking consent could increase the risk to the child."],
    )
    family_informed: bool = Field(
        description="True when the family was told about this being shared.", examples=[False]
    )
    family_not_informed_reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why not; required when family_informed is false, refused when true.",
        examples=["Family members may be involved in the exploitation."],
    )
    worker_role: str = Field(
        min_length=1,
        max_length=200,
        description="Role or team to contact at the charity.",
        examples=["Missing and exploitation service"],
    )
    worker_telephone: str = Field(
        min_length=5,
        max_length=40,
        pattern=r"^[0-9 +()-]+$",
        description="That team's telephone number.",
        examples=["0300 000 0500"],
    )
    worker_email: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="That team's secure mailbox.",
        examples=["missing.service@synthetic-charity.example"],
    )

    def _kind_rules(self) -> Iterator[CodedValueError]:
        nrm = self.kind is VcsKind.NRM_REFERRAL
        for name in _NRM_ONLY:
            given = getattr(self, name) not in (None, "")
            if nrm and not given:
                yield CodedValueError(
                    "missing", f"{name} is required for an NRM_REFERRAL", field=name
                )
            if not nrm and given:
                # Refused rather than dropped (issue 21): only an NRM referral's notice has
                # a place for it.
                yield CodedValueError(
                    "unexpected_field", f"{name} is read on an NRM_REFERRAL only", field=name
                )
        if nrm:
            for name in _UPDATE_ONLY:
                if getattr(self, name) not in (None, "", []):
                    yield CodedValueError(
                        "unexpected_field",
                        f"{name} is not read on an NRM_REFERRAL (its notice has no place for "
                        "it); put it in summary or full_account, or remove it",
                        field=name,
                    )
        if self.kind is VcsKind.RETURN_INTERVIEW_OUTCOME and not self.outcome_summary:
            yield CodedValueError(
                "missing",
                "outcome_summary is required for a RETURN_INTERVIEW_OUTCOME",
                field="outcome_summary",
            )
        if self.consent_status is None and not nrm:
            yield CodedValueError(
                "missing",
                "consent_status is required (except for NRM referrals)",
                field="consent_status",
            )
        if self.consent_status is ConsentStatus.NOT_SOUGHT and not self.consent_reason_not_sought:
            yield CodedValueError(
                "reason_required",
                "consent_reason_not_sought is required when consent_status is NOT_SOUGHT",
                field="consent_reason_not_sought",
            )

    def _family_reason(self) -> Iterator[CodedValueError]:
        if not self.family_informed and not self.family_not_informed_reason:
            yield CodedValueError(
                "reason_required",
                "family_not_informed_reason is required when family_informed is false",
                field="family_not_informed_reason",
            )
        if self.family_informed and self.family_not_informed_reason:
            yield CodedValueError(
                "unexpected_field",
                "family_not_informed_reason must be empty when family_informed is true",
                field="family_not_informed_reason",
            )

    record_rules = (_kind_rules, _family_reason)


# What only one kind of form carries: the NRM parts, and the update's own detail.
_NRM_ONLY = ("exploitation_type", "exploitation_account", "referred_at")
_UPDATE_ONLY = ("category_of_need", "agreed_actions", "safety_instructions", "outcome_summary")
