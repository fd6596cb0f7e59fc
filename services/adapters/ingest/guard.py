"""Request guard for the ingest routes: token first, then size limits, then nesting depth.

A pure ASGI middleware, so it runs before FastAPI reads or parses anything:

1. The bearer token is validated from the headers alone. A caller without a valid token gets
   the adapters' usual 401 (or 403 / 503) problem document and the body is never read, so an
   anonymous caller cannot make the adapter buffer megabytes, and learns nothing about the
   record format from parse errors.
2. A declared Content-Length over the route's limit is refused with 413 without reading the
   body; a chunked body is read only until it passes the limit, then refused with 413.
3. A JSON body nested deeper than the limit is refused with 422 before any parser sees it
   (deep nesting is a way to exhaust the parser and validator, never a real record).

The body that passes is handed on unchanged. The limits and the checks are pure functions
below; the middleware only wires them to ASGI.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.adapters.ingest.errors import BodyTooLarge, RecordInvalid
from services.adapters.ingest.problems import FieldError

__all__ = [
    "CLAIMS_SCOPE_KEY",
    "BodyLimits",
    "IngestGuard",
    "body_limit",
    "declared_length",
    "exceeds_depth",
    "is_json",
]

CLAIMS_SCOPE_KEY = "safehub.claims"
"""Scope key under which the guard leaves the validated claims for the route dependency."""

_GUARDED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_json_bytes: int
    max_upload_bytes: int
    max_json_depth: int


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def is_json(content_type: str | None) -> bool:
    """application/json, application/fhir+json, ... (and no content type: FastAPI reads
    such a body as JSON too)."""
    if content_type is None:
        return True
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def body_limit(content_type: str | None, limits: BodyLimits) -> int:
    """Uploads (multipart/form-data) get the upload limit; every other body the JSON one."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        return limits.max_upload_bytes
    return limits.max_json_bytes


def declared_length(value: str | None) -> int | None:
    """The Content-Length as a number; None when absent or not a number (the server's HTTP
    parser rejects a malformed one; a chunked body has none)."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


# A JSON string literal (escapes included); possessive, so a long string cannot backtrack.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def exceeds_depth(body: bytes, max_depth: int) -> bool:
    """True when objects/arrays in `body` nest deeper than `max_depth`. Pure, no recursion.

    Brackets inside string literals do not count. Invalid JSON gives some answer; the parser
    then reports it as invalid either way.
    """
    brackets = _STRING.sub(b"", body).translate(None, delete=_NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"request body is larger than the {limit}-byte limit; nothing was read")


def too_deep(limit: int) -> RecordInvalid:
    return RecordInvalid(
        [
            FieldError(
                pointer="",
                code="nesting_too_deep",
                message=f"JSON objects and arrays nest deeper than the {limit}-level limit",
            )
        ]
    )


class IngestGuard:
    """ASGI middleware: see the module docstring.

    `authorise` validates the Authorization header value and returns the claims, raising the
    auth errors; `refuse` turns those errors, and the guard's own, into a problem response.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: BodyLimits,
        authorise: Callable[[Scope, str | None], Awaitable[Any]],
        refuse: Callable[[Exception], Response],
        refused: tuple[type[Exception], ...],
    ) -> None:
        self._app = app
        self._limits = limits
        self._authorise = authorise
        self._refuse = refuse
        self._refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _GUARDED_METHODS:
            await self._app(scope, receive, send)
            return
        try:
            scope[CLAIMS_SCOPE_KEY] = await self._authorise(scope, _header(scope, b"authorization"))
            content_type = _header(scope, b"content-type")
            limit = body_limit(content_type, self._limits)
            length = declared_length(_header(scope, b"content-length"))
            if length is not None and length > limit:
                raise too_large(limit)
            body = await _read_at_most(receive, limit)
            if body is None:
                return  # the client went away; nobody to answer
            if is_json(content_type) and exceeds_depth(body, self._limits.max_json_depth):
                raise too_deep(self._limits.max_json_depth)
        except self._refused as error:
            await self._refuse(error)(scope, receive, send)
            return
        await self._app(scope, _replay(body, receive), send)


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or BodyTooLarge as soon as more than `limit` bytes arrived; None when
    the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives the buffered body once, then the client's own channel
    (which reports the disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
