"""The thin HTTP edge every adapter shares: app factory, lifespan wiring, auth, error mapping.

An adapter module supplies its routers (native models in, pure mapping) and calls
`build_adapter_app`. This module owns everything else: the producer and publisher (built
once in the lifespan), the idempotency store, token validation, the child index client
(children's keys come from services/childindex: the adapter holds no linkage secret), and
turning every error into a problem document with field-level errors.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.types import Scope

from services.adapters.ingest.child_index import HttpChildIndex
from services.adapters.ingest.child_keys import (
    ChildIndex,
    KeysNotResolved,
    ResolvedKeys,
    WantedKeys,
)
from services.adapters.ingest.csv_batch import BatchItem
from services.adapters.ingest.errors import (
    BatchTooLarge,
    ConfigurationMissing,
    IngestError,
    NoticeTooLarge,
    PublishUnavailable,
    RecordInvalid,
    ReferenceConflict,
)
from services.adapters.ingest.guard import CLAIMS_SCOPE_KEY, BodyLimits, IngestGuard
from services.adapters.ingest.idempotency import SqliteIdempotencyStore
from services.adapters.ingest.mapping import Mapped, MappingContext, MappingFailed, Notice
from services.adapters.ingest.notice_size import NoticeSizeLimits, SizeCheckedSink
from services.adapters.ingest.openapi_examples import RequestExample, add_examples
from services.adapters.ingest.pipeline import Candidate, IngestPipeline, Status
from services.adapters.ingest.problems import FieldError, Problem, field_errors_from_validation
from services.adapters.ingest.retraction_routes import retraction_router
from services.adapters.ingest.retractions import HttpRetractionAudit, RetractionDesk
from services.adapters.ingest.settings import AdapterSettings
from services.hubkit.auth import (
    AUDIT_RETRACTIONS_SCOPE,
    RESOLVE_CHILDREN_SCOPE,
    AccessClaims,
    AuthError,
    Forbidden,
    JwksSource,
    JwksUnavailable,
    RemoteJwks,
    TokenValidator,
    authorise_agency,
    bearer_token,
)
from services.hubkit.auth_http import bearer_challenge
from services.hubkit.bus import make_producer
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import load_signing_key
from services.hubkit.problems import problem_response, problem_type_uri
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client as hub_http_client
from services.hubkit.topology import AgencyEntry, load_topology

__all__ = [
    "PROBLEM_RESPONSES",
    "AdapterRuntime",
    "BatchReport",
    "Ingest",
    "IngestDep",
    "NoticeAccepted",
    "RowResult",
    "build_adapter_app",
]

_log = logging.getLogger(__name__)

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class NoticeAccepted(BaseModel):
    """The record was published (or had been already): the broker acknowledged it."""

    notice_id: str = Field(
        description="Deterministic notice id: the same source record always gets the same id.",
        examples=["3f2c9a4e-5b1d-5e7f-8a9b-0c1d2e3f4a5b"],
    )
    source_reference: str = Field(
        description=(
            "The source reference the notice carries (the record's reference, with '/r<n>' "
            "for a revision n > 1): what POST /v1/retractions names to withdraw it."
        ),
        examples=["HLT-2026-000123"],
    )
    status: Literal["published", "duplicate"] = Field(
        description=(
            "'published' when this request published the notice; 'duplicate' when the same "
            "record was published before (nothing new was published)."
        ),
        examples=["published"],
    )
    warnings: list[FieldError] = Field(
        default_factory=list,
        description=(
            "Problems that did not stop the notice: it was published without the value the "
            "pointer names (e.g. an unknown census factor, an unreadable school URN), or "
            "without something that depends on it (e.g. no return interview due time when "
            "the return time is unknown). Fix the record and send a correction "
            "(revision + 1) when the missing value matters. Empty when there were none."
        ),
        examples=[
            [
                {
                    "pointer": "/assessment_factors/2",
                    "code": "census_factor_unknown",
                    "message": "not a CIN census assessment factor (N00181); left out",
                }
            ]
        ],
    )


RowStatus = Literal["published", "duplicate", "rejected", "conflict", "failed"]


class RowResult(BaseModel):
    """What happened to one row of an upload."""

    row: int = Field(
        description="1-based data row number (the header is not counted).", examples=[3]
    )
    line: int = Field(description="Line in the file where the row ends.", examples=[4])
    status: RowStatus = Field(
        description=(
            "published: acknowledged by the broker now; duplicate: published before, not "
            "again; rejected: invalid, or its notice over the notice size limit, see errors; "
            "conflict: reference reused for different "
            "content; failed: the broker did not acknowledge, retry the row."
        ),
        examples=["rejected"],
    )
    notice_id: str | None = Field(
        default=None,
        description="Notice id of the row's notice; null when the row was rejected.",
        examples=["3f2c9a4e-5b1d-5e7f-8a9b-0c1d2e3f4a5b"],
    )
    warnings: list[FieldError] = Field(
        default_factory=list,
        description=(
            "Problems that did not stop the row's notice: it was published without the value "
            "in the column the pointer names, or without something that depends on it (e.g. "
            "no return interview due time when the return time is unknown). Empty when there "
            "were none."
        ),
        examples=[
            [
                {
                    "pointer": "/MIS_END_TIME",
                    "code": "time_unknown",
                    "message": "return time not given: no return interview due time is set",
                }
            ]
        ],
    )
    errors: list[FieldError] = Field(
        default_factory=list,
        description="Field-level errors for a rejected row; pointers name the column.",
        examples=[
            [
                {
                    "pointer": "/MIS_START",
                    "code": "date_from_datetime_parsing",
                    "message": "Input should be a valid date",
                }
            ]
        ],
    )
    detail: str | None = Field(
        default=None,
        description="Explanation for a conflict or failure.",
        examples=["the broker did not acknowledge (KafkaTimeoutError); retry the same record"],
    )


class BatchReport(BaseModel):
    """Per-row results of an upload. Good rows were published; bad rows were not."""

    rows_total: int = Field(description="Data rows in the upload.", examples=[3])
    published: int = Field(description="Rows published by this upload.", examples=[1])
    duplicates: int = Field(description="Rows already published before.", examples=[1])
    rejected: int = Field(description="Rows that failed validation.", examples=[1])
    conflicts: int = Field(description="Rows whose reference was reused.", examples=[0])
    failed: int = Field(description="Rows the broker did not acknowledge.", examples=[0])
    rows: list[RowResult] = Field(
        description="One result per data row, in file order.",
        examples=[
            [
                {
                    "row": 1,
                    "line": 2,
                    "status": "published",
                    "notice_id": "3f2c9a4e-5b1d-5e7f-8a9b-0c1d2e3f4a5b",
                    "errors": [],
                    "detail": None,
                },
            ]
        ],
    )


class HealthStatus(BaseModel):
    status: Literal["ok"] = Field(
        description="Always 'ok' when the adapter answers.", examples=["ok"]
    )
    agency: str = Field(description="The agency this adapter publishes for.", examples=["POLICE"])


def _problem_doc(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_doc("No, expired or invalid access token (nothing published)."),
    403: _problem_doc("The token is for another agency or lacks the publish scope."),
    409: _problem_doc("The source reference was already published with different content."),
    413: _problem_doc(
        "The request body or upload is over the size limit, the upload has too many rows, "
        "or (problem type notice-too-large) the notice the record maps to is over the "
        "adapter's notice size limit; `errors` names the limit. Nothing is published."
    ),
    422: _problem_doc("The record is invalid; `errors` lists every field-level problem."),
    503: _problem_doc(
        "The broker, the token issuer or the child index (problem type "
        "child-index-unavailable) is unavailable; nothing was published, retry later."
    ),
}


@dataclass(frozen=True, slots=True)
class AdapterRuntime:
    """Everything built once at startup, shared by every request."""

    agency: AgencyEntry
    context: MappingContext
    child_index: ChildIndex
    pipeline: IngestPipeline
    validator: TokenValidator
    settings: AdapterSettings


class Ingest:
    """The per-request face of the pipeline, for a caller already authorised."""

    def __init__(self, runtime: AdapterRuntime, claims: AccessClaims) -> None:
        self._runtime = runtime
        self.claims = claims

    @property
    def context(self) -> MappingContext:
        return self._runtime.context

    @property
    def max_rows(self) -> int:
        return self._runtime.settings.max_batch_rows

    @property
    def max_cell_chars(self) -> int:
        return self._runtime.settings.max_csv_cell_chars

    async def keyed(self, build: Callable[[MappingContext], T]) -> T:
        """Run the pure `build` (a mapping of one record or of every row) with the children's
        keys from the child index: once to learn whose keys it needs, then, with the index's
        answers, for real (services/adapters/ingest/child_keys.py). MappingFailed from the
        first run propagates before the index is asked; ChildIndexUnavailable (503) when the
        index cannot answer."""
        wanted = WantedKeys()
        build(dataclasses.replace(self._runtime.context, child_keys=wanted))
        children = wanted.identifiers
        keys = await self._runtime.child_index.resolve(children)
        resolved = ResolvedKeys(dict(zip(children, keys, strict=True)))
        return build(dataclasses.replace(self._runtime.context, child_keys=resolved))

    async def one(self, record: R, mapper: Callable[[R, MappingContext], Mapped]) -> NoticeAccepted:
        try:
            mapped = await self.keyed(lambda ctx: mapper(record, ctx))
        except MappingFailed as failed:
            raise RecordInvalid(failed.errors) from None
        (outcome,) = await self._runtime.pipeline.submit([Candidate.of(mapped.notice)])
        _log.info(
            "client %s: notice %s %s, %d warnings",
            self.claims.client_id,
            outcome.notice_id,
            outcome.status,
            len(mapped.warnings),
        )
        warnings = list(mapped.warnings)
        reference = str(mapped.notice["source"]["source_reference"])
        if outcome.status is Status.PUBLISHED:
            return NoticeAccepted(
                notice_id=outcome.notice_id,
                source_reference=reference,
                status="published",
                warnings=warnings,
            )
        if outcome.status is Status.DUPLICATE:
            return NoticeAccepted(
                notice_id=outcome.notice_id,
                source_reference=reference,
                status="duplicate",
                warnings=warnings,
            )
        if outcome.status is Status.TOO_LARGE:
            raise NoticeTooLarge(
                outcome.detail or "notice too large",
                notice_id=outcome.notice_id,
                errors=outcome.errors,
            )
        if outcome.status is Status.CONFLICT:
            raise ReferenceConflict(
                outcome.detail or "reference conflict",
                notice_id=outcome.notice_id,
                errors=[
                    FieldError(
                        pointer="",
                        code="reference_conflict",
                        message=outcome.detail or "reference already used for different content",
                    )
                ],
            )
        raise PublishUnavailable(outcome.detail or "not acknowledged", notice_id=outcome.notice_id)

    async def read_upload(self, upload: UploadFile) -> bytes:
        limit = self._runtime.settings.max_upload_bytes
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise BatchTooLarge(f"upload is larger than {limit} bytes; split it")
        return data

    async def batch(self, items: Sequence[BatchItem]) -> JSONResponse:
        to_publish = [item for item in items if item.notice is not None]
        outcomes = await self._runtime.pipeline.submit(
            [Candidate.of(cast(Notice, item.notice)) for item in to_publish]
        )
        by_row = {item.row: outcome for item, outcome in zip(to_publish, outcomes, strict=True)}
        results: list[RowResult] = []
        for item in items:
            outcome = by_row.get(item.row)
            if outcome is None:
                results.append(
                    RowResult(
                        row=item.row, line=item.line, status="rejected", errors=list(item.errors)
                    )
                )
            else:
                # A valid row whose notice is over a size limit is refused like an invalid row.
                refused = outcome.status is Status.TOO_LARGE
                results.append(
                    RowResult(
                        row=item.row,
                        line=item.line,
                        status=_ROW_STATUS[outcome.status],
                        notice_id=None if refused else outcome.notice_id,
                        warnings=[] if refused else list(item.warnings),
                        errors=list(outcome.errors),
                        detail=outcome.detail,
                    )
                )
        counts = {status: sum(1 for r in results if r.status == status) for status in _STATUSES}
        report = BatchReport(
            rows_total=len(results),
            published=counts["published"],
            duplicates=counts["duplicate"],
            rejected=counts["rejected"],
            conflicts=counts["conflict"],
            failed=counts["failed"],
            rows=results,
        )
        _log.info(
            "client %s: batch of %d rows: %d published, %d duplicate, %d rejected, %d conflict, "
            "%d failed",
            self.claims.client_id,
            report.rows_total,
            report.published,
            report.duplicates,
            report.rejected,
            report.conflicts,
            report.failed,
        )
        return JSONResponse(
            report.model_dump(mode="json"), status_code=503 if report.failed else 200
        )


_STATUSES = ("published", "duplicate", "rejected", "conflict", "failed")
_ROW_STATUS: dict[Status, RowStatus] = {
    Status.PUBLISHED: "published",
    Status.DUPLICATE: "duplicate",
    Status.CONFLICT: "conflict",
    Status.FAILED: "failed",
    Status.TOO_LARGE: "rejected",
}

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="OAuth2ClientCredentials",
    description=(
        "An access token from the OAuth2 client-credentials grant (client authentication: "
        "private_key_jwt). Locally: POST http://127.0.0.1:18205/token; see docs/integrators.md."
    ),
)


def _runtime(request: Request) -> AdapterRuntime:
    return cast(AdapterRuntime, request.app.state.runtime)


async def _authorise_header(scope: Scope, header: str | None) -> AccessClaims:
    """Validate an Authorization header value for this adapter's agency (401/403/503)."""
    runtime = cast(AdapterRuntime, scope["app"].state.runtime)
    claims = await runtime.validator.validate(bearer_token(header))
    return authorise_agency(claims, agency=runtime.agency.code)


