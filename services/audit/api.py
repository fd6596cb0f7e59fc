"""The IG query API: what was decided about a notice, a child, a recipient or a period; a
subject access report for one child (over every key the child has: the child index's merges
and splits, kept by the indexer); the record of processing; proofs for partners.

Every request under /v1 needs a bearer access token (validated against the IdP's JWKS, see
`services.audit.auth`) whose roles include the IG officer role. Every request by an
authenticated caller is itself audited **before** it runs: an ACCESS entry (who, which
query, which parameters, allowed or refused) is appended to the same verifiable log the
decisions are in, so the hub cannot hide who looked at a child's record, and a partner can
prove it. If that append fails the query does not run (503): no audit entry, no answer. The
response carries the access entry's leaf index in `X-Audit-Access-Leaf`. The entry records
ids and codes only (`services.audit.access_parameters`): the parameters the route declares,
each in its canonical form or as a digest, never text a caller typed.

Besides decisions, the log holds the MASH console's access events (`/v1/console-access`) and
the records an audit topic carried that failed its check (`/v1/rejections`: unsigned, signed
by the wrong producer, of the wrong schema; never entered as decisions).

Errors map to HTTP: unauthenticated 401 (WWW-Authenticate: Bearer), wrong role 403, JWKS or
store unavailable 503, unknown decision/checkpoint 404, not yet checkpointed 409, a proof
request the tree cannot answer 400.

Run: `safehub audit api` or `uvicorn --factory services.audit.api:app_from_env`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel

from services.audit.access_parameters import (
    recorded_actor,
    recorded_parameters,
    recorded_roles,
)
from services.audit.auth import Claims, ClaimsValidator, RoleTokenValidator
from services.audit.break_glass_reviews import SqliteBreakGlassReviews
from services.audit.break_glass_routes import BREAK_GLASS_REVIEWS_STATE, break_glass_router
from services.audit.child_lookup import ChildIndex, ChildLookupSettings, child_lookup_from_settings
from services.audit.cosignatures import CosignatureStore
from services.audit.domain.witnessing import cosigned_note, parse_policy
from services.audit.erasure_routes import erasure_router
from services.audit.errors import (
    AuditError,
    NotFound,
    NotYetCheckpointed,
    ProofRequestInvalid,
    StorageError,
)
from services.audit.export import consistency_evidence, decision_leaves, inclusion_evidence
from services.audit.family_approvals import SqliteFamilyApprovals
from services.audit.family_routes import family_router
from services.audit.figures_api import figures_router
from services.audit.ig_session import caller_claims, install_ig_signin
from services.audit.indexer import (
    AccessEvent,
    EntryKind,
    decode_rejected,
    entry_for_access,
    to_ms,
)
from services.audit.linkage import keys_of_child, linkage_history
from services.audit.receipt_routes import receipt_router
from services.audit.reports import (
    ConsoleAccessesPublic,
    ConsoleAccessPublic,
    DecisionPublic,
    DecisionsPublic,
    LogPositionPublic,
    ProcessingSummaryPublic,
    RejectionsPublic,
    SubjectAccessReportPublic,
    console_access_view,
    decision_view,
    processing_summary,
    rejection_view,
    render_subject_access_html,
    subject_access_report,
)
from services.audit.retraction_api import (
    RETRACTION_CLIENTS_STATE,
    notice_withdrawals,
    retraction_router,
)
from services.audit.settings import AuditSettings
from services.audit.storage import AuditStore, DecisionQuery, StoredLeaf
from services.audit.storage_sql import SqlAuditStore, open_store
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.auth import (
    AuthError,
    Forbidden,
    RemoteJwks,
    TokenValidator,
)
from services.hubkit.auth_http import auth_error_response
from services.hubkit.child_keys import StoreKeyFile
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError
from services.hubkit.keyed_digest import ensure_digest_key
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client
from services.hubkit.topology import load_topology

__all__ = [
    "ACCESS_LEAF_HEADER",
    "ApiContext",
    "ConsistencyPublic",
    "InclusionProofPublic",
    "app_from_env",
    "create_app",
]

ACCESS_LEAF_HEADER = "X-Audit-Access-Leaf"

Outcome = Literal["PERMIT", "PARTIAL", "FLAG_ONLY", "DENY"]
Event = Literal[
    "SHARING_DECISION",
    "NOTICE_REJECTED",
    "ACCESS_REFUSED",
    "LINKAGE_DECIDED",
    "CHILD_SEARCHED",
    "RESEARCH_REQUESTED",
    "RESEARCH_ANSWERED",
    "NOTICE_VIEWED",
    "CHILD_VIEWED",
    "DECISION_AMENDED",
    "DANGER_ACKNOWLEDGED",
    "RETRACTION_DELIVERED",
    "RETRACTION_ACKNOWLEDGED",
]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ApiContext:
    """Everything the routes use, built once at startup."""

    settings: AuditSettings
    store: AuditStore
    catalog: SchemaCatalog
    validator: ClaimsValidator
    clock_ms: Callable[[], int]
    new_id: Callable[[], str]
    agency_of_organisation: Mapping[str, str] = field(default_factory=dict)
    """Organisation code -> agency code (the topology): who sent a notice (issue 18)."""
    cosignatures: CosignatureStore | None = None
    """Witnesses' cosignatures, appended to the checkpoints served (issue 19)."""


