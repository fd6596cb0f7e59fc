"""Decision engines behind one interface: the OPA server and in-process regopy.

Both evaluate the same `policies/` bundle and must return identical decisions (parity
suite). Anything other than a well-formed, defined result is a DecisionUnavailable: the
gateway retries and discloses nothing meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import regopy

from services.gateway.errors import EngineUnavailable, PolicyResultInvalid

__all__ = [
    "DECISIONS_ENTRYPOINT",
    "UNCONFIRMED_PREFIX",
    "DecisionEngine",
    "EngineAnswer",
    "OpaEngine",
    "RegopyEngine",
    "bundle_revision",
    "policy_data",
]

DECISIONS_ENTRYPOINT = "safehub/sharing/decisions"


@dataclass(frozen=True, slots=True)
class EngineAnswer:
    result: Any
    policy_revision: str


class DecisionEngine(Protocol):
    name: str
    max_concurrency: int
    """How many evaluate() calls are worth running at once."""

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer: ...

    async def close(self) -> None: ...


def _policy_files(policies_dir: Path) -> tuple[list[Path], list[Path]]:
    rego = sorted(p for p in policies_dir.rglob("*.rego") if not p.name.endswith("_test.rego"))
    data = sorted(policies_dir.rglob("data.json"))
    return rego, data


def policy_data(policies_dir: Path) -> dict[str, Any]:
    """Every data.json merged into one document at its bundle path.

    regopy 1.5.2 cannot merge several documents under a shared top-level key: it keeps the
    first, then crashes the process on the first query. So it gets exactly one document.
    """
    merged: dict[str, Any] = {}
    for path in _policy_files(policies_dir)[1]:
        node = merged
        for part in path.parent.relative_to(policies_dir).parts:
            node = node.setdefault(part, {})
        node.update(json.loads(path.read_text()))
    return merged


def bundle_revision(policies_dir: Path) -> str:
    """Revision of a policy directory: the manifest's revision, else a content hash."""
    manifest = policies_dir / ".manifest"
    if manifest.exists():
        revision = json.loads(manifest.read_text()).get("revision")
        if isinstance(revision, str) and revision:
            return revision
    digest = hashlib.sha256()
    rego, data = _policy_files(policies_dir)
    for path in (*rego, *data):
        digest.update(str(path.relative_to(policies_dir)).encode() + b"\x00")
        digest.update(path.read_bytes())
    return f"sha256:{digest.hexdigest()[:16]}"


def _provenance_reader() -> Callable[[Any], str | None] | None:
    """`services.policy.bundle.revision_from_provenance`, when that module is present.

    It reads the revision of the bundle OPA actually evaluated from a `?provenance=true`
    answer (None when OPA reports none).
    """
    try:
        module = importlib.import_module("services.policy.bundle")
    except ImportError:
        return None
    reader = getattr(module, "revision_from_provenance", None)
    return reader if callable(reader) else None


UNCONFIRMED_PREFIX = "unconfirmed:"
"""Prefix of a revision OPA did not report: the gateway's own copy of the policy, which OPA
may or may not be serving. Never passed off as the revision that decided."""


