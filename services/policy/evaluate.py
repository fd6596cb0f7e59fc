"""Running the sharing policy: a policy folder or bundle file through the `opa` binary, the
live OPA server, or regopy in process. The edge of the policy tools.

Batch evaluation (simulations) runs `opa eval` over many notices in one query,

    [d | some n in input.notices; d := data.safehub.sharing.decisions with input as {"notice": n}]

in chunks, several `opa` processes at once: OPA compiles the policy once per chunk instead of
once per notice, and the chunks of the current and the candidate policy share the cores.
`RULE_PARTS_BATCH_QUERY` asks the same way which named parts of the rules each notice fired
(`services.policy.rule_parts`).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from services.hubkit.errors import InProcessPolicyFailed, PolicyBundleInvalid
from services.hubkit.inprocess_policy import InProcessPolicy
from services.hubkit.policy_contract import (
    DECISIONS_ENTRYPOINT,
    DECISIONS_QUERY,
    BundleFile,
    content_digest,
    is_bundle_member,
    policy_data,
    revision_from_provenance,
)
from services.policy.bundle import load_bundle_revision, member_path, policy_bundle_files
from services.policy.errors import EvaluationFailed, PolicySourceInvalid
from services.policy.rule_parts import RULE_PARTS_QUERY

__all__ = [
    "BATCH_QUERY",
    "RULE_PARTS_BATCH_QUERY",
    "BatchPool",
    "Evaluation",
    "PolicySource",
    "evaluate_batches",
    "evaluate_on_server",
    "evaluate_one",
    "evaluate_with_regopy",
    "server_data",
]

BATCH_QUERY = f'[d | some n in input.notices; d := {DECISIONS_QUERY} with input as {{"notice": n}}]'
RULE_PARTS_BATCH_QUERY = (
    f'[p | some n in input.notices; p := {RULE_PARTS_QUERY} with input as {{"notice": n}}]'
)
_EVAL_TIMEOUT_S = 900


@dataclass(frozen=True, slots=True)
class PolicySource:
    """A policy to evaluate: a policy folder (like `policies/`) or a bundle `.tar.gz`."""

    path: Path
    kind: Literal["folder", "bundle"]

    @staticmethod
    def at(path: Path) -> PolicySource:
        if path.is_dir():
            policy_bundle_files(path)  # raises PolicySourceInvalid when it is not one
            return PolicySource(path, "folder")
        if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
            load_bundle_revision(path)  # raises PolicySourceInvalid when unreadable
            return PolicySource(path, "bundle")
        raise PolicySourceInvalid(
            f"{path} is neither a policy folder (like policies/) nor a bundle (.tar.gz)"
        )

    def opa_arguments(self) -> list[str]:
        if self.kind == "bundle":
            return ["--bundle", str(self.path)]
        # Tests live beside the rules; they are not part of the policy.
        return ["--data", str(self.path), "--ignore", "*_test.rego"]

    def revision(self) -> str:
        """The bundle's own revision, or for a folder its content digest (not published)."""
        if self.kind == "bundle":
            return load_bundle_revision(self.path) or "unknown revision (no .manifest)"
        digest = content_digest(policy_bundle_files(self.path))
        return f"unpublished, content sha256.{digest[:16]}"

    def contents(self) -> tuple[list[str], dict[str, Any]]:
        """(Rego sources, merged data document): what the policy reads and says."""
        files = policy_bundle_files(self.path) if self.kind == "folder" else self._bundle_files()
        try:
            data = policy_data(files)
        except PolicyBundleInvalid as error:
            raise PolicySourceInvalid(str(error)) from error
        return [item.content.decode() for item in files if item.path.endswith(".rego")], data

    def _bundle_files(self) -> list[BundleFile]:
        """The members of a bundle file that the policy contract counts as its policy."""
        files: list[BundleFile] = []
        with tarfile.open(self.path, "r:gz") as archive:
            for member in archive.getmembers():
                name = member_path(member.name)
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is not None and is_bundle_member(name):
                    files.append(BundleFile(name, extracted.read()))
        return files


@dataclass(frozen=True, slots=True)
class Evaluation:
    result: Any
    revision: str
    engine: str


