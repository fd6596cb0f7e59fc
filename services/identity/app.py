"""The identity service's HTTP edge (port 18205 locally).

POST /token                               OAuth2 token endpoint (form-encoded)
GET  /.well-known/jwks.json               public keys that verify access tokens
GET  /.well-known/openid-configuration    discovery document
GET  /authorize, POST /authorize          people sign in (authorization code + PKCE;
                                          services/identity/login.py)
POST /device_authorization, GET/POST /device
                                          people at a command line sign in (device grant,
                                          RFC 8628; services/identity/device_login.py)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.hubkit.jwt_algorithms import ACCEPTED_ALGORITHMS
from services.hubkit.jwt_keys import SIGNING_ALGORITHM, load_or_create_key, public_jwks
from services.hubkit.settings import HubSettings
from services.identity.authcode import (
    AuthorizationCodeGrant,
    CodeStore,
    PendingLogins,
    PersonTokenIssuer,
)
from services.identity.client_registry import load_client_registry
from services.identity.clients import FileClientRegistry
from services.identity.device import DeviceAuthorizations, DeviceCodeGrant
from services.identity.device_login import DeviceRuntime, device_router
from services.identity.errors import IdentityError, InvalidRequest
from services.identity.grants import (
    ClientCredentialsGrant,
    GrantRegistry,
    PrivateKeyJwtAuthenticator,
    TokenIssuer,
)
from services.identity.login import PeopleRuntime, login_router
from services.identity.oidc import PERSON_SCOPES
from services.identity.settings import IdentitySettings
from services.identity.used_assertions import SqliteUsedAssertions
from services.identity.user_code_attempts import UserCodeAttemptsLog, UserCodeLimits
from services.identity.users import (
    DEFAULT_USERS_FILE,
    LoginThrottle,
    PasswordCheck,
    ThreadedPasswordCheck,
    UserDirectory,
)

__all__ = ["IdentityRuntime", "create_app"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Claims in the tokens this provider issues (services: agency; people: the OIDC ones, roles).
_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "client_id",
    "agency",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "name",
    "preferred_username",
    "roles",
    "organisation",
)


class TokenAnswer(BaseModel):
    """A successful token response (RFC 6749 section 5.1)."""

    access_token: str = Field(description="The JWT access token.", examples=["eyJhbGciOi..."])
    token_type: str = Field(description="Always 'Bearer'.", examples=["Bearer"])
    expires_in: int = Field(description="Lifetime in seconds.", examples=[600])
    scope: str = Field(description="Granted scopes, space-separated.", examples=["notices:publish"])
    id_token: str | None = Field(
        default=None, description="OIDC ID token; only for the authorization-code grant."
    )


class TokenError(BaseModel):
    """An error response (RFC 6749 section 5.2)."""

    error: str = Field(description="Error code.", examples=["invalid_client"])
    error_description: str = Field(
        description="What went wrong.", examples=["client assertion has expired"]
    )


@dataclass(frozen=True, slots=True)
class IdentityRuntime:
    settings: IdentitySettings
    grants: GrantRegistry
    jwks: dict[str, Any]


def _runtime(request: Request) -> IdentityRuntime:
    return cast(IdentityRuntime, request.app.state.runtime)


discovery = APIRouter(tags=["discovery"])
token = APIRouter(tags=["oauth2"])


@discovery.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(_runtime(request).jwks, headers={"Cache-Control": "max-age=300"})


@discovery.get("/.well-known/openid-configuration", summary="Discovery document")
async def openid_configuration(request: Request) -> dict[str, Any]:
    runtime = _runtime(request)
    settings = runtime.settings
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": settings.authorization_endpoint,
        "device_authorization_endpoint": settings.device_authorization_endpoint,
        "token_endpoint": settings.token_endpoint,
        "jwks_uri": settings.jwks_uri,
        "grant_types_supported": runtime.grants.grant_types,
        # "none": public command-line clients of the device grant only (device.py).
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
        "scopes_supported": ["notices:publish", *PERSON_SCOPES],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
        "claims_supported": list(_CLAIMS),
    }


@token.post(
    "/token",
    summary="OAuth2 token endpoint",
    description=(
        "application/x-www-form-urlencoded. Client credentials: grant_type="
        "client_credentials, client_assertion_type=urn:ietf:params:oauth:client-assertion-"
        "type:jwt-bearer, client_assertion=<JWT signed with the client's key: iss=sub="
        "client id, aud=this endpoint's URL, exp within 5 minutes, unique jti (each "
        "assertion is accepted once, ever)>, optional scope and client_id. Authorization "
        "code: the same client authentication, code, redirect_uri, code_verifier, and "
        "optionally resource (RFC 8707), which must be the API the code was issued for. "
        "Device code (RFC 8628): grant_type=urn:ietf:params:oauth:grant-type:device_code, "
        "device_code and client_id, from a registered command-line client (public: no client "
        "authentication); answers authorization_pending, slow_down, expired_token or "
        "access_denied until the person has approved."
    ),
    response_model=TokenAnswer,
    responses={400: {"model": TokenError}, 401: {"model": TokenError}},
)
async def issue_token(request: Request) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise InvalidRequest("send the parameters as application/x-www-form-urlencoded")
    form = await request.form()
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in values:
            raise InvalidRequest(f"parameter {name!r} is repeated")
        if not isinstance(value, str):
            raise InvalidRequest(f"parameter {name!r} must be a plain value")
        values[name] = value
    answer = _runtime(request).grants.handle(values)
    body = TokenAnswer(
        access_token=answer.access_token,
        token_type=answer.token_type,
        expires_in=answer.expires_in,
        scope=answer.scope,
        id_token=answer.id_token,
    )
    return JSONResponse(body.model_dump(exclude_none=True), headers=_NO_STORE)


async def _on_identity_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdentityError)
    body = TokenError(error=exc.error, error_description=exc.description)
    return JSONResponse(body.model_dump(), status_code=exc.status, headers=_NO_STORE)


def create_app(
    settings: HubSettings,
    identity: IdentitySettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> FastAPI:
    """The identity app; keys and registrations live under the identity state dir."""
    identity_settings = identity or IdentitySettings()
    state_dir = identity_settings.resolved_state_dir(settings.data_dir)
    # Read now, so a registry that cannot be used stops the provider before it serves
    # (ClientRegistryInvalid), not at a client's first token request.
    declared = (
        load_client_registry(identity_settings.clients_file)
        if identity_settings.clients_file is not None
        else {}
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        key = load_or_create_key(state_dir / "issuer-key.pem")
        # On disk: a used assertion stays used across restarts and replicas (RFC 7523).
        used_assertions = SqliteUsedAssertions(
            identity_settings.resolved_used_assertions_path(settings.data_dir)
        )
        authenticator = PrivateKeyJwtAuthenticator(
            registry=FileClientRegistry(state_dir / "clients", declared),
            settings=identity_settings,
            replay=used_assertions,
            clock=clock,
        )
        issuer = TokenIssuer(key=key, settings=identity_settings, clock=clock, new_id=new_id)
        # People: a user directory (data), password hashes checked off the event loop, the
        # code grant.
        users = UserDirectory.load(identity_settings.users_file or DEFAULT_USERS_FILE)
        codes = CodeStore()
        app.state.people = PeopleRuntime(
            settings=identity_settings,
            clients=FileClientRegistry(state_dir / "clients", declared),
            logins=PendingLogins(),
            codes=codes,
            passwords=ThreadedPasswordCheck(
                PasswordCheck.from_state(users, state_dir),
                threads=identity_settings.password_check_threads,
                queue=identity_settings.password_check_queue,
            ),
            throttle=LoginThrottle(),
            clock=clock,
        )
        person_tokens = PersonTokenIssuer(
            key=key, settings=identity_settings, users=users, clock=clock, new_id=new_id
        )
        code_grant = AuthorizationCodeGrant(
            authenticator=authenticator, codes=codes, issuer=person_tokens, clock=clock
        )
        clients = FileClientRegistry(state_dir / "clients", declared)
        devices = DeviceAuthorizations()
        app.state.devices = DeviceRuntime(
            pending=devices,
            clients=clients,
            wrong_codes=UserCodeAttemptsLog(
                UserCodeLimits(
                    per_address=identity_settings.device_wrong_codes_per_address,
                    overall=identity_settings.device_wrong_codes_overall,
                    window_s=identity_settings.device_wrong_codes_window_s,
                )
            ),
        )
        device_grant = DeviceCodeGrant(
            clients=clients.get, pending=devices, issuer=person_tokens, clock=clock
        )
        app.state.runtime = IdentityRuntime(
            settings=identity_settings,
            grants=GrantRegistry(
                ClientCredentialsGrant(authenticator=authenticator, issuer=issuer),
                code_grant,
                device_grant,
            ),
            jwks=public_jwks(key),
        )
        try:
            yield
        finally:
            used_assertions.close()

    app = FastAPI(
        title="safehub identity (local OAuth2 provider)",
        description=(
            "Issues access tokens to registered clients (client credentials, private_key_jwt). "
            "For local use and tests; adapters accept tokens from any issuer configured with "
            "its JWKS."
        ),
        version="1.0.0",
        lifespan=lifespan,
    )
    app.add_exception_handler(IdentityError, _on_identity_error)
    app.include_router(discovery)
    app.include_router(token)
    app.include_router(login_router)
    app.include_router(device_router)
    return app
