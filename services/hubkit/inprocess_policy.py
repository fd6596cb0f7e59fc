"""A policy folder evaluated in process by rego-cpp (regopy): the gateway's embedded engine
and `safehub policy explain --engine regopy` ask it the same way.

The folder is loaded as the policy contract says a bundle is made (services.hubkit.
policy_contract) and built once for the decisions entrypoint. Anything other than a defined
object is InProcessPolicyFailed with a `kind` (the gateway's metric labels), never a result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import regopy

from services.hubkit.errors import InProcessPolicyFailed
from services.hubkit.policy_contract import (
    DECISIONS_ENTRYPOINT,
    bundle_revision,
    policy_data,
    policy_folder_files,
)

__all__ = ["InProcessPolicy"]


class InProcessPolicy:
    """One rego-cpp interpreter holding a policy folder. It holds one input at a time: the
    caller serialises queries."""

    def __init__(self, policies_dir: Path) -> None:
        files = policy_folder_files(policies_dir)
        interpreter = regopy.Interpreter()
        for item in files:
            if item.path.endswith(".rego"):
                interpreter.add_module(item.path, item.content.decode())
        interpreter.add_data_json(json.dumps(policy_data(files)))
        self._interpreter = interpreter
        self._bundle = interpreter.build(None, [DECISIONS_ENTRYPOINT])
        self.revision = bundle_revision(policies_dir)

    def decisions(self, policy_input: dict[str, Any]) -> dict[str, Any]:
        """The decisions entrypoint's value for `policy_input`: an object keyed by subscriber."""
        try:
            self._interpreter.set_input_term(json.dumps(policy_input))
            output = self._interpreter.query_bundle_entrypoint(self._bundle, DECISIONS_ENTRYPOINT)
            # Never call Output.expressions() on an undefined result: rego-cpp aborts the
            # process. The text form is 'undefined' or a JSON object.
            text = str(output)
        except (regopy.RegoError, ValueError, RuntimeError) as error:
            raise InProcessPolicyFailed(
                f"regopy failed: {type(error).__name__}", kind="engine_error"
            ) from error
        if text == "undefined":
            raise InProcessPolicyFailed(
                "regopy result is undefined for the decisions entrypoint", kind="undefined"
            )
        try:
            body = json.loads(text)
            expressions = body["expressions"]
        except (ValueError, KeyError, TypeError) as error:
            raise InProcessPolicyFailed(
                "regopy answered with an unreadable result", kind="malformed_json"
            ) from error
        if not isinstance(expressions, list) or len(expressions) != 1:
            raise InProcessPolicyFailed(
                "regopy result is not a single value", kind="invalid_result"
            )
        if not isinstance(expressions[0], dict):
            raise InProcessPolicyFailed(
                "regopy result is not an object keyed by subscriber", kind="non_object_result"
            )
        return expressions[0]
