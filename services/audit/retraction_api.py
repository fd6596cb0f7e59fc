"""`GET /v1/notices/{notice_id}/retraction` (issue 18): who a withdrawn notice was delivered
to and who has acknowledged it, and the withdrawal lines of a subject access report.

Two kinds of caller
    - an IG officer (the IG role, bearer token or browser session), as for every IG query;
    - the originating agency's own service client: a client-credentials access token for the
      hub's service audience (`SAFEHUB_AUDIT_SERVICE_TOKEN_AUDIENCE`, default
      `safehub-ingest`, the audience the identity provider gives client-credentials tokens)
      with scope `audit:retractions` and an `agency` claim naming the agency that sent the
      notice (the `originating_controller` of its audit records, an organisation code, mapped
      through the topology's agencies). The adapter calls this for its own
      `GET /v1/retractions/{id}`. Health's client cannot read the receipts of a police notice.

Every call is logged before it runs, as an ACCESS leaf like every IG query (action
`notice_retraction`; for a service client the `client_agency` too), refusals included. To
decide a service client's call the route first reads which agency sent the notice (a read of
the log's index, nothing answered), then logs, then answers. A notice the log holds nothing
about, or one never withdrawn, is a 404 for either caller; a notice of another agency is a
403, so a client can learn that a notice id exists (ids are derived from the sending agency's
own references: a guess would need them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from services.audit.access_parameters import recorded_actor, recorded_parameters, recorded_roles
from services.audit.auth import Claims
from services.audit.errors import NotFound
from services.audit.ig_session import caller_claims
from services.audit.indexer import AccessEvent, EntryKind, entry_for_access
from services.audit.retractions import (
    ACKNOWLEDGED_EVENT,
    DELIVERED_EVENT,
    RetractionReceiptsPublic,
    WithdrawalPublic,
    originating_agency,
    retraction_receipts,
    withdrawals,
)
from services.audit.storage import AuditStore, DecisionQuery
from services.hubkit.audit_trail import ROLE_FORM, read_logged_record, recorded_token
from services.hubkit.auth import (
    AUDIT_RETRACTIONS_SCOPE,
    AccessClaims,
    Forbidden,
    InsufficientScope,
    TokenAudienceInvalid,
    TokenValidator,
    bearer_token,
)
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError

__all__ = [
    "RETRACTION_CLIENTS_STATE",
    "notice_withdrawals",
    "receipts_for_notice",
    "retraction_router",
]

RETRACTION_CLIENTS_STATE = "retraction_clients"
"""`app.state` attribute holding the service clients' TokenValidator (None: IG officers only)."""

_PAGE = 1000


