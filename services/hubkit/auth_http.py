"""The HTTP answer to a `services.hubkit.auth.AuthError`, for a FastAPI app's exception
handler: 401 (unauthenticated) or 403 (forbidden) with `WWW-Authenticate: Bearer
error="<code>"` (RFC 6750; no error code when no token was sent at all, section 3.1), or 503
when the key set cannot be fetched. The body is an RFC 9457 problem document
(services/hubkit/problems.py: type, title, status, and in `detail` the error's message, which
says what to fix, e.g. which audience the token must be for).

    app.add_exception_handler(AuthError, auth_error_response)
"""

from __future__ import annotations

from fastapi import Request, Response

from services.hubkit.auth import AuthError, Forbidden, JwksUnavailable
from services.hubkit.problems import problem_response, problem_type_uri

__all__ = ["auth_error_response", "bearer_challenge"]


def bearer_challenge(error: AuthError, *, realm: str | None = None) -> str:
    """The `WWW-Authenticate` value for a refused token (RFC 6750 section 3): the error code
    when there is one; none for a request that sent no token at all (section 3.1)."""
    params = [f'realm="{realm}"'] if realm else []
    if error.error_code is not None:
        params.append(f'error="{error.error_code}"')
        if realm:
            description = str(error).replace('"', "'")
            params.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


def auth_error_response(request: Request, error: Exception) -> Response:
    assert isinstance(error, AuthError)
    if isinstance(error, JwksUnavailable):
        kind, title, status = "issuer-unavailable", "Token issuer unavailable", 503
        headers = {"Retry-After": "5"}
    else:
        forbidden = isinstance(error, Forbidden)
        status = 403 if forbidden else 401
        kind = "forbidden" if forbidden else "unauthenticated"
        title = "Not allowed" if forbidden else "Not authenticated"
        headers = {"WWW-Authenticate": bearer_challenge(error)}
    return problem_response(
        problem_type_uri(kind), title=title, status=status, detail=str(error), headers=headers
    )
