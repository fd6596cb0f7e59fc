"""Decision engines behind one interface: the OPA server and in-process regopy.

Both evaluate the same `policies/` bundle and must return identical decisions (parity
suite); what a bundle is, its entrypoints and how its revision is named are the policy
contract's (services/hubkit/policy_contract.py), shared with the IG policy tools. Anything
other than a well-formed, defined result is a DecisionUnavailable: the gateway retries and
discloses nothing meanwhile.
"""

from __future__ import annotations

import asyncio
import io
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import orjson

from services.gateway.errors import DecisionUnavailable, EngineUnavailable, PolicyResultInvalid
from services.hubkit.child_context import ChildContext
from services.hubkit.errors import InProcessPolicyFailed
from services.hubkit.inprocess_policy import InProcessPolicy
from services.hubkit.policy_contract import (
    BATCH_DECISIONS_ENTRYPOINT,
    DECISIONS_ENTRYPOINT,
    bundle_revision,
    revision_from_provenance,
)

__all__ = [
    "UNCONFIRMED_PREFIX",
    "ChildContexts",
    "DecisionEngine",
    "EngineAnswer",
    "Notice",
    "OpaEngine",
    "RegopyEngine",
    "bundle_revision",
    "policy_input",
    "query_chunks",
]


@dataclass(frozen=True, slots=True)
class EngineAnswer:
    result: Any
    policy_revision: str


Notice = dict[str, Any]
"""A notice as JSON values (`AcceptedNotice.notice`): what the policy sees as input.notice."""

ChildContexts = Mapping[str, ChildContext]
"""The contexts of a batch's children, keyed by linkage key (the child index's answer): the
policy sees the one of each notice's child as input.context (policies/README.md)."""


