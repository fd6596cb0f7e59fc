"""Withdrawing a notice the adapter published (issue 18): the request, the rule, the desk.

An agency withdraws one of its notices by the source reference it was published under
(`POST /v1/retractions`, services/adapters/ingest/retraction_routes.py). The adapter must
have published that notice itself: its idempotency store knows the notice and the linkage
key it was keyed by, and the retraction is published under that same key, so it lands on the
original's partition and the gateway meets it after the original. The retraction is a
`NoticeRetraction` (services/hubkit/retraction.py) signed with the agency's key exactly as
its notices are, on the agency's notice topic.

Pure core: `RetractionRequest` (what an integrator sends, validated field by field),
`decide_retraction` (publish it, it was published already, or why not) and
`receipts_from_audit` (the audit service's answer, checked, as this API's).
Imperative shell: `RetractionDesk` (store look-ups, publish, record) and `HttpRetractionAudit`
(the audit service, asked as the adapter's own client, scope audit:retractions).

The store, the requests and the logs hold ids, reasons and keyed pseudonyms only; a
retraction carries no content and no free text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.adapters.ingest.errors import (
    AuditUnavailable,
    NoticeNotFound,
    PublishUnavailable,
    RetractionConflict,
)
from services.adapters.ingest.idempotency import (
    IdempotencyStore,
    PublishedNotice,
    RecordedRetraction,
)
from services.adapters.ingest.models import CodedValueError
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.notice import notice_id_for
from services.hubkit.retraction import RetractionReason, new_retraction, retraction_id_for
from services.hubkit.service_calls import ServiceCallFailed, call_as_service

__all__ = [
    "Acknowledged",
    "Delivered",
    "HttpRetractionAudit",
    "RetractionAccepted",
    "RetractionAudit",
    "RetractionDesk",
    "RetractionPublisher",
    "RetractionReceipts",
    "RetractionRequest",
    "decide_retraction",
    "receipts_from_audit",
]

_log = logging.getLogger(__name__)

_REFERENCE_MAX = 256

_EXAMPLE_NOTICE_ID = "3f2c9a4e-5b1d-5e7f-8a9b-0c1d2e3f4a5b"
_EXAMPLE_RETRACTION_ID = "9b1e7d0c-2a4f-5c3e-8d6b-1f0a2e3c4d5e"


class RetractionRequest(BaseModel):
    """Withdraw a notice this agency published, by the source reference it carried."""

    model_config = ConfigDict(extra="forbid")

    source_reference: str = Field(
        min_length=1,
        max_length=_REFERENCE_MAX,
        description=(
            "The source reference of the notice to withdraw, as the notice carries it: the "
            "record's reference, with '/r<n>' for a revision n > 1 (see the adapters' README "
            "for each agency's form)."
        ),
        examples=["HLT-2026-000123"],
    )
    reason: RetractionReason = Field(
        description=(
            "WRONG_CHILD: the record was about another child; ENTERED_IN_ERROR: it should "
            "never have been recorded; CORRECTED: a corrected record replaces it (send the "
            "corrected record first and name it in replaced_by_source_reference)."
        ),
        examples=["WRONG_CHILD"],
    )
    replaced_by_source_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=_REFERENCE_MAX,
        description=(
            "For CORRECTED only: the source reference of the corrected record, already "
            "published through this adapter. Null (or absent) for the other reasons."
        ),
        examples=[None],
    )

    @model_validator(mode="after")
    def _replacement_matches_reason(self) -> RetractionRequest:
        corrected = self.reason is RetractionReason.CORRECTED
        if corrected and self.replaced_by_source_reference is None:
            raise CodedValueError(
                "replacement_missing",
                "a CORRECTED retraction names the corrected record's source reference",
                field="replaced_by_source_reference",
            )
        if not corrected and self.replaced_by_source_reference is not None:
            raise CodedValueError(
                "replacement_not_allowed",
                "only a CORRECTED retraction names a replacement",
                field="replaced_by_source_reference",
            )
        if self.replaced_by_source_reference == self.source_reference:
            raise CodedValueError(
                "replacement_is_original",
                "a record cannot replace itself; the correction needs its own reference",
                field="replaced_by_source_reference",
            )
        return self


class RetractionAccepted(BaseModel):
    """The retraction was published (or had been already): the broker acknowledged it."""

    retraction_id: str = Field(
        description="Deterministic retraction id: one per withdrawn notice.",
        examples=[_EXAMPLE_RETRACTION_ID],
    )
    notice_id: str = Field(description="The notice withdrawn.", examples=[_EXAMPLE_NOTICE_ID])


class Delivered(BaseModel):
    subscriber_id: str = Field(
        description="A recipient the original was disclosed to.", examples=["mash-health"]
    )
    delivered_at: str = Field(
        description="When the hub delivered the withdrawal to it (ISO 8601, UTC).",
        examples=["2026-11-19T09:12:03.120000+00:00"],
    )


class Acknowledged(BaseModel):
    subscriber_id: str = Field(
        description="A recipient whose desk acknowledged the withdrawal.",
        examples=["mash-health"],
    )
    acknowledged_at: str = Field(
        description="When (ISO 8601, UTC).", examples=["2026-11-19T09:30:41+00:00"]
    )
    role: str = Field(
        description="The role of the person who acknowledged it.",
        examples=["MASH_HEALTH_NAVIGATOR"],
    )


class RetractionReceipts(BaseModel):
    """Who the withdrawal was delivered to and who has acknowledged it (the audit record)."""

    model_config = ConfigDict(extra="ignore")

    notice_id: str = Field(description="The notice withdrawn.", examples=[_EXAMPLE_NOTICE_ID])
    retraction_id: str = Field(description="The retraction.", examples=[_EXAMPLE_RETRACTION_ID])
    reason: RetractionReason = Field(description="Why it was withdrawn.", examples=["WRONG_CHILD"])
    delivered: list[Delivered] = Field(
        description=(
            "Every recipient of the original the withdrawal was delivered to; empty until "
            "the hub has delivered it (or when the original reached no-one)."
        ),
        examples=[[{"subscriber_id": "mash-health", "delivered_at": "2026-11-19T09:12:03Z"}]],
    )
    acknowledged: list[Acknowledged] = Field(
        description="Recipients whose desk acknowledged the withdrawal.",
        examples=[[]],
    )
    not_acknowledged: list[str] = Field(
        description="Recipients it was delivered to that have not acknowledged it yet.",
        examples=[["mash-health"]],
    )


# --- pure core ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish this retraction (a NoticeRetraction record, fastavro's form)."""

    record: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AlreadyPublished:
    """The same retraction was published before: answer with it, publish nothing."""

    recorded: RecordedRetraction