class InclusionItemPublic(BaseModel):
    leaf_index: int
    entry: dict[str, Any]
    """An entry file (safehub.audit.entry.v1)."""
    proof: dict[str, Any]
    """An inclusion proof file (safehub.audit.proof.v1)."""


class InclusionProofPublic(BaseModel):
    decision_id: str
    checkpoint: str
    """The signed note every proof below is against: save it as the checkpoint file."""
    proofs: list[InclusionItemPublic]


class ConsistencyPublic(BaseModel):
    old_checkpoint: str
    new_checkpoint: str
    proof: dict[str, Any]


@dataclass(frozen=True)
class _Access:
    leaf_index: int
    claims: Claims


# ---------------------------------------------------------------------------------------------
# Dependencies


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(_ctx)]


async def _claims(request: Request, ctx: Ctx) -> Claims:
    # A bearer token, or an IG officer's browser session (ig_session.py).
    return await caller_claims(request)


class _RoleMissing(Forbidden):
    def __init__(self, role: str) -> None:
        super().__init__(f"this query needs the {role} role")


async def _audited(
    request: Request, response: Response, ctx: Ctx, claims: Annotated[Claims, Depends(_claims)]
) -> _Access:
    """Log the query (allowed or refused) before it runs; refuse callers without the role."""
    allowed = ctx.settings.ig_role in claims.roles
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    sent = [*request.path_params.items(), *request.query_params.multi_items()]
    event = AccessEvent(
        access_id=ctx.new_id(),
        at_ms=ctx.clock_ms(),
        actor=recorded_actor(claims.subject),
        roles=recorded_roles(claims.roles),
        # Audited routes all have a name; never fall back to the URL, which a caller writes.
        action=str(getattr(route, "name", None) or "unnamed_route"),
        parameters=recorded_parameters(
            [(str(k), str(v)) for k, v in sent],
            declared=_declared(dependant) if isinstance(dependant, Dependant) else (),
        ),
        allowed=allowed,
    )
    result = await run_in_threadpool(
        ctx.store.append, [entry_for_access(event)], appended_at_ms=event.at_ms
    )
    response.headers[ACCESS_LEAF_HEADER] = str(result.first_index)
    if not allowed:
        raise _RoleMissing(ctx.settings.ig_role)
    return _Access(leaf_index=result.first_index, claims=claims)


Audited = Annotated[_Access, Depends(_audited)]


def _declared(dependant: Dependant) -> set[str]:
    """Names of the path and query parameters a route (and its dependencies) declares."""
    names = {f.alias for f in (*dependant.path_params, *dependant.query_params)}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


# ---------------------------------------------------------------------------------------------
# Helpers


def _decode(ctx: ApiContext, leaf: StoredLeaf) -> DecisionPublic | None:
    """A decision leaf: a hub-signed AuditRecord (checked when it was logged), or a bare one
    in a log from before records were signed."""
    try:
        logged = read_logged_record(ctx.catalog, leaf.data)
    except CodecError:
        return None
    if logged.message_type is not MessageType.AUDIT_RECORD:
        return None
    return decision_view(leaf, logged.record)