def _records(
    store: AuditStore, catalog: SchemaCatalog, query: DecisionQuery, message_type: MessageType
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = store.find(
            DecisionQuery(
                kind=query.kind,
                notice_id=query.notice_id,
                event=query.event,
                limit=_PAGE,
                offset=offset,
            )
        )
        for leaf in page:
            try:
                logged = read_logged_record(catalog, leaf.data)
            except CodecError:
                continue
            if logged.message_type is message_type:
                out.append(logged.record)
        if len(page) < _PAGE:
            return out
        offset += _PAGE


def receipts_for_notice(
    store: AuditStore, catalog: SchemaCatalog, notice_id: str
) -> RetractionReceiptsPublic | None:
    """The receipts of a notice's withdrawal as the log holds them; None if never withdrawn."""
    deliveries = _records(
        store,
        catalog,
        DecisionQuery(notice_id=notice_id, event=DELIVERED_EVENT),
        MessageType.AUDIT_RECORD,
    )
    if not deliveries:
        return None
    acknowledgements = _records(
        store,
        catalog,
        DecisionQuery(kind=EntryKind.CONSOLE_ACCESS, notice_id=notice_id, event=ACKNOWLEDGED_EVENT),
        MessageType.CONSOLE_ACCESS,
    )
    return retraction_receipts(notice_id, deliveries=deliveries, acknowledgements=acknowledgements)


def _sender(
    store: AuditStore, catalog: SchemaCatalog, notice_id: str, agencies: Mapping[str, str]
) -> str | None:
    """The agency that sent the notice, from its sharing decisions (or, failing those, its
    withdrawal's deliveries)."""
    for event in ("SHARING_DECISION", DELIVERED_EVENT):
        leaves = store.find(DecisionQuery(notice_id=notice_id, event=event, limit=20))
        records = []
        for leaf in leaves:
            try:
                records.append(read_logged_record(catalog, leaf.data).record)
            except CodecError:
                continue
        found = originating_agency(records, agencies)
        if found is not None:
            return found
    return None


def notice_withdrawals(
    store: AuditStore,
    catalog: SchemaCatalog,
    notice_ids: set[str],
    agencies: Mapping[str, str],
) -> list[WithdrawalPublic]:
    """Every withdrawal line for the notices given (the disclosures of a subject access
    report): one per recipient a withdrawal was delivered to."""
    out: list[WithdrawalPublic] = []
    for notice_id in sorted(notice_ids):
        receipts = receipts_for_notice(store, catalog, notice_id)
        if receipts is not None:
            agency = _sender(store, catalog, notice_id, agencies)
            out.extend(withdrawals(receipts, agency=agency))
    return out


@dataclass(frozen=True, slots=True)
class _Caller:
    ig: Claims | None = None
    client: AccessClaims | None = None


async def _caller(request: Request) -> _Caller:
    """An IG officer's token or session; else a service client's token for the service
    audience (the IG validator refuses it on audience alone, and only that is retried)."""
    try:
        return _Caller(ig=await caller_claims(request))
    except TokenAudienceInvalid:
        clients: TokenValidator | None = getattr(request.app.state, RETRACTION_CLIENTS_STATE, None)
        if clients is None:
            raise
        token = bearer_token(request.headers.get("authorization"))
        return _Caller(client=await clients.validate(token))


class _NotTheSender(Forbidden):
    """A service client asked for the receipts of another agency's notice."""


def retraction_router(*, leaf_header: str) -> APIRouter:
    """The route, for `create_app` to include (`leaf_header` names the access leaf)."""
    router = APIRouter(prefix="/v1")

    @router.get(
        "/notices/{notice_id}/retraction",
        response_model=RetractionReceiptsPublic,
        name="notice_retraction",
    )
    async def notice_retraction(
        request: Request,
        response: Response,
        notice_id: str,
        caller: Annotated[_Caller, Depends(_caller)],
    ) -> RetractionReceiptsPublic:
        """Who a withdrawn notice was delivered to, who acknowledged it (when, in which role)
        and who has not: for IG officers and for the sending agency's own service client
        (scope audit:retractions). 404 when the notice was never withdrawn."""
        ctx = request.app.state.ctx
        refusal: Forbidden | None = None
        parameters = recorded_parameters([("notice_id", notice_id)], declared={"notice_id"})
        if caller.ig is not None:
            subject, roles = caller.ig.subject, caller.ig.roles
            if ctx.settings.ig_role not in roles:
                refusal = Forbidden(f"this query needs the {ctx.settings.ig_role} role")
        else:
            client = caller.client
            assert client is not None
            subject, roles = client.subject, frozenset[str]()
            parameters["client_agency"] = recorded_token(client.agency, ROLE_FORM)
            if AUDIT_RETRACTIONS_SCOPE not in client.scopes:
                refusal = InsufficientScope(AUDIT_RETRACTIONS_SCOPE, client.scopes)
            else:
                sender = await run_in_threadpool(
                    _sender, ctx.store, ctx.catalog, notice_id, ctx.agency_of_organisation
                )
                if sender is not None and sender != client.agency:
                    refusal = _NotTheSender(
                        f"token was issued to agency {client.agency}; this notice was sent by "
                        f"{sender}, and only its sender's client may read its receipts"
                    )
        event = AccessEvent(
            access_id=ctx.new_id(),
            at_ms=ctx.clock_ms(),
            actor=recorded_actor(subject),
            roles=recorded_roles(roles),
            action="notice_retraction",
            parameters=parameters,
            allowed=refusal is None,
        )
        result = await run_in_threadpool(
            ctx.store.append, [entry_for_access(event)], appended_at_ms=event.at_ms
        )
        response.headers[leaf_header] = str(result.first_index)
        if refusal is not None:
            raise refusal
        receipts = await run_in_threadpool(receipts_for_notice, ctx.store, ctx.catalog, notice_id)
        if receipts is None:
            raise NotFound(
                "this notice was never withdrawn (the log holds no delivery of a withdrawal)"
            )
        return receipts

    return router
