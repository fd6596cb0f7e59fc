"""Decision engines behind one interface: the OPA server and in-process regopy.

Both evaluate the same `policies/` bundle and must return identical decisions (parity
suite). Anything other than a well-formed, defined result is a DecisionUnavailable: the
gateway retries and discloses nothing meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import regopy

from services.gateway.errors import EngineUnavailable, PolicyResultInvalid

__all__ = [
    "DECISIONS_ENTRYPOINT",
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


class OpaEngine:
    """The real OPA server over its REST data API."""

    name = "opa"

    def __init__(self, base_url: str, *, timeout_s: float = 2.0, revision: str) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._revision = revision

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        try:
            response = await self._client.post(
                f"/v1/data/{DECISIONS_ENTRYPOINT}", json={"input": policy_input}
            )
        except httpx.HTTPError as error:
            raise EngineUnavailable(
                f"OPA unreachable or too slow: {type(error).__name__}"
            ) from error
        if response.status_code >= 500:
            raise EngineUnavailable(f"OPA answered {response.status_code}")
        if response.status_code != 200:
            raise PolicyResultInvalid(f"OPA refused the query with {response.status_code}")
        try:
            body = response.json()
        except ValueError as error:
            raise PolicyResultInvalid("OPA answered with malformed JSON") from error
        if not isinstance(body, dict) or "result" not in body:
            # No `result` key means undefined: deny, never allow.
            raise PolicyResultInvalid("OPA result is undefined for the decisions entrypoint")
        return EngineAnswer(body["result"], self._revision)

    async def close(self) -> None:
        await self._client.aclose()


class RegopyEngine:
    """rego-cpp in process, with the policy prebuilt once into a bundle."""

    name = "regopy"

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
            raise PolicyResultInvalid(f"regopy failed: {type(error).__name__}") from error
        if text == "undefined":
            raise PolicyResultInvalid("regopy result is undefined for the decisions entrypoint")
        try:
            body = json.loads(text)
            expressions = body["expressions"]
        except (ValueError, KeyError, TypeError) as error:
            raise PolicyResultInvalid("regopy answered with an unreadable result") from error
        if not isinstance(expressions, list) or len(expressions) != 1:
            raise PolicyResultInvalid("regopy result is not a single value")
        return EngineAnswer(expressions[0], self._revision)

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        async with self._lock:
            return self.evaluate_sync(policy_input)

    async def close(self) -> None:
        return None
