"""Receipts for a withdrawn notice (issue 18), from the audit log. Pure: decoded records in,
the receipts and the withdrawal lines of a subject access report out.

Two records make the receipts of one withdrawal, both kept in the verifiable log:

    RETRACTION_DELIVERED     an AuditRecord signed by the hub key (the gateway's), one per
                             recipient of the original: notice_id the original's, recipient
                             who it was delivered to, reason_code the RetractionReason,
                             disclosed_at when it was delivered
    RETRACTION_ACKNOWLEDGED  a ConsoleAccess event signed by the console key: a person at the
                             recipient's desk (feed) acknowledged it, with their roles

There is one retraction per notice (`hubkit.retraction.retraction_id_for`), so the notice id
finds both (the indexer keeps an event's notice id, and the child key its `consultation`
names, as for every console event). An acknowledgement names its retraction in
`retraction_id`; one logged without it means the notice id's retraction. An acknowledgement
of another retraction id is not this one's.

The original disclosure's records are never touched: a subject access report keeps every
original row and marks it withdrawn (`WithdrawalPublic`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.hubkit.agency_labels import agency_label
from services.hubkit.retraction import reason_text, retraction_id_for, withdrawn_text

__all__ = [
    "ACKNOWLEDGED_EVENT",
    "DELIVERED_EVENT",
    "AcknowledgedPublic",
    "DeliveredPublic",
    "RetractionReceiptsPublic",
    "WithdrawalPublic",
    "acknowledged_retraction_id",
    "originating_agency",
    "retraction_receipts",
    "withdrawals",
]

DELIVERED_EVENT = "RETRACTION_DELIVERED"
ACKNOWLEDGED_EVENT = "RETRACTION_ACKNOWLEDGED"


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class DeliveredPublic(_Public):
    subscriber_id: str
    delivered_at: dt.datetime


class AcknowledgedPublic(_Public):
    subscriber_id: str
    acknowledged_at: dt.datetime
    role: str | None
    """The role of the person who acknowledged (the first of their role codes, sorted)."""


class RetractionReceiptsPublic(_Public):
    """Who a withdrawal was delivered to and who has acknowledged it."""

    notice_id: str
    retraction_id: str
    reason: str
    """The RetractionReason: WRONG_CHILD, ENTERED_IN_ERROR or CORRECTED."""
    delivered: list[DeliveredPublic]
    acknowledged: list[AcknowledgedPublic]
    not_acknowledged: list[str]
    """Subscriber ids it was delivered to that have not acknowledged it yet."""


class WithdrawalPublic(_Public):
    """A disclosure the sending agency later withdrew, as a subject access report shows it
    beside the original row (which stays)."""

    notice_id: str
    subscriber_id: str
    withdrawn_by: str
    """The agency's short name ("Health"), or its code when it has none."""
    reason: str
    reason_words: str
    """The reason in words ("wrong child")."""
    text: str
    """'Withdrawn by Health: wrong child'."""
    withdrawn_at: dt.datetime
    """When the withdrawal was delivered to the recipient."""
    acknowledged_at: dt.datetime | None
    """When the recipient acknowledged it; None while they have not."""


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def acknowledged_retraction_id(record: Mapping[str, Any]) -> str | None:
    """The retraction a RETRACTION_ACKNOWLEDGED event acknowledges: its recorded retraction id
    if the console wrote one, else the one retraction of its notice; None without either."""
    recorded = record.get("retraction_id")
    if recorded:
        return str(recorded)
    notice_id = record.get("notice_id")
    return retraction_id_for(str(notice_id)) if notice_id else None


def retraction_receipts(
    notice_id: str,
    *,
    deliveries: Iterable[Mapping[str, Any]],
    acknowledgements: Iterable[Mapping[str, Any]],
) -> RetractionReceiptsPublic | None:
    """The receipts of the withdrawal of `notice_id`, or None when the log holds no delivery
    of one (the notice was never withdrawn, or the withdrawal reached nobody yet).

    `deliveries` are decoded RETRACTION_DELIVERED audit records about the notice, and
    `acknowledgements` decoded RETRACTION_ACKNOWLEDGED console events naming it, in log
    order. A record logged twice (a re-sent delivery, a second click) counts once, at its
    first time."""
    retraction_id = retraction_id_for(notice_id)
    delivered: dict[str, dt.datetime] = {}
    reason: str | None = None
    for record in deliveries:
        if record.get("event") != DELIVERED_EVENT or record.get("notice_id") != notice_id:
            continue
        subscriber = (record.get("recipient") or {}).get("subscriber_id")
        if not subscriber:
            continue
        at = _utc(record.get("disclosed_at") or record["decided_at"])
        if subscriber not in delivered or at < delivered[subscriber]:
            delivered[subscriber] = at
        reason = reason or record.get("reason_code")
    if not delivered:
        return None
    acknowledged: dict[str, AcknowledgedPublic] = {}
    for record in acknowledgements:
        if record.get("event") != ACKNOWLEDGED_EVENT or record.get("notice_id") != notice_id:
            continue
        if acknowledged_retraction_id(record) != retraction_id:
            continue
        subscriber = (record.get("feed") or {}).get("subscriber_id")
        if not subscriber:
            continue
        at = _utc(record["at"])
        if subscriber in acknowledged and acknowledged[subscriber].acknowledged_at <= at:
            continue
        roles = sorted(record.get("actor_roles") or ())
        acknowledged[subscriber] = AcknowledgedPublic(
            subscriber_id=subscriber, acknowledged_at=at, role=roles[0] if roles else None
        )
    return RetractionReceiptsPublic(
        notice_id=notice_id,
        retraction_id=retraction_id,
        reason=str(reason or ""),
        delivered=[
            DeliveredPublic(subscriber_id=s, delivered_at=at)
            for s, at in sorted(delivered.items(), key=lambda item: (item[1], item[0]))
        ],
        acknowledged=sorted(
            acknowledged.values(), key=lambda a: (a.acknowledged_at, a.subscriber_id)
        ),
        not_acknowledged=sorted(set(delivered) - set(acknowledged)),
    )


def originating_agency(
    records: Iterable[Mapping[str, Any]], agency_of_organisation: Mapping[str, str]
) -> str | None:
    """The agency that sent a notice: the `originating_controller` (an organisation code) of
    its audit records, mapped through the topology's agencies. None when no record names one
    the topology knows."""
    for record in records:
        organisation = record.get("originating_controller")
        if organisation and organisation in agency_of_organisation:
            return agency_of_organisation[str(organisation)]
    return None


def withdrawals(
    receipts: RetractionReceiptsPublic, *, agency: str | None
) -> list[WithdrawalPublic]:
    """One line per recipient the withdrawal was delivered to, for a subject access report."""
    label = agency_label(agency)
    acknowledged = {a.subscriber_id: a.acknowledged_at for a in receipts.acknowledged}
    known_reason = receipts.reason in ("WRONG_CHILD", "ENTERED_IN_ERROR", "CORRECTED")
    words = reason_text(receipts.reason) if known_reason else "no reason recorded"
    return [
        WithdrawalPublic(
            notice_id=receipts.notice_id,
            subscriber_id=d.subscriber_id,
            withdrawn_by=label,
            reason=receipts.reason,
            reason_words=words,
            text=withdrawn_text(agency or "", receipts.reason)
            if known_reason
            else f"Withdrawn by {label}",
            withdrawn_at=d.delivered_at,
            acknowledged_at=acknowledged.get(d.subscriber_id),
        )
        for d in receipts.delivered
    ]