class OpaEngine:
    """The real OPA server over its REST data API (aiohttp: a pooled keep-alive client that
    costs far less CPU per query than httpx).

    Each answer records the bundle revision OPA reports having evaluated (`?provenance=true`,
    read by services.policy.bundle); `revision` (our copy's) is the fallback, marked
    unconfirmed when OPA reports none.

    Every failure is a DecisionUnavailable with a `kind` for the metrics: unreachable,
    timeout, server_error (5xx), rejected_query (other non-200), malformed_json, undefined
    (no `result` key: deny, never allow) and non_object_result.
    """

    name = "opa"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 2.0,
        revision: str,
        max_concurrency: int = 16,
    ) -> None:
        self._fallback_revision = revision
        self._provenance = _provenance_reader()
        query = "?provenance=true" if self._provenance is not None else ""
        self._url = f"{base_url.rstrip('/')}/v1/data/{DECISIONS_ENTRYPOINT}{query}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.max_concurrency = max_concurrency

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the event loop that will use it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_concurrency),
                timeout=self._timeout,
            )
        return self._session

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        payload = json.dumps({"input": policy_input}, separators=(",", ":")).encode()
        try:
            async with self._client().post(
                self._url, data=payload, headers={"Content-Type": "application/json"}
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
            body = json.loads(raw)
        except ValueError as error:
            raise PolicyResultInvalid(
                "OPA answered with malformed JSON", kind="malformed_json"
            ) from error
        if not isinstance(body, dict) or "result" not in body:
            # No `result` key means undefined: deny, never allow.
            raise PolicyResultInvalid(
                "OPA result is undefined for the decisions entrypoint", kind="undefined"
            )
        result = body["result"]
        if not isinstance(result, dict):
            raise PolicyResultInvalid(
                f"OPA result is a {type(result).__name__}, not an object keyed by subscriber",
                kind="non_object_result",
            )
        return EngineAnswer(result, self._revision_of(body))

    def _revision_of(self, body: dict[str, Any]) -> str:
        """The revision OPA says it evaluated; else our copy's, marked as unconfirmed."""
        if self._provenance is None:
            return self._fallback_revision
        try:
            served = self._provenance(body)
        except (KeyError, TypeError, ValueError):
            served = None
        return served or f"{UNCONFIRMED_PREFIX}{self._fallback_revision}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class RegopyEngine:
    """rego-cpp in process, with the policy prebuilt once into a bundle."""

    name = "regopy"
    max_concurrency = 1
    """rego-cpp holds the GIL while it evaluates: more than one query at a time gains nothing."""

    def __init__(self, policies_dir: Path) -> None:
        interpreter = regopy.Interpreter()
        for path in _policy_files(policies_dir)[0]:
            interpreter.add_module(str(path.relative_to(policies_dir)), path.read_text())
        interpreter.add_data_json(json.dumps(policy_data(policies_dir)))
        self._interpreter = interpreter
        self._bundle = interpreter.build(None, [DECISIONS_ENTRYPOINT])
        self._revision = bundle_revision(policies_dir)
        # One interpreter holds one input at a time: serialise queries.
        self._lock = asyncio.Lock()

    def evaluate_sync(self, policy_input: dict[str, Any]) -> EngineAnswer:
        try:
            self._interpreter.set_input_term(json.dumps(policy_input))
            output = self._interpreter.query_bundle_entrypoint(self._bundle, DECISIONS_ENTRYPOINT)
            # Never call Output.expressions() on an undefined result: rego-cpp aborts the
            # process. The text form is 'undefined' or a JSON object.
            text = str(output)
        except (regopy.RegoError, ValueError, RuntimeError) as error:
            raise PolicyResultInvalid(
                f"regopy failed: {type(error).__name__}", kind="engine_error"
            ) from error
        if text == "undefined":
            raise PolicyResultInvalid(
                "regopy result is undefined for the decisions entrypoint", kind="undefined"
            )
        try:
            body = json.loads(text)
            expressions = body["expressions"]
        except (ValueError, KeyError, TypeError) as error:
            raise PolicyResultInvalid(
                "regopy answered with an unreadable result", kind="malformed_json"
            ) from error
        if not isinstance(expressions, list) or len(expressions) != 1:
            raise PolicyResultInvalid("regopy result is not a single value")
        if not isinstance(expressions[0], dict):
            raise PolicyResultInvalid(
                "regopy result is not an object keyed by subscriber", kind="non_object_result"
            )
        return EngineAnswer(expressions[0], self._revision)

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        async with self._lock:
            answer = self.evaluate_sync(policy_input)
        # One evaluation blocks the event loop for tens of milliseconds: let the consumer's
        # heartbeats and the health endpoints run between two of them.
        await asyncio.sleep(0)
        return answer

    async def close(self) -> None:
        return None