Decision = Publish | AlreadyPublished


def decide_retraction(
    request: RetractionRequest,
    *,
    agency: str,
    organisation_code: str,
    original: PublishedNotice | None,
    replacement: PublishedNotice | None,
    earlier: RecordedRetraction | None,
    retracted_at: dt.datetime,
) -> Decision:
    """What to do with a retraction request, given what the store knows: the original (by
    the notice id its source reference derives), the replacement (CORRECTED) and an earlier
    retraction of the same notice. Raises NoticeNotFound (404) or RetractionConflict (409)."""
    notice_id = notice_id_for(
        agency=agency,
        organisation_code=organisation_code,
        source_reference=request.source_reference,
    )
    if original is None:
        raise NoticeNotFound(
            "no notice from this agency with that source reference; nothing was published",
            notice_id=notice_id,
        )
    if original.linkage_key is None:
        raise RetractionConflict(
            "this notice was published before retractions were supported; ask the hub "
            "operator to withdraw it",
            notice_id=notice_id,
        )
    replaced_by: str | None = None
    if request.replaced_by_source_reference is not None:
        replaced_by = notice_id_for(
            agency=agency,
            organisation_code=organisation_code,
            source_reference=request.replaced_by_source_reference,
        )
        if replacement is None:
            raise RetractionConflict(
                "the corrected record is not published yet; send the corrected record first, "
                "then withdraw this one",
                notice_id=notice_id,
            )
    if earlier is not None:
        if (earlier.reason, earlier.replaced_by_notice_id) != (request.reason.value, replaced_by):
            raise RetractionConflict(
                f"this notice was already withdrawn ({earlier.reason}); a notice is withdrawn once",
                notice_id=notice_id,
            )
        return AlreadyPublished(earlier)
    return Publish(
        new_retraction(
            agency=agency,
            organisation_code=organisation_code,
            source_reference=request.source_reference,
            subject_linkage_key=original.linkage_key,
            reason=request.reason,
            retracted_at=retracted_at,
            replaced_by_notice_id=replaced_by,
        )
    )


def receipts_from_audit(status: int, body: Any, recorded: RecordedRetraction) -> RetractionReceipts:
    """The audit service's answer to GET /v1/notices/{notice_id}/retraction as this API's.

    200: its document, checked to be about this retraction. 404: the audit record has no
    delivery of it yet (the hub has not delivered it, or the original reached no-one): the
    lists are empty. Anything else: AuditUnavailable (503), naming the status."""
    if status == 404:
        return RetractionReceipts(
            notice_id=recorded.notice_id,
            retraction_id=recorded.retraction_id,
            reason=RetractionReason(recorded.reason),
            delivered=[],
            acknowledged=[],
            not_acknowledged=[],
        )
    if status in (401, 403):
        raise AuditUnavailable(
            f"the audit service refused the adapter's client (status {status}); register it "
            "with the scope audit:retractions"
        )
    if status != 200:
        raise AuditUnavailable(f"the audit service did not answer (status {status}); retry later")
    try:
        receipts = RetractionReceipts.model_validate(body)
    except ValidationError:
        raise AuditUnavailable("the audit service's answer was not understood") from None
    if (receipts.notice_id, receipts.retraction_id) != (
        recorded.notice_id,
        recorded.retraction_id,
    ):
        raise AuditUnavailable("the audit service answered about another retraction")
    return receipts


