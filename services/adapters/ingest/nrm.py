"""National Referral Mechanism referrals, the same for every first responder. Pure.

Police, local authorities and certain charities are NRM first responders (rule R12); each
adapter takes the referral in its own native shape, and this module turns the NRM part of
it into the TRAFFICKING_NRM notice parts, so the three adapters cannot drift apart:

    detail        exploitation type, first responder (the organisation the record names:
                  its contact point's organisation; issue 21: once the adapter's registered
                  organisation, wrong when a force's adapter sends for a partner), referred at,
                  the child's account (restricted by the policy to police, the responsible
                  LA and the MASH manager)
    concerns      TRAFFICKING with census factor 12A, ensured
    consent       NOT_REQUIRED unless the sender says otherwise: a child's NRM referral needs
                  no consent, and the notice says so when the sender gave no reason
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, Field

from services.adapters.ingest.models import NativeModel
from services.adapters.ingest.vocab import ConsentStatus, ExploitationType
from services.hubkit.notice import to_utc

__all__ = [
    "NRM_CONCERN",
    "NRM_CONSENT_REASON",
    "NrmReferralFields",
    "nrm_consent",
    "nrm_detail",
]

NRM_CONSENT_REASON = "NRM referrals for children do not need the child's consent."
NRM_CONCERN: tuple[str, str | None] = ("TRAFFICKING", "12A")
"""The concern every NRM referral carries: hub code and CIN census factor 12A."""


class NrmReferralFields(NativeModel):
    """The NRM part of a first responder's referral record (police and children's services
    records add it to their own record shape)."""

    exploitation_type: ExploitationType = Field(
        description=(
            "Main exploitation type referred: SEXUAL, CRIMINAL, COUNTY_LINES, ONLINE, LABOUR, "
            "DOMESTIC_SERVITUDE or ORGAN_REMOVAL."
        ),
        examples=["CRIMINAL"],
    )
    exploitation_account: str = Field(
        min_length=1,
        max_length=20000,
        description=(
            "The child's account of exploitation; only police, the responsible local "
            "authority and the MASH manager see it (rule R12)."
        ),
        examples=["Child described being made to carry drugs to another town."],
    )
    referred_at: AwareDatetime = Field(
        description="When the NRM referral was made, with UTC offset.",
        examples=["2026-11-19T15:30:00+00:00"],
    )


def nrm_detail(
    *,
    exploitation_type: ExploitationType,
    first_responder_organisation: str,
    referred_at: dt.datetime,
    exploitation_account: str,
) -> dict[str, Any]:
    """TraffickingNrmDetail; the first responder is the organisation the record names."""
    return {
        "exploitation_type": exploitation_type.value,
        "first_responder_organisation": first_responder_organisation,
        "referred_at": to_utc(referred_at),
        "exploitation_account": exploitation_account,
    }


def nrm_consent(status: ConsentStatus | None, reason_not_sought: str | None) -> dict[str, Any]:
    """ConsentRecord of a child's NRM referral: NOT_REQUIRED (with the reason) by default."""
    if status is None:
        return {"status": ConsentStatus.NOT_REQUIRED.value, "reason_not_sought": NRM_CONSENT_REASON}
    if status is ConsentStatus.NOT_REQUIRED and not reason_not_sought:
        return {"status": status.value, "reason_not_sought": NRM_CONSENT_REASON}
    return {"status": status.value, "reason_not_sought": reason_not_sought}
