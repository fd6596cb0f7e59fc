"""The same policy bundle must decide identically in OPA and in regopy (rego-cpp).

OPA (`opa eval`, the pinned binary) and regopy evaluate every case in tests/policy/rules/cases.py;
the decisions must be equal, value for value. regopy is loaded the way an in-process engine
must load it: all non-test .rego files, and ONE data document merged from every data.json
(regopy 1.5.2 keeps only the first document added under a shared top-level key such as
`safehub`), then prebuilt for the entrypoint and queried with query_bundle_entrypoint.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.gateway.engines import RegopyEngine
from services.hubkit.settings import HubSettings
from services.stack.artifacts import ensure_opa
from tests.factories import POLICIES
from tests.policy.rules.cases import CASES

ENTRYPOINT = "safehub/sharing/decisions"
FLAG_FIELDS = frozenset(
    json.loads((POLICIES / "safehub/fields/data.json").read_text())["groups"]["flag"]
)


class _Regopy:
    """The gateway's real in-process engine, queried synchronously."""

    def __init__(self, policies: Path) -> None:
        self._engine = RegopyEngine(policies)

    def decide(self, policy_input: Any) -> Any:
        return self._engine.evaluate_sync(policy_input).result


def _opa_eval(query: str, policy_input: Any) -> Any:
    """The value of `query` over the rules (tests left out) as the pinned OPA binary gives it."""
    completed = subprocess.run(
        [
            str(ensure_opa(HubSettings())),
            "eval",
            "--format",
            "json",
            "--ignore",
            "*_test.rego",
            "--data",
            str(POLICIES),
            "--stdin-input",
            query,
        ],
        input=json.dumps(policy_input),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(completed.stdout)["result"][0]["expressions"][0]["value"]


@pytest.fixture(scope="module")
def opa_decisions() -> dict[str, Any]:
    """Every case through the real OPA binary, in one evaluation."""
    names = list(CASES)
    query = f"[d | some c in input.cases; d := data.{ENTRYPOINT.replace('/', '.')} with input as c]"
    values = _opa_eval(query, {"cases": [CASES[name] for name in names]})
    return dict(zip(names, values, strict=True))


@pytest.fixture(scope="module")
def regopy_engine() -> _Regopy:
    return _Regopy(POLICIES)


def test_regopy_decides_exactly_as_opa(
    opa_decisions: dict[str, Any], regopy_engine: _Regopy
) -> None:
    differing = {
        name: (opa_decisions[name], got)
        for name, policy_input in CASES.items()
        if (got := regopy_engine.decide(policy_input)) != opa_decisions[name]
    }
    assert not differing, f"regopy differs from OPA for: {sorted(differing)}"


def test_batch_entrypoint_decides_each_case_as_if_alone(opa_decisions: dict[str, Any]) -> None:
    """batch_decisions swaps the notice and context rules per notice; any rule reading
    `input` directly would see the batch instead of its notice, and this comparison would
    catch it. The cases without a context go in one batch; each case with one in a batch of
    its own (a batch's contexts are keyed by child, and the cases share one child)."""
    plain = [name for name, case in CASES.items() if "context" not in case]
    batch = _opa_eval(
        "data.safehub.sharing.batch_decisions",
        {"notices": [CASES[name].get("notice") for name in plain]},
    )
    in_context = [name for name, case in CASES.items() if "context" in case]
    alone = _opa_eval(
        "[d | some c in input.cases; d := data.safehub.sharing.batch_decisions[0] with input as c]",
        {"cases": [_alone_in_a_batch(CASES[name]) for name in in_context]},
    )
    got = dict(zip(plain, batch, strict=True)) | dict(zip(in_context, alone, strict=True))
    differing = [name for name in CASES if got[name] != opa_decisions[name]]
    assert not differing, f"the batch entrypoint differs for: {differing}"


def _alone_in_a_batch(case: dict[str, Any]) -> dict[str, Any]:
    """A case as a batch of one: its context under its child's key."""
    notice = case["notice"]
    return {"notices": [notice], "contexts": {notice["subject"]["linkage_key"]: case["context"]}}


def test_only_the_notice_rule_reads_the_input() -> None:
    """The batch entrypoint relies on every rule reading the notice through `_notice` and the
    child's context through `_child_context`."""
    readers = {}
    for path in sorted(POLICIES.rglob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if re.search(r"\binput\b", code):
                readers[f"{path.relative_to(POLICIES)}:{number}"] = code.strip()
    assert sorted(readers.values()) == [
        "_child_context := input.context if is_object(input.context)",
        "_notice := input.notice",
        "batch_decisions := [_decisions_alone(notice) | some notice in input.notices]",
        "context := input.contexts[notice.subject.linkage_key]",
    ], readers
