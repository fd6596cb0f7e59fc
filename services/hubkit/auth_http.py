"""The HTTP answer to a `services.hubkit.auth.AuthError`, for a FastAPI app's exception
handler: 401 (unauthenticated) or 403 (forbidden) with `WWW-Authenticate: Bearer
error="<code>"` (RFC 6750), or 503 when the key set cannot be fetched. The body is
`{"detail": <the error's message>}`.

    app.add_exception_handler(AuthError, auth_error_response)
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from services.hubkit.auth import AuthError, Forbidden, JwksUnavailable

__all__ = ["auth_error_response"]


def auth_error_response(request: Request, error: Exception) -> Response:
    assert isinstance(error, AuthError)
    if isinstance(error, JwksUnavailable):
        return JSONResponse({"detail": str(error)}, status_code=503)
    status = 403 if isinstance(error, Forbidden) else 401
    challenge = f'Bearer error="{error.error_code}"'
    return JSONResponse(
        {"detail": str(error)}, status_code=status, headers={"WWW-Authenticate": challenge}
    )