class DecisionEngine(Protocol):
    name: str
    max_concurrency: int
    """How many queries are worth running at once."""
    batch_size: int
    """How many notices one query should carry. Callers split larger batches into queries of
    this size, so that each query gets its own time budget."""

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer: ...

    async def evaluate_many(
        self,
        notices: Sequence[Notice],
        contexts: ChildContexts | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[EngineAnswer | DecisionUnavailable]:
        """One entry per notice, in order: its answer, or why it has none. Failures are
        returned, never raised, so that one bad answer withholds only its own notice.
        `contexts` holds the context of each notice's child (the gateway always passes
        them; without, the policy decides as for a child the hub knows nothing about).
        `timeout_s` is the query's budget (the gateway's current one, which grows while the
        engine is slow); None: the engine's own default."""
        ...

    async def close(self) -> None: ...


# aiohttp.payload.TOO_LARGE_BYTES_BODY: from this size a bytes body triggers its warning.
_LARGE_BODY_BYTES = 2**20
_HEADERS = {
    "Content-Type": "application/json",
    # OPA gzips answers a client accepts compressed; next to the gateway that only costs
    # CPU at both ends.
    "Accept-Encoding": "identity",
}

UNCONFIRMED_PREFIX = "unconfirmed:"
"""Prefix of a revision OPA did not report: the gateway's own copy of the policy, which OPA
may or may not be serving. Never passed off as the revision that decided."""


class OpaEngine:
    """The real OPA server over its REST data API (aiohttp: a pooled keep-alive client that
    costs far less CPU per query than httpx; orjson for the bodies).

    `evaluate_many` asks for a whole batch in one query to the batch entrypoint (chunks of
    `batch_size` notices, run concurrently up to `max_concurrency`): a round trip per notice
    was the largest single CPU cost of the gateway's own work (about 1 ms per notice).

    Each answer records the bundle revision OPA reports having evaluated (`?provenance=true`,
    read by services.hubkit.policy_contract); `revision` (our copy's) is the fallback, marked
    unconfirmed when OPA reports none.

    Every failure is a DecisionUnavailable with a `kind` for the metrics. For the whole query:
    unreachable, timeout, server_error (5xx), rejected_query (other non-200), malformed_json,
    undefined (no `result` key: deny, never allow), and for a batch non_array_result (the
    result is not an array) and batch_mismatch (not one entry per notice: no entry can be
    matched to its notice). For one notice: non_object_result.

    An https OPA is verified against `ssl_context` (the hub's CA) and each query carries
    `headers` (the bearer token OPA's token authentication expects; a 401 is rejected_query).
    """

    name = "opa"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 2.0,
        revision: str,
        max_concurrency: int = 16,
        batch_size: int = 16,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._fallback_revision = revision
        base = base_url.rstrip("/")
        self._url = f"{base}/v1/data/{DECISIONS_ENTRYPOINT}?provenance=true"
        self._batch_url = f"{base}/v1/data/{BATCH_DECISIONS_ENTRYPOINT}?provenance=true"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._ssl_context = ssl_context
        self._headers = {**_HEADERS, **(headers or {})}
        self._session: aiohttp.ClientSession | None = None
        # Queries wait for a slot here, not in the connection pool: the client's timeout
        # starts with the request, so a query queued in the pool would spend its budget.
        self._slots = asyncio.Semaphore(max_concurrency)
        self.max_concurrency = max_concurrency
        self.batch_size = batch_size

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the event loop that will use it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.max_concurrency,
                    ssl=True if self._ssl_context is None else self._ssl_context,
                ),
                timeout=self._timeout,
            )
        return self._session

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        body = await self._query(self._url, {"input": policy_input})
        result = body["result"]
        if not isinstance(result, dict):
            raise PolicyResultInvalid(
                f"OPA result is a {type(result).__name__}, not an object keyed by subscriber",
                kind="non_object_result",
            )
        return EngineAnswer(result, self._revision_of(body))

    async def evaluate_many(
        self,
        notices: Sequence[Notice],
        contexts: ChildContexts | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[EngineAnswer | DecisionUnavailable]:
        # The HTTP timeout follows the caller's budget: a grown budget is no use if the
        # client gives up at the default first.
        http_timeout = (
            self._timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        )
        chunks = query_chunks(notices, self.batch_size)
        if len(chunks) == 1:
            return await self._evaluate_batch(chunks[0], contexts, http_timeout)
        answers = await asyncio.gather(
            *(self._evaluate_batch(chunk, contexts, http_timeout) for chunk in chunks)
        )
        return [answer for chunk in answers for answer in chunk]

    async def _evaluate_batch(
        self,
        notices: Sequence[Notice],
        contexts: ChildContexts | None,
        http_timeout: aiohttp.ClientTimeout,
    ) -> list[EngineAnswer | DecisionUnavailable]:
        batch: dict[str, Any] = {"notices": list(notices)}
        if contexts is not None:
            # Keyed by child, beside the notices: a child with several notices in the
            # batch is sent once.
            batch["contexts"] = {
                key: contexts[key]
                for key in dict.fromkeys(_linkage_key(n) for n in notices)
                if key is not None and key in contexts
            }
        try:
            body = await self._query(self._batch_url, {"input": batch}, http_timeout)
            results = _batch_results(body["result"], len(notices))
        except DecisionUnavailable as failure:
            return [failure] * len(notices)
        revision = self._revision_of(body)
        return [
            EngineAnswer(result, revision)
            if isinstance(result, dict)
            else PolicyResultInvalid(
                f"OPA result for a notice of the batch is a {type(result).__name__}, "
                "not an object keyed by subscriber",
                kind="non_object_result",
            )
            for result in results
        ]

    async def _query(
        self,
        url: str,
        document: dict[str, Any],
        http_timeout: aiohttp.ClientTimeout | None = None,
    ) -> dict[str, Any]:
        """POST one query (within `http_timeout`, else the engine's own); the answer's body, which
        has a `result`, or a DecisionUnavailable."""
        payload = orjson.dumps(document)
        # aiohttp warns about (and test runs fail on) a large bytes body; a batch holding a
        # notice with a long account can pass its limit, so such a body goes as a stream.
        body: bytes | io.BytesIO = (
            payload if len(payload) < _LARGE_BODY_BYTES else io.BytesIO(payload)
        )
        async with self._slots:
            try:
                async with self._client().post(
                    url, data=body, headers=self._headers, timeout=http_timeout or self._timeout
                ) as response:
                    status = response.status
                    raw = await response.read()
            except TimeoutError as error:
                raise EngineUnavailable(
                    "OPA did not answer within the budget", kind="timeout"
                ) from error
            except aiohttp.ClientError as error:
                raise EngineUnavailable(
                    f"OPA unreachable: {type(error).__name__}", kind="unreachable"
                ) from error
        if status >= 500:
            raise EngineUnavailable(f"OPA answered {status}", kind="server_error")
        if status != 200:
            raise PolicyResultInvalid(f"OPA refused the query with {status}", kind="rejected_query")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise PolicyResultInvalid(
                "OPA answered with malformed JSON", kind="malformed_json"
            ) from error
        if not isinstance(body, dict) or "result" not in body:
            # No `result` key means undefined: deny, never allow.
            raise PolicyResultInvalid("OPA result is undefined for the query", kind="undefined")
        return body

    def _revision_of(self, body: dict[str, Any]) -> str:
        """The revision OPA says it evaluated; else our copy's, marked as unconfirmed."""
        served = revision_from_provenance(body)
        return served or f"{UNCONFIRMED_PREFIX}{self._fallback_revision}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_Item = TypeVar("_Item")


def query_chunks(items: Sequence[_Item], batch_size: int) -> list[Sequence[_Item]]:
    """`items` in order, in as few queries of at most `batch_size` as possible, as even as
    possible (similar answer times when they run concurrently)."""
    if not items:
        return []
    queries = -(-len(items) // max(1, batch_size))
    size = -(-len(items) // queries)
    return [items[start : start + size] for start in range(0, len(items), size)]


def _linkage_key(notice: Any) -> str | None:
    """The notice's child, for finding its context (None for an input that names none: the
    policy refuses such a notice anyway)."""
    subject = notice.get("subject") if isinstance(notice, Mapping) else None
    key = subject.get("linkage_key") if isinstance(subject, Mapping) else None
    return key if isinstance(key, str) else None


def policy_input(notice: Notice, contexts: ChildContexts | None) -> dict[str, Any]:
    """The single-notice entrypoint's input: the notice, and its child's context if given."""
    key = _linkage_key(notice)
    if contexts is None or key is None or key not in contexts:
        return {"notice": notice}
    return {"notice": notice, "context": contexts[key]}


def _batch_results(result: Any, expected: int) -> list[Any]:
    """The batch entrypoint's array, only if it has exactly one entry per notice asked about:
    with any other count no entry can be trusted to belong to its notice."""
    if not isinstance(result, list):
        raise PolicyResultInvalid(
            f"OPA batch result is a {type(result).__name__}, not an array of decisions",
            kind="non_array_result",
        )
    if len(result) != expected:
        raise PolicyResultInvalid(
            f"OPA answered {len(result)} decisions for {expected} notices", kind="batch_mismatch"
        )
    return result


class RegopyEngine:
    """rego-cpp in process (services.hubkit.inprocess_policy), with the policy prebuilt once
    into a bundle."""

    name = "regopy"
    max_concurrency = 1
    """rego-cpp holds the GIL while it evaluates: more than one query at a time gains nothing."""
    batch_size = 1
    """Tens of milliseconds per notice and nothing to save per query: each notice is a query
    of its own, with its own time budget."""

    def __init__(self, policies_dir: Path) -> None:
        self._policy = InProcessPolicy(policies_dir)
        self._revision = self._policy.revision
        # One interpreter holds one input at a time: serialise queries.
        self._lock = asyncio.Lock()

    def evaluate_sync(self, policy_input: dict[str, Any]) -> EngineAnswer:
        try:
            result = self._policy.decisions(policy_input)
        except InProcessPolicyFailed as failure:
            raise PolicyResultInvalid(str(failure), kind=failure.kind) from failure
        return EngineAnswer(result, self._revision)

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        async with self._lock:
            answer = self.evaluate_sync(policy_input)
        # One evaluation blocks the event loop for tens of milliseconds: let the consumer's
        # heartbeats and the health endpoints run between two of them.
        await asyncio.sleep(0)
        return answer

    async def evaluate_many(
        self,
        notices: Sequence[Notice],
        contexts: ChildContexts | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[EngineAnswer | DecisionUnavailable]:
        # `timeout_s` is the caller's to enforce: an evaluation in process cannot be cut
        # short (it holds the GIL), only abandoned between two notices.
        # Through the single-notice entrypoint, as before: the batch entrypoint is built on
        # `with`, which regopy 1.5.2 is not relied on to support, and in process there is no
        # round trip to save.
        answers: list[EngineAnswer | DecisionUnavailable] = []
        for notice in notices:
            try:
                answers.append(await self.evaluate(policy_input(notice, contexts)))
            except DecisionUnavailable as failure:
                answers.append(failure)
        return answers

    async def close(self) -> None:
        return None
