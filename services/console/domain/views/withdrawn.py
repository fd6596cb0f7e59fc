"""What a page shows of a withdrawn notice (domain/withdrawals.py): "Withdrawn by Health:
wrong child", when, whether a corrected record replaces it, and who at the desk acknowledged
it. Nothing of the withdrawn notice's content (the console no longer holds any)."""

from __future__ import annotations

from dataclasses import dataclass

from services.console.domain.labels import AGENCY_LABELS, ROLE_LABELS, label
from services.console.domain.views.fields import when_text
from services.console.domain.withdrawals import Withdrawal
from services.hubkit.retraction import RetractionReason, withdrawn_text

__all__ = ["WithdrawalView", "withdrawal_view"]


@dataclass(frozen=True, slots=True)
class WithdrawalView:
    """What a page shows of a withdrawn notice: the words, the times, and nothing else."""

    notice_id: str
    retraction_id: str
    headline: str
    """ "Withdrawn by Health: wrong child"."""
    agency: str
    withdrawn_text: str
    delivered_text: str
    corrected: bool
    replaced_by_notice_id: str | None
    acknowledged_text: str | None
    """ "Acknowledged by <name> (<role>) at <time>", or None while nobody has."""


def withdrawal_view(withdrawal: Withdrawal) -> WithdrawalView:
    agency = label(AGENCY_LABELS, withdrawal.source_agency)
    acknowledged = withdrawal.acknowledged
    acknowledged_text = None
    if acknowledged is not None:
        role = label(ROLE_LABELS, acknowledged.role, missing="no role")
        acknowledged_text = (
            f"Acknowledged by {acknowledged.name} ({role}) at {when_text(acknowledged.at)}"
        )
    return WithdrawalView(
        notice_id=withdrawal.notice_id,
        retraction_id=withdrawal.retraction_id,
        headline=withdrawn_text(withdrawal.source_agency, withdrawal.reason),
        agency=agency,
        withdrawn_text=when_text(withdrawal.retracted_at),
        delivered_text=when_text(withdrawal.delivered_at),
        corrected=withdrawal.reason == RetractionReason.CORRECTED.value,
        replaced_by_notice_id=withdrawal.replaced_by_notice_id,
        acknowledged_text=acknowledged_text,
    )
