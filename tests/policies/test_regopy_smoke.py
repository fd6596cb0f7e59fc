"""The same policy bundle must decide identically in OPA and in regopy (rego-cpp).

OPA (`opa eval`, the pinned binary) and regopy evaluate every case in tests/policies/cases.py;
the decisions must be equal, value for value. regopy is loaded the way an in-process engine
must load it: all non-test .rego files, and ONE data document merged from every data.json
(regopy 1.5.2 keeps only the first document added under a shared top-level key such as
`safehub`), then prebuilt for the entrypoint and queried with query_bundle_entrypoint.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.gateway.engines import RegopyEngine
from services.hubkit.settings import HubSettings
from services.stack.artifacts import ensure_opa
from tests.factories import POLICIES
from tests.policies.cases import CASES

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


@pytest.fixture(scope="module")
def opa_decisions() -> dict[str, Any]:
    """Every case through the real OPA binary, in one evaluation."""
    opa = ensure_opa(HubSettings())
    names = list(CASES)
    query = f"[d | some c in input.cases; d := data.{ENTRYPOINT.replace('/', '.')} with input as c]"
    completed = subprocess.run(
        [
            str(opa),
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
        input=json.dumps({"cases": [CASES[name] for name in names]}),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    values = json.loads(completed.stdout)["result"][0]["expressions"][0]["value"]
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
