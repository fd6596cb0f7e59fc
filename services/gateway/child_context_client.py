"""The gateway's client of the child index: the observations of a batch out, the contexts of
its children back (`POST /v1/context`, scope `children:context`), so that the policy decides
each notice with what the hub has learned about its child from every agency
(services/hubkit/child_context.py).

Fail closed: a batch is never decided without its children's contexts. Anything short of a
well-formed answer naming every child asked about (index or identity provider unreachable,
slower than the budget, 5xx, a refusal, an answer of the wrong shape) is a
`ChildContextUnavailable`: nothing of the batch is decided, and its partitions retry after a
backoff like any other transient failure. Logs name the failure's kind and status only,
never a child key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

from services.gateway.errors import ChildContextUnavailable
from services.hubkit.child_context import ChildContext, Observation
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.notice import to_json_value
from services.hubkit.service_calls import ServiceCallFailed, call_as_service

__all__ = ["ChildContextSource", "HttpChildContext", "checked_context"]

CONTEXT_PATH = "/v1/context"
MAX_CHILDREN_PER_REQUEST = 500
"""A poll holds at most `max_batch` notices (200), so one request; a larger one is split so
that no request passes the index's limits (1,000 children, 512 KiB of body)."""


class ChildContextSource(Protocol):
    async def contexts(
        self, observations: Sequence[Observation], children: Sequence[str]
    ) -> dict[str, ChildContext]:
        """Record `observations`, then the context of every child in `children`, keyed as
        asked. Raises ChildContextUnavailable rather than answer for fewer children."""
        ...

    async def close(self) -> None: ...


class HttpChildContext:
    """`ChildContextSource` over HTTP, one request per batch, as the gateway's own client."""

    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        credentials: ClientCredentials,
        timeout_s: float,
        owns_http: bool = False,
        max_children: int = MAX_CHILDREN_PER_REQUEST,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}{CONTEXT_PATH}"
        self._http = http
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._owns_http = owns_http
        self._max_children = max_children

    async def contexts(
        self, observations: Sequence[Observation], children: Sequence[str]
    ) -> dict[str, ChildContext]:
        if not children:
            return {}
        if len(children) <= self._max_children:
            return await self._request(observations, children)
        requests = []
        for start in range(0, len(children), self._max_children):
            chunk = children[start : start + self._max_children]
            wanted = set(chunk)
            about = [o for o in observations if o["child_key"] in wanted]
            requests.append(self._request(about, chunk))
        answers = await asyncio.gather(*requests)
        return {child: context for answer in answers for child, context in answer.items()}

    async def _request(
        self, observations: Sequence[Observation], children: Sequence[str]
    ) -> dict[str, ChildContext]:
        try:
            response = await call_as_service(
                self._http,
                self._credentials,
                "POST",
                self._url,
                json={"observations": list(observations), "children": list(children)},
                timeout_s=self._timeout_s,
            )
        except ServiceCallFailed as failure:
            raise ChildContextUnavailable(str(failure), kind="child_index_unreachable") from None
        if response.status_code >= 500:
            raise ChildContextUnavailable(
                f"the child index answered {response.status_code}", kind="child_index_server_error"
            )
        if response.status_code != 200:
            raise ChildContextUnavailable(
                f"the child index refused client {self._credentials.client_id} "
                f"({response.status_code})",
                kind="child_index_refused",
            )
        try:
            body = response.json()
        except ValueError:
            raise ChildContextUnavailable(
                "the child index answered with malformed JSON", kind="child_index_bad_answer"
            ) from None
        answered = body.get("contexts") if isinstance(body, dict) else None
        if not isinstance(answered, dict):
            raise ChildContextUnavailable(
                "the child index answered without contexts", kind="child_index_bad_answer"
            )
        return {child: checked_context(answered.get(child)) for child in children}

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def checked_context(value: Any) -> ChildContext:
    """`value` as the policy may read it: every field the rules read of the type they expect
    (start times re-rendered as the notice's are, so both engines parse them alike), or
    ChildContextUnavailable. A child missing from the answer is not an empty context."""
    if not isinstance(value, Mapping):
        raise _bad("a child asked about has no context")
    exploitation = value.get("exploitation")
    if not isinstance(exploitation, Mapping) or not isinstance(exploitation.get("flagged"), bool):
        raise _bad("a context has no exploitation flag")
    episodes = value.get("missing_episodes")
    if not isinstance(episodes, list) or not all(isinstance(e, Mapping) for e in episodes):
        raise _bad("a context's missing episodes are not a list of episodes")
    for field in ("looked_after", "cp_plan"):
        if value.get(field) is not None and not isinstance(value.get(field), bool):
            raise _bad(f"a context's {field} is not true, false or null")
    for field in ("placing_la", "responsible_la", "school_urn"):
        if value.get(field) is not None and not isinstance(value.get(field), str):
            raise _bad(f"a context's {field} is not text or null")
    checked = dict(value)
    checked["missing_episodes"] = [
        {**episode, "started_at": _instant(episode.get("started_at"))} for episode in episodes
    ]
    return checked


def _instant(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise _bad("a missing episode's start is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise _bad("a missing episode's start has no offset")
    return str(to_json_value(parsed))


def _bad(what: str) -> ChildContextUnavailable:
    return ChildContextUnavailable(
        f"the child index's answer is unusable: {what}", kind="child_index_bad_answer"
    )