def _decisions(ctx: ApiContext, query: DecisionQuery) -> DecisionsPublic:
    leaves = ctx.store.find(query)
    items = [d for d in (_decode(ctx, leaf) for leaf in leaves) if d is not None]
    return DecisionsPublic(
        returned=len(items),
        limit=query.limit,
        offset=query.offset,
        next_offset=query.offset + len(leaves) if len(leaves) == query.limit else None,
        items=items,
    )


def _all_for_subject(
    ctx: ApiContext, key: str, from_ms: int | None, to_ms_: int | None
) -> list[DecisionPublic]:
    out: list[DecisionPublic] = []
    page = ctx.settings.query_limit_max
    offset = 0
    while True:
        leaves = ctx.store.find(
            DecisionQuery(
                subject_linkage_key=key,
                event="SHARING_DECISION",
                decided_from_ms=from_ms,
                decided_to_ms=to_ms_,
                limit=page,
                offset=offset,
            )
        )
        out.extend(d for d in (_decode(ctx, leaf) for leaf in leaves) if d is not None)
        if len(leaves) < page:
            return out
        offset += page


def _console_access_for_subject(
    ctx: ApiContext, key: str, from_ms: int | None, to_ms_: int | None
) -> list[ConsoleAccessPublic]:
    """Console access events the log indexed under `key` (views, agency checks, amendments)."""
    out: list[ConsoleAccessPublic] = []
    page = ctx.settings.query_limit_max
    offset = 0
    while True:
        leaves = ctx.store.find(
            DecisionQuery(
                kind=EntryKind.CONSOLE_ACCESS,
                subject_linkage_key=key,
                decided_from_ms=from_ms,
                decided_to_ms=to_ms_,
                limit=page,
                offset=offset,
            )
        )
        for leaf in leaves:
            try:
                logged = read_logged_record(ctx.catalog, leaf.data)
            except CodecError:
                continue
            if logged.message_type is MessageType.CONSOLE_ACCESS:
                out.append(console_access_view(leaf, logged.record, signed_by=logged.key_id))
        if len(leaves) < page:
            return out
        offset += page


def _log_position(ctx: ApiContext) -> LogPositionPublic:
    head = ctx.store.head()
    latest = ctx.store.latest_checkpoint()
    return LogPositionPublic(
        tree_size=head.size,
        root_hash=head.root.hex(),
        checkpoint_tree_size=latest.checkpoint.tree_size if latest else None,
    )


def _ms(value: dt.datetime | None) -> int | None:
    return to_ms(value)


def _query(
    ctx: ApiContext,
    *,
    limit: int,
    offset: int,
    decided_from: dt.datetime | None,
    decided_to: dt.datetime | None,
    **filters: Any,
) -> DecisionQuery:
    return DecisionQuery(
        decided_from_ms=_ms(decided_from),
        decided_to_ms=_ms(decided_to),
        limit=_page_size(ctx, limit),
        offset=offset,
        **filters,
    )


def _page_size(ctx: ApiContext, limit: int) -> int:
    """`limit` as asked, or a 400 naming the maximum: a silently shorter page reads as "that
    is everything" to an IG officer answering a subject access request."""
    if limit > ctx.settings.query_limit_max:
        raise HTTPException(
            status_code=400,
            detail=(
                f"limit {limit} is above the maximum of {ctx.settings.query_limit_max} rows "
                "per page; ask for at most that and page on with offset (next_offset)"
            ),
        )
    return limit


# Shared query parameters.
Limit = Annotated[
    int,
    Query(ge=1, description="Most rows to return; above the server's maximum is a 400."),
]
Offset = Annotated[int, Query(ge=0)]
From = Annotated[dt.datetime | None, Query(description="Decided at or after (RFC 3339).")]
To = Annotated[dt.datetime | None, Query(description="Decided before (RFC 3339).")]
OutcomeQ = Annotated[Outcome | None, Query()]
RuleQ = Annotated[str | None, Query(description="Only decisions where this rule fired.")]
EventQ = Annotated[Event | None, Query()]

router = APIRouter(prefix="/v1")