def _opa_eval(opa: Path, source: PolicySource, query: str, policy_input: Any) -> Any:
    argv = [str(opa), "eval", "--format", "json", "--stdin-input", *source.opa_arguments(), query]
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(policy_input),
            capture_output=True,
            text=True,
            timeout=_EVAL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EvaluationFailed(f"opa eval on {source.path}: {error}") from error
    if done.returncode != 0:
        raise EvaluationFailed(
            f"opa eval on {source.path} failed:\n{_opa_errors(done.stdout) or done.stderr.strip()}"
        )
    try:
        body = json.loads(done.stdout)
        return body["result"][0]["expressions"][0]["value"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        # No result means undefined: never treat it as a decision.
        raise EvaluationFailed(f"opa eval on {source.path}: the decisions are undefined") from error


def _opa_errors(stdout: str) -> str:
    """OPA's JSON error report as `file:row: message` lines (compile and parse errors)."""
    try:
        errors = json.loads(stdout).get("errors", [])
    except (ValueError, AttributeError):
        return stdout.strip()
    lines = []
    for error in errors if isinstance(errors, list) else []:
        where = error.get("location") or {}
        lines.append(f"  {where.get('file', '?')}:{where.get('row', '?')}: {error.get('message')}")
    return "\n".join(lines)


def evaluate_one(opa: Path, source: PolicySource, notice: Any) -> Evaluation:
    """One notice through the `opa` binary (a candidate folder, a bundle file)."""
    result = _opa_eval(opa, source, DECISIONS_QUERY, {"notice": notice})
    return Evaluation(result, source.revision(), f"opa eval on {source.path}")


def evaluate_on_server(
    base_url: str,
    notice: Any,
    *,
    timeout_s: float = 10.0,
    verify: ssl.SSLContext | bool = True,
    headers: Mapping[str, str] | None = None,
) -> Evaluation:
    """One notice through the running OPA server: what is live, with the revision it serves.

    `verify` and `headers`: the hub's CA and OPA's bearer token for an https OPA
    (hubkit.tls.opa_ssl_context, opa_auth_headers)."""
    url = f"{base_url.rstrip('/')}/v1/data/{DECISIONS_ENTRYPOINT}"
    try:
        response = httpx.post(
            url,
            params={"provenance": "true"},
            json={"input": {"notice": notice}},
            timeout=timeout_s,
            verify=verify,
            headers=headers,
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise EvaluationFailed(
            f"OPA at {base_url} did not answer ({type(error).__name__}); "
            "is the stack up (`safehub stack up`)?"
        ) from error
    if response.status_code != 200 or not isinstance(body, dict) or "result" not in body:
        raise EvaluationFailed(f"OPA at {base_url} gave no decisions ({response.status_code})")
    revision = revision_from_provenance(body) or "unknown (OPA reported no bundle revision)"
    return Evaluation(body["result"], revision, f"live OPA at {base_url}")


def server_data(
    base_url: str,
    *,
    timeout_s: float = 10.0,
    verify: ssl.SSLContext | bool = True,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The data documents the live OPA holds that explanations use (labels, subscribers)."""
    data: dict[str, Any] = {}
    for part in ("isa", "fields", "subscribers"):
        url = f"{base_url.rstrip('/')}/v1/data/safehub/{part}"
        try:
            body = httpx.get(url, timeout=timeout_s, verify=verify, headers=headers).json()
        except (httpx.HTTPError, ValueError) as error:
            raise EvaluationFailed(f"OPA at {base_url}: {type(error).__name__}") from error
        document = body.get("result") if isinstance(body, dict) else None
        if isinstance(document, dict):
            data.setdefault("safehub", {}).setdefault(part, {}).update(document)
    return data


def evaluate_with_regopy(policies_dir: Path, notice: Any) -> Evaluation:
    """One notice through regopy in process, as the gateway's embedded engine would
    (services.hubkit.inprocess_policy)."""
    try:
        policy = InProcessPolicy(policies_dir)
    except PolicyBundleInvalid as error:
        raise PolicySourceInvalid(str(error)) from error
    try:
        result = policy.decisions({"notice": notice})
    except InProcessPolicyFailed as error:
        raise EvaluationFailed(f"regopy: {error}") from error
    return Evaluation(result, policy.revision, f"regopy on {policies_dir}")


def _evaluate_chunk(opa: Path, source: PolicySource, notices: Sequence[Any]) -> list[Any]:
    value = _opa_eval(opa, source, BATCH_QUERY, {"notices": list(notices)})
    if not isinstance(value, list) or len(value) != len(notices):
        raise EvaluationFailed(f"opa eval on {source.path}: not one decision per notice")
    return value


def _rule_parts_chunk(opa: Path, source: PolicySource, notices: Sequence[Any]) -> list[Any] | None:
    value = _opa_eval(opa, source, RULE_PARTS_BATCH_QUERY, {"notices": list(notices)})
    if value == [] and notices:
        # Every answer undefined: a policy from before rule_parts.rego, which cannot say.
        return None
    if not isinstance(value, list) or len(value) != len(notices):
        raise EvaluationFailed(f"opa eval on {source.path}: not one rule_parts answer per notice")
    return value


class BatchPool:
    """Runs batch evaluations (`opa eval` processes) a few at a time, in the background.

    Threads are enough: each one only waits on an `opa` process doing the work, so the
    caller can go on reading and grouping notices while OPA decides the ones submitted.
    """

    def __init__(self, opa: Path, *, workers: int | None = None) -> None:
        self._opa = opa
        self._pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2)

    def submit(self, source: PolicySource, notices: Sequence[Any]) -> Future[list[Any]]:
        return self._pool.submit(_evaluate_chunk, self._opa, source, list(notices))

    def submit_rule_parts(
        self, source: PolicySource, notices: Sequence[Any]
    ) -> Future[list[Any] | None]:
        """The `rule_parts` answer for each notice, in order; None when the policy has no
        `rule_parts` entrypoint (a bundle published before it existed)."""
        return self._pool.submit(_rule_parts_chunk, self._opa, source, list(notices))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BatchPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def evaluate_batches(
    opa: Path,
    jobs: Sequence[tuple[PolicySource, Sequence[Any]]],
    *,
    workers: int | None = None,
    chunk: int = 250,
) -> list[list[Any]]:
    """Decisions for every notice of every job (policy, notices), in order, in parallel.

    All chunks of all jobs share one pool, so two policies keep every core busy until both
    are done.
    """
    with BatchPool(opa, workers=workers) as pool:
        futures = [
            [pool.submit(source, notices[i : i + chunk]) for i in range(0, len(notices), chunk)]
            for source, notices in jobs
        ]
        return [[d for future in job for d in future.result()] for job in futures]
