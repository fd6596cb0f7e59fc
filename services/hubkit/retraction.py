"""Withdrawing a notice (issue 18): the one definition of a retraction's ids, its record and
the words a recipient reads, shared by the adapters (which sign and publish retractions), the
gateway (which delivers them to the original's recipients), the console (which shows the item
as withdrawn) and the audit service (receipts). Pure.

A retraction names the notice it withdraws by the same binding the notice had: agency,
organisation and source reference derive the notice id (`notice_id_for`), and the gateway
accepts a retraction only from the agency whose key that binding names. It carries no content
and no free text: a recipient learns that a notice it holds was withdrawn and why, in a word
from a fixed list, and nothing about the child it was really about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from services.hubkit.agency_labels import agency_label
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.notice import hub_uuid5, notice_id_for

__all__ = [
    "RetractionReason",
    "delivery_decision_id",
    "encode_retraction",
    "new_retraction",
    "reason_text",
    "retraction_id_for",
    "withdrawn_text",
]


class RetractionReason(StrEnum):
    """safehub.notice.RetractionReason."""

    WRONG_CHILD = "WRONG_CHILD"
    ENTERED_IN_ERROR = "ENTERED_IN_ERROR"
    CORRECTED = "CORRECTED"


_REASON_TEXT: Mapping[RetractionReason, str] = {
    RetractionReason.WRONG_CHILD: "wrong child",
    RetractionReason.ENTERED_IN_ERROR: "entered in error",
    RetractionReason.CORRECTED: "corrected, a new record replaces it",
}


def reason_text(reason: str) -> str:
    """The reason in the words a recipient reads ("wrong child")."""
    return _REASON_TEXT[RetractionReason(reason)]


def withdrawn_text(agency: str, reason: str) -> str:
    """'Withdrawn by Health: wrong child', for the agency (its code) that withdrew it."""
    return f"Withdrawn by {agency_label(agency)}: {reason_text(reason)}"


def retraction_id_for(notice_id: str) -> str:
    """One retraction per notice: a retried request is the same retraction (same id, so the
    gateway refuses a second copy as a replay)."""
    return hub_uuid5(f"retraction:{notice_id}")


def delivery_decision_id(*, retraction_id: str, subscriber_id: str) -> str:
    """The decision id of one recipient's RETRACTION_DELIVERED audit record."""
    return hub_uuid5(f"retraction-delivery:{retraction_id}:{subscriber_id}")


def new_retraction(
    *,
    agency: str,
    organisation_code: str,
    source_reference: str,
    subject_linkage_key: str,
    reason: RetractionReason,
    retracted_at: dt.datetime,
    replaced_by_notice_id: str | None = None,
    source_system: str | None = None,
) -> dict[str, Any]:
    """A NoticeRetraction record (fastavro's form) for the notice this source reference made.
    CORRECTED needs the corrected notice's id; the other reasons take none."""
    if (reason is RetractionReason.CORRECTED) != (replaced_by_notice_id is not None):
        raise ValueError("a CORRECTED retraction names the notice replacing it; others do not")
    notice_id = notice_id_for(
        agency=agency, organisation_code=organisation_code, source_reference=source_reference
    )
    return {
        "retraction_id": retraction_id_for(notice_id),
        "retracted_notice_id": notice_id,
        "source": {
            "agency": agency,
            "organisation_code": organisation_code,
            "source_reference": source_reference,
            "source_system": source_system,
        },
        "subject_linkage_key": subject_linkage_key,
        "reason": reason.value,
        "replaced_by_notice_id": replaced_by_notice_id,
        "retracted_at": retracted_at,
    }


def encode_retraction(catalog: SchemaCatalog, retraction: Mapping[str, Any]) -> bytes:
    """The retraction's Avro single-object encoding (the payload an agency signs)."""
    return catalog.encode(MessageType.NOTICE_RETRACTION, retraction)