@router.get("/decisions", response_model=DecisionsPublic, name="decisions")
def search_decisions(
    ctx: Ctx,
    _access: Audited,
    notice_id: str | None = None,
    subject_linkage_key: str | None = None,
    recipient: str | None = None,
    organisation: str | None = None,
    role: str | None = None,
    decided_from: From = None,
    decided_to: To = None,
    outcome: OutcomeQ = None,
    rule_id: RuleQ = None,
    event: EventQ = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DecisionsPublic:
    """Decisions matching every filter given (e.g. a time range), in log order."""
    return _decisions(
        ctx,
        _query(
            ctx,
            limit=limit,
            offset=offset,
            decided_from=decided_from,
            decided_to=decided_to,
            notice_id=notice_id,
            subject_linkage_key=subject_linkage_key,
            recipient=recipient,
            organisation=organisation,
            role=role,
            outcome=outcome,
            rule_id=rule_id,
            event=event,
        ),
    )


@router.get(
    "/notices/{notice_id}/decisions", response_model=DecisionsPublic, name="notice_decisions"
)
def notice_decisions(
    ctx: Ctx,
    _access: Audited,
    notice_id: str,
    outcome: OutcomeQ = None,
    rule_id: RuleQ = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DecisionsPublic:
    """Every decision made about one notice (one per recipient, plus any rejection)."""
    return _decisions(
        ctx,
        _query(
            ctx,
            limit=limit,
            offset=offset,
            decided_from=None,
            decided_to=None,
            notice_id=notice_id,
            outcome=outcome,
            rule_id=rule_id,
        ),
    )


@router.get(
    "/subjects/{subject_linkage_key}/decisions",
    response_model=DecisionsPublic,
    name="subject_decisions",
)
def subject_decisions(
    ctx: Ctx,
    _access: Audited,
    subject_linkage_key: str,
    decided_from: From = None,
    decided_to: To = None,
    outcome: OutcomeQ = None,
    rule_id: RuleQ = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DecisionsPublic:
    """Every decision about one child (by pseudonymous linkage key)."""
    return _decisions(
        ctx,
        _query(
            ctx,
            limit=limit,
            offset=offset,
            decided_from=decided_from,
            decided_to=decided_to,
            subject_linkage_key=subject_linkage_key,
            outcome=outcome,
            rule_id=rule_id,
        ),
    )


@router.get(
    "/recipients/{subscriber_id}/decisions",
    response_model=DecisionsPublic,
    name="recipient_decisions",
)
def recipient_decisions(
    ctx: Ctx,
    _access: Audited,
    subscriber_id: str,
    decided_from: From = None,
    decided_to: To = None,
    outcome: OutcomeQ = None,
    rule_id: RuleQ = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DecisionsPublic:
    """Every decision about what one recipient (hub subscriber) may see."""
    return _decisions(
        ctx,
        _query(
            ctx,
            limit=limit,
            offset=offset,
            decided_from=decided_from,
            decided_to=decided_to,
            recipient=subscriber_id,
            outcome=outcome,
            rule_id=rule_id,
        ),
    )


def _known_child(ctx: ApiContext, keys: frozenset[str] | set[str], changes: Any) -> bool:
    """Whether the log holds anything about the child: a decision or console access under
    one of its keys (any time), or a merge or split naming one."""
    if linkage_history(changes, keys):
        return True
    for k in keys:
        for kind in (None, EntryKind.CONSOLE_ACCESS):
            query = DecisionQuery(subject_linkage_key=k, limit=1, offset=0)
            if kind is not None:
                query = DecisionQuery(kind=kind, subject_linkage_key=k, limit=1, offset=0)
            if ctx.store.find(query):
                return True
    return False


def _sar(
    ctx: ApiContext, key: str, decided_from: dt.datetime | None, decided_to: dt.datetime | None
) -> SubjectAccessReportPublic:
    """The report over every key the child has now (the merges and splits the indexer
    recorded), not only the key asked about."""
    changes = ctx.store.linkage_changes()
    keys = keys_of_child(changes, key)
    if not _known_child(ctx, keys, changes):
        # Never an empty "shared 0 times" report a DPO could send to a family (issue 17).
        raise NotFound(
            "no child with this reference is in the audit log: check the reference, or find "
            "the child by name, date of birth or NHS number (/v1/children/find)"
        )
    decisions = [
        d
        for k in sorted(keys)
        for d in _all_for_subject(ctx, k, _ms(decided_from), _ms(decided_to))
    ]
    return subject_access_report(
        subject_linkage_key=key,
        decisions=decisions,
        # A disclosure later withdrawn is marked so; its row stays (issue 18).
        withdrawals=notice_withdrawals(
            ctx.store,
            ctx.catalog,
            {d.notice_id for d in decisions if d.notice_id},
            ctx.agency_of_organisation,
        ),
        generated_at=dt.datetime.fromtimestamp(ctx.clock_ms() / 1000, tz=dt.UTC),
        log=_log_position(ctx),
        period_from=decided_from,
        period_to=decided_to,
        subject_keys=keys,
        linkage=linkage_history(changes, keys),
        consultations=[
            e
            for k in sorted(keys)
            for e in _console_access_for_subject(ctx, k, _ms(decided_from), _ms(decided_to))
        ],
    )


@router.get(
    "/subjects/{subject_linkage_key}/access-report",
    response_model=SubjectAccessReportPublic,
    name="subject_access_report",
)
def subject_access_report_json(
    ctx: Ctx,
    _access: Audited,
    subject_linkage_key: str,
    decided_from: From = None,
    decided_to: To = None,
) -> SubjectAccessReportPublic:
    """Every disclosure of one child's information: to whom, when, why, on what basis, and
    what was withheld; third parties protected. Covers every key the child has (the child
    index's merges and splits), lists them and the merges and splits."""
    return _sar(ctx, subject_linkage_key, decided_from, decided_to)


@router.get(
    "/subjects/{subject_linkage_key}/access-report.html",
    response_class=HTMLResponse,
    name="subject_access_report_html",
)
def subject_access_report_html(
    ctx: Ctx,
    access: Audited,
    subject_linkage_key: str,
    decided_from: From = None,
    decided_to: To = None,
) -> HTMLResponse:
    """The subject access report as a readable page."""
    report = _sar(ctx, subject_linkage_key, decided_from, decided_to)
    return HTMLResponse(
        render_subject_access_html(report),
        headers={ACCESS_LEAF_HEADER: str(access.leaf_index)},
    )


@router.get(
    "/record-of-processing", response_model=ProcessingSummaryPublic, name="record_of_processing"
)
def record_of_processing(
    ctx: Ctx,
    _access: Audited,
    decided_from: From = None,
    decided_to: To = None,
) -> ProcessingSummaryPublic:
    """Per purpose and recipient, sharing decisions by outcome over the period (Art 30)."""
    counts = ctx.store.processing_summary(
        decided_from_ms=_ms(decided_from), decided_to_ms=_ms(decided_to)
    )
    return processing_summary(
        counts,
        generated_at=dt.datetime.fromtimestamp(ctx.clock_ms() / 1000, tz=dt.UTC),
        period_from=decided_from,
        period_to=decided_to,
    )


@router.get("/console-access", response_model=ConsoleAccessesPublic, name="console_access")
def console_access(
    ctx: Ctx, _access: Audited, limit: Limit = 100, offset: Offset = 0
) -> ConsoleAccessesPublic:
    """Access events from the MASH console (refusals and linkage decisions), signed by the
    console's key, in log order."""
    limit = _page_size(ctx, limit)
    items = []
    for leaf in ctx.store.entries_of_kind(EntryKind.CONSOLE_ACCESS, limit=limit, offset=offset):
        try:
            logged = read_logged_record(ctx.catalog, leaf.data)
        except CodecError:
            continue
        items.append(console_access_view(leaf, logged.record, signed_by=logged.key_id))
    return ConsoleAccessesPublic(
        total=ctx.store.count_of_kind(EntryKind.CONSOLE_ACCESS),
        limit=limit,
        offset=offset,
        items=items,
    )


@router.get("/rejections", response_model=RejectionsPublic, name="rejections")
def rejections(
    ctx: Ctx, _access: Audited, limit: Limit = 100, offset: Offset = 0
) -> RejectionsPublic:
    """Records an audit topic carried that failed its check (unsigned, wrong signer, bad
    signature, wrong schema, free text): why, where, and the digest of their bytes. None of
    them was entered as a decision or an access event."""
    limit = _page_size(ctx, limit)
    leaves = ctx.store.entries_of_kind(EntryKind.REJECTED, limit=limit, offset=offset)
    return RejectionsPublic(
        total=ctx.store.count_of_kind(EntryKind.REJECTED),
        limit=limit,
        offset=offset,
        items=[rejection_view(leaf, decode_rejected(leaf.data)) for leaf in leaves],
    )


@router.get(
    "/decisions/{decision_id}/inclusion-proof",
    response_model=InclusionProofPublic,
    name="inclusion_proof",
)
def decision_inclusion_proof(
    ctx: Ctx,
    _access: Audited,
    decision_id: str,
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> InclusionProofPublic:
    """Entry files and RFC 9162 inclusion proofs for every leaf logged under a decision id,
    against the latest (or a given) signed checkpoint: `safehub audit verify inclusion`."""
    leaves = decision_leaves(ctx.store, decision_id)
    items = []
    note = b""
    for leaf in leaves:
        evidence = inclusion_evidence(
            ctx.store, leaf_index=leaf.leaf_index, tree_size=tree_size, catalog=ctx.catalog
        )
        size = evidence.checkpoint.checkpoint.tree_size
        # The witnesses' cosignatures after the log's signature, as the latest checkpoint has.
        note = cosigned_note(
            evidence.checkpoint.note,
            ctx.cosignatures.for_checkpoint(size) if ctx.cosignatures else [],
        )
        items.append(
            InclusionItemPublic(
                leaf_index=leaf.leaf_index,
                entry=json.loads(evidence.entry),
                proof=json.loads(evidence.proof),
            )
        )
    return InclusionProofPublic(decision_id=decision_id, checkpoint=note.decode(), proofs=items)


@router.get("/checkpoints/latest", response_class=PlainTextResponse, name="latest_checkpoint")
def latest_checkpoint(ctx: Ctx, access: Audited) -> PlainTextResponse:
    """The latest signed checkpoint (a C2SP signed note)."""
    latest = ctx.store.latest_checkpoint()
    if latest is None:
        raise NotYetCheckpointed("the log has not signed a checkpoint yet")
    cosigned = (
        ctx.cosignatures.for_checkpoint(latest.checkpoint.tree_size) if ctx.cosignatures else []
    )
    return PlainTextResponse(
        cosigned_note(latest.note, cosigned).decode(),
        headers={ACCESS_LEAF_HEADER: str(access.leaf_index)},
    )


@router.get("/checkpoints/consistency", response_model=ConsistencyPublic, name="consistency")
def consistency(
    ctx: Ctx,
    _access: Audited,
    old_size: Annotated[int, Query(ge=0)],
    new_size: Annotated[int | None, Query(ge=0)] = None,
) -> ConsistencyPublic:
    """Proof that the checkpoint at new_size (default latest) extends the one at old_size."""
    evidence = consistency_evidence(ctx.store, old_size=old_size, new_size=new_size)
    return ConsistencyPublic(
        old_checkpoint=evidence.old.note.decode(),
        new_checkpoint=evidence.new.note.decode(),
        proof=json.loads(evidence.proof),
    )


# ---------------------------------------------------------------------------------------------
# Errors and wiring


def _audit_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, AuditError)
    status = 500
    if isinstance(error, NotFound):
        status = 404
    elif isinstance(error, NotYetCheckpointed):
        status = 409
    elif isinstance(error, ProofRequestInvalid):
        status = 400
    elif isinstance(error, StorageError):
        status = 503
    return JSONResponse({"detail": error.reason}, status_code=status)


def create_app(
    settings: AuditSettings | None = None,
    hub: HubSettings | None = None,
    *,
    store: AuditStore | None = None,
    validator: ClaimsValidator | None = None,
    clock_ms: Callable[[], int] = _now_ms,
    new_id: Callable[[], str] = _new_id,
    child_lookup: ChildIndex | None = None,
) -> FastAPI:
    """The IG API. Store, catalog and validator are built at startup from settings unless
    given; a store or validator passed in is not closed by the app."""
    settings = settings or AuditSettings()
    hub = hub or HubSettings()
    if validator is None:
        settings.resolved_token_issuer()  # TokenIssuerMissing now, not at the first request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        active_store = (
            store
            if store is not None
            else open_store(
                settings.database_url_for(hub),
                store_key=StoreKeyFile(settings.resolved_store_key_path(hub)),
            )
        )
        client: httpx.AsyncClient | None = None
        active_validator = validator
        if active_validator is None:
            client = http_client(hub)
            active_validator = RoleTokenValidator(
                jwks=RemoteJwks(settings.resolved_jwks_url(), client=client),
                issuer=settings.resolved_token_issuer(),
                audience=settings.token_audience,
                roles_claim=settings.roles_claim,
            )
        app.state.ctx = ApiContext(
            settings=settings,
            store=active_store,
            catalog=SchemaCatalog(hub.schemas_dir),
            validator=active_validator,
            clock_ms=clock_ms,
            new_id=new_id,
            agency_of_organisation={
                a.organisation: a.code for a in load_topology(hub.policies_dir).agencies
            },
            cosignatures=CosignatureStore(active_store.engine)
            if isinstance(active_store, SqlAuditStore)
            else None,
        )
        # An agency's own service client reads its withdrawals' receipts (retraction_api.py).
        setattr(
            app.state,
            RETRACTION_CLIENTS_STATE,
            TokenValidator(
                jwks=RemoteJwks(settings.resolved_jwks_url(), client=client),
                issuer=settings.resolved_token_issuer(),
                audience=settings.service_token_audience,
            )
            if client is not None and settings.service_token_audience
            else None,
        )
        # Approved family reports outlive a restart (family_approvals.py).
        app.state.family_reviews = SqliteFamilyApprovals(
            settings.resolved_family_approvals_path(hub)
        )
        # IG officers' reviews of emergency access outlive a restart (issue 18).
        setattr(
            app.state,
            BREAK_GLASS_REVIEWS_STATE,
            SqliteBreakGlassReviews(settings.resolved_break_glass_reviews_path(hub)),
        )
        # Typed values (a request's reference) are logged keyed: hubkit.keyed_digest.
        app.state.digest_key = ensure_digest_key(settings.resolved_digest_key_file(hub))
        try:
            yield
        finally:
            app.state.family_reviews.close()
            getattr(app.state, BREAK_GLASS_REVIEWS_STATE).close()
            if client is not None:
                await client.aclose()
            if own_store:
                active_store.close()

    app = FastAPI(
        title="safehub audit: IG queries",
        description=__doc__,
        version="1",
        lifespan=lifespan,
    )
    app.add_exception_handler(AuthError, auth_error_response)
    app.add_exception_handler(AuditError, _audit_error)
    install_ig_signin(app, settings, hub)  # /ig/: IG officers sign in with a browser

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
    # The family's report (issue 17): find the child, review, approve, PDF.
    app.state.child_lookup = child_lookup or child_lookup_from_settings(
        ChildLookupSettings(), hub, token_issuer=settings.token_issuer
    )
    app.include_router(
        family_router(
            audited=_audited,
            sar=lambda c, k: _sar(c, k, None, None),
            policies_dir=hub.policies_dir,
        )
    )
    # Prevalence figures and the decision mix (issue 17), as page or CSV.
    app.include_router(figures_router(audited=_audited, policies_dir=hub.policies_dir))
    # Receipts of a withdrawn notice (issue 18): IG officers and the sender's own client.
    app.include_router(retraction_router(leaf_header=ACCESS_LEAF_HEADER))
    # The owning agency's IG officer reviews emergency access (issue 18).
    app.include_router(break_glass_router(audited=_audited))
    # Offline receipts (issue 19): tlog-proofs against the checkpoint the witnesses cosigned.
    policy_path = settings.witness_policy_path
    policy = parse_policy(policy_path.read_text(encoding="utf-8")) if policy_path else None
    app.include_router(receipt_router(audited=_audited, policy=policy))
    # The erasure job logs intent, deletion and confirmation (issue 18, erasure_routes.py).
    app.include_router(erasure_router())
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory`: settings from the environment."""
    return create_app(AuditSettings(), HubSettings())
