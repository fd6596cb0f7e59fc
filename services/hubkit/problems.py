"""RFC 9457 problem documents: how every safehub HTTP service answers a request it refuses.

The body is `application/problem+json` with the members of RFC 9457 section 3.1, in this
order: `type` (a URI naming the kind of problem: one slug under the hub's problem types),
`title` (the same for every problem of that type), `status` (the HTTP status again) and
`detail` (what was wrong with this request, and what to do). Extension members (section 3.2)
follow them: the adapters add `errors` (field-level errors) and `notice_id`.

    return problem_response(
        problem_type_uri("identifiers-incomplete"),
        title="Identifiers incomplete",
        status=422,
        detail=str(incomplete),
    )

Error trees name their problem types with `problem_type_uri`, and one of them
(services/adapters/ingest/errors.py) is imported by a pure core that never imports the web
framework: so this module imports it only when it renders a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.responses import JSONResponse

__all__ = ["PROBLEM_MEDIA_TYPE", "problem_response", "problem_type_uri"]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_TYPES = "https://safehub.example/problems/"


def problem_type_uri(slug: str) -> str:
    """The `type` URI of the problem named `slug`, e.g. 'body-too-large'."""
    return _PROBLEM_TYPES + slug


def problem_response(
    problem_type: str,
    *,
    title: str,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """The problem document as a `status` response. `extensions` follow `detail` in the order
    given and must already be JSON values (a pydantic model's `model_dump(mode="json")`).
    `headers` are sent as given: WWW-Authenticate on a 401/403, Retry-After on a 503."""
    from fastapi.responses import JSONResponse  # here, not above: see the module docstring

    body = {"type": problem_type, "title": title, "status": status, "detail": detail, **extensions}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)