# --- imperative shell --------------------------------------------------------------------


class RetractionPublisher(Protocol):
    """Port: seal a retraction with the agency's key and publish it (returns on ack);
    services.hubkit.publisher.NoticePublisher."""

    async def publish_retraction(self, retraction: Mapping[str, Any]) -> str: ...


class RetractionAudit(Protocol):
    """Port: the audit service's answer (status, JSON body) about one notice's retraction."""

    async def retraction(self, notice_id: str) -> tuple[int, Any]: ...


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RetractionDesk:
    """Retractions for one agency: look up, publish, record; and their receipts."""

    def __init__(
        self,
        *,
        agency: str,
        organisation_code: str,
        store: IdempotencyStore,
        publisher: RetractionPublisher,
        audit: RetractionAudit,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._agency = agency
        self._organisation_code = organisation_code
        self._store = store
        self._publisher = publisher
        self._audit = audit
        self._clock = clock
        # One retraction at a time in this process, so a quick repeat waits for the first
        # and finds it recorded (another process on the same store can still race it: the
        # gateway then refuses the second copy as a DUPLICATE_NOTICE, by its retraction id).
        self._lock = asyncio.Lock()

    def _notice_id(self, source_reference: str) -> str:
        return notice_id_for(
            agency=self._agency,
            organisation_code=self._organisation_code,
            source_reference=source_reference,
        )

    async def retract(self, request: RetractionRequest, *, client_id: str) -> RetractionAccepted:
        notice_id = self._notice_id(request.source_reference)
        replacement_ref = request.replaced_by_source_reference
        async with self._lock:
            decision = decide_retraction(
                request,
                agency=self._agency,
                organisation_code=self._organisation_code,
                original=self._store.published(notice_id),
                replacement=(
                    None
                    if replacement_ref is None
                    else self._store.published(self._notice_id(replacement_ref))
                ),
                earlier=self._store.retraction(retraction_id_for(notice_id)),
                retracted_at=self._clock(),
            )
            if isinstance(decision, AlreadyPublished):
                _log.info(
                    "client %s: retraction %s of notice %s: duplicate",
                    client_id,
                    decision.recorded.retraction_id,
                    notice_id,
                )
                return RetractionAccepted(
                    retraction_id=decision.recorded.retraction_id, notice_id=notice_id
                )
            record = decision.record
            retraction_id = str(record["retraction_id"])
            try:
                await self._publisher.publish_retraction(record)
            except Exception as error:  # the broker did not acknowledge: nothing recorded
                _log.warning(
                    "retraction %s not acknowledged: %s", retraction_id, type(error).__name__
                )
                raise PublishUnavailable(
                    f"the broker did not acknowledge ({type(error).__name__}); nothing was "
                    "recorded, retry the same retraction",
                    notice_id=notice_id,
                ) from None
            self._store.record_retraction(
                RecordedRetraction(
                    retraction_id=retraction_id,
                    notice_id=notice_id,
                    reason=request.reason.value,
                    replaced_by_notice_id=record["replaced_by_notice_id"],
                ),
                now=self._clock().timestamp(),
            )
        _log.info(
            "client %s: retraction %s of notice %s (%s): published",
            client_id,
            retraction_id,
            notice_id,
            request.reason.value,
        )
        return RetractionAccepted(retraction_id=retraction_id, notice_id=notice_id)

    async def receipts(self, retraction_id: str) -> RetractionReceipts:
        recorded = self._store.retraction(retraction_id)
        if recorded is None:
            raise NoticeNotFound("this adapter published no retraction with that id")
        status, body = await self._audit.retraction(recorded.notice_id)
        return receipts_from_audit(status, body, recorded)


class HttpRetractionAudit:
    """`RetractionAudit` over HTTP: the audit service's IG API, asked as the adapter's own
    client (client credentials, scope audit:retractions). Not configured (no base URL) or
    unreachable: AuditUnavailable (503). Logs name the failure, never a body."""

    def __init__(
        self,
        *,
        base_url: str | None,
        http: httpx.AsyncClient,
        credentials: ClientCredentials,
        timeout_s: float = 10.0,
    ) -> None:
        self._base_url = (base_url or "").rstrip("/") or None
        self._http = http
        self._credentials = credentials
        self._timeout_s = timeout_s

    async def retraction(self, notice_id: str) -> tuple[int, Any]:
        if self._base_url is None:
            raise AuditUnavailable(
                "the adapter has no audit service configured (SAFEHUB_ADAPTER_AUDIT_URL); "
                "ask the hub operator"
            )
        try:
            response = await call_as_service(
                self._http,
                self._credentials,
                "GET",
                f"{self._base_url}/v1/notices/{notice_id}/retraction",
                timeout_s=self._timeout_s,
            )
        except ServiceCallFailed as failure:
            _log.warning("audit service: %s", failure)
            raise AuditUnavailable("the audit service cannot be reached now; retry later") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            _log.warning(
                "audit service: status %s for client %s",
                response.status_code,
                self._credentials.client_id,
            )
        return response.status_code, body