async def _authorised(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    # The guard middleware validated the token before reading the body; reuse its answer
    # rather than verify the signature twice. (`credentials` stays so OpenAPI documents it.)
    checked = request.scope.get(CLAIMS_SCOPE_KEY)
    if isinstance(checked, AccessClaims):
        return checked
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    return await _authorise_header(request.scope, header)


async def _ingest(
    request: Request, claims: Annotated[AccessClaims, Depends(_authorised)]
) -> Ingest:
    return Ingest(_runtime(request), claims)


IngestDep = Annotated[Ingest, Depends(_ingest)]
"""Route parameter: the authorised caller's pipeline. Auth runs before body validation, so
an unauthenticated caller learns nothing about the record format from error details."""


def _problem_response(
    problem_type: str,
    title: str,
    status: int,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    notice_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An adapter's problem document: the `Problem` schema, so `errors` and `notice_id` are
    there (empty, null) even when the refusal is not about a field or a notice."""
    return problem_response(
        problem_type,
        title=title,
        status=status,
        detail=detail,
        headers=headers,
        errors=[error.model_dump(mode="json") for error in errors],
        notice_id=notice_id,
    )


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors_from_validation(exc.errors(), exc.body, strip=("body",))
    return _ingest_error_response(RecordInvalid(errors))


async def _on_ingest_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestError)
    return _ingest_error_response(exc)


def _ingest_error_response(exc: IngestError) -> JSONResponse:
    return _problem_response(
        exc.problem_type,
        exc.title,
        exc.status,
        exc.detail,
        errors=exc.errors,
        notice_id=exc.notice_id,
        headers={"Retry-After": "5"} if exc.status == 503 else None,
    )


async def _on_auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    return _auth_error_response(exc)


def _auth_error_response(exc: AuthError) -> JSONResponse:
    if isinstance(exc, JwksUnavailable):
        return _problem_response(
            problem_type_uri("issuer-unavailable"),
            "Token issuer unavailable",
            503,
            "access tokens cannot be checked now; retry later",
            headers={"Retry-After": "5"},
        )
    status = 403 if isinstance(exc, Forbidden) else 401
    challenge = bearer_challenge(exc, realm="safehub")
    title = "Not allowed for this agency" if status == 403 else "Not authenticated"
    kind = "forbidden" if status == 403 else "unauthenticated"
    return _problem_response(
        problem_type_uri(kind), title, status, str(exc), headers={"WWW-Authenticate": challenge}
    )


def _refusal(exc: Exception) -> JSONResponse:
    """The problem response for an error the guard middleware refuses a request with."""
    if isinstance(exc, AuthError):
        return _auth_error_response(exc)
    assert isinstance(exc, IngestError)
    return _ingest_error_response(exc)


def _limits_description(limits: AdapterSettings) -> str:
    return (
        "\n\n**Limits.** The access token is checked before the body is read. JSON bodies: "
        f"at most {limits.max_json_bytes:,} bytes (413) and {limits.max_json_depth} levels "
        f"of nested objects/arrays (422). CSV uploads: at most {limits.max_upload_bytes:,} "
        f"bytes for the whole multipart body (413), {limits.max_batch_rows:,} rows (413) and "
        f"{limits.max_csv_cell_chars:,} characters per cell (422). Every free-text field and "
        "every list has a maximum length, shown on it below (maxLength / maxItems; 422 naming "
        "the field). Names refuse control characters and Unicode bidirectional controls (422). "
        f"Backstop: a signed notice over {limits.max_notice_bytes:,} bytes, or over "
        f"{limits.max_notice_view_bytes:,} bytes as recipients' JSON views render it, is "
        "refused with 413 notice-too-large (no valid record reaches either, see "
        "docs/integrators.md). Each refusal is a problem document; nothing is published."
    )


def _read_secret(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationMissing(
            f"{what} not found at {path}; run `safehub stack up` (or `safehub adapters serve`, "
            "which provisions keys)"
        ) from None


def build_adapter_app(
    *,
    agency: str,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    settings: HubSettings,
    adapter: AdapterSettings | None = None,
    jwks: JwksSource | None = None,
    http: httpx.AsyncClient | None = None,
    extra_schemas: Sequence[type[BaseModel]] = (),
    code_lists: Mapping[str, dict[str, Any]] | None = None,
    examples: Mapping[str, Mapping[str, RequestExample]] | None = None,
) -> FastAPI:
    """A ready adapter app. Nothing connects until the lifespan starts. `jwks` replaces the
    issuer's remote key set and `http` the client the adapter reaches the token endpoint and
    the child index with (tests serving them in process). `code_lists` are named enum
    components (services/adapters/ingest/code_lists.py) and `examples` whole requests per
    operation (services/adapters/ingest/openapi_examples.py), both for the OpenAPI page."""
    adapter_settings = adapter or AdapterSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topology = load_topology(settings.policies_dir)
        entry = topology.agency(agency)
        catalog = SchemaCatalog(settings.schemas_dir)
        _read_secret(settings.keys_dir / "private" / f"{entry.principal}.pem", "signing key")
        signing_key = load_signing_key(settings.keys_dir, entry.principal)
        http_client: httpx.AsyncClient | None = None
        outbound = http
        if outbound is None:
            http_client = outbound = hub_http_client(settings)
        source = jwks or RemoteJwks(adapter_settings.resolved_jwks_url(), client=outbound)
        index_client_id = adapter_settings.resolved_child_index_client_id(agency)
        child_index = HttpChildIndex(
            base_url=adapter_settings.child_index_url,
            http=outbound,
            credentials=ClientCredentials(
                http=outbound,
                token_endpoint=adapter_settings.resolved_token_endpoint(),
                client_id=index_client_id,
                private_key_path=adapter_settings.resolved_child_index_client_key(
                    settings.data_dir, index_client_id
                ),
                scope=RESOLVE_CHILDREN_SCOPE,
                timeout_s=adapter_settings.child_index_timeout_s,
            ),
            timeout_s=adapter_settings.child_index_timeout_s,
        )
        store = SqliteIdempotencyStore(
            adapter_settings.store_path(settings.data_dir, agency),
            lease_s=adapter_settings.claim_lease_s,
        )
        producer = make_producer(settings, entry.principal)
        await producer.start()
        try:
            publisher = NoticePublisher(
                producer=producer, catalog=catalog, agency=entry, signing_key=signing_key
            )
            # Retractions (issue 18): published through the same publisher (the agency's
            # key, its topic), remembered in the same store; their receipts asked of the
            # audit service as the same client as the child index, for its own scope.
            app.state.retractions = RetractionDesk(
                agency=entry.code,
                organisation_code=entry.organisation,
                store=store,
                publisher=publisher,
                audit=HttpRetractionAudit(
                    base_url=adapter_settings.audit_url,
                    http=outbound,
                    credentials=ClientCredentials(
                        http=outbound,
                        token_endpoint=adapter_settings.resolved_token_endpoint(),
                        client_id=index_client_id,
                        private_key_path=adapter_settings.resolved_child_index_client_key(
                            settings.data_dir, index_client_id
                        ),
                        scope=AUDIT_RETRACTIONS_SCOPE,
                        timeout_s=adapter_settings.audit_timeout_s,
                    ),
                    timeout_s=adapter_settings.audit_timeout_s,
                ),
            )
            app.state.runtime = AdapterRuntime(
                agency=entry,
                context=MappingContext(
                    agency=entry.code,
                    organisation_code=entry.organisation,
                    organisation_name=entry.name,
                    child_keys=KeysNotResolved(),
                ),
                child_index=child_index,
                pipeline=IngestPipeline(
                    sink=SizeCheckedSink(
                        publisher,
                        NoticeSizeLimits(
                            max_signed_bytes=adapter_settings.max_notice_bytes,
                            max_view_bytes=adapter_settings.max_notice_view_bytes,
                        ),
                    ),
                    store=store,
                    in_flight_wait_s=adapter_settings.in_flight_wait_s,
                ),
                validator=TokenValidator(
                    jwks=source,
                    issuer=adapter_settings.token_issuer,
                    audience=adapter_settings.token_audience,
                    agency_claim=adapter_settings.agency_claim,
                ),
                settings=adapter_settings,
            )
            yield
        finally:
            await producer.stop()
            store.close()
            if http_client is not None:
                await http_client.aclose()

    app = FastAPI(
        title=title,
        description=description + _limits_description(adapter_settings),
        version="1.0.0",
        lifespan=lifespan,
    )
    app.add_middleware(
        IngestGuard,
        limits=BodyLimits(
            max_json_bytes=adapter_settings.max_json_bytes,
            max_upload_bytes=adapter_settings.max_upload_bytes,
            max_json_depth=adapter_settings.max_json_depth,
        ),
        authorise=_authorise_header,
        refuse=_refusal,
        refused=(AuthError, IngestError),
    )
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(IngestError, _on_ingest_error)
    app.add_exception_handler(AuthError, _on_auth_error)

    @app.get("/healthz", tags=["operations"], summary="Liveness check (no token needed)")
    async def healthz() -> HealthStatus:
        return HealthStatus(status="ok", agency=agency)

    for router in routers:
        app.include_router(router)
    app.include_router(retraction_router(_authorised, _problem_doc))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in extra_schemas:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        components.update(code_lists or {})
        add_examples(schema, examples or {})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
