"""The policy under test for the property suite: a snapshot of a policies folder, served by
two private OPA servers (tests/policy/integration/private_opa.py), one with the repository's
subscribers and one with the extra subscribers merged in, and queried through the batch
entrypoint."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.policy.integration.private_opa import PrivateOpa
from tests.properties.generator import Vocab, as_policy_input

__all__ = ["SUBSCRIBERS_FILE", "Policies", "snapshot"]

BATCH_ENTRYPOINT = "/v1/data/safehub/sharing/batch_decisions"
SUBSCRIBERS_FILE = Path("safehub/subscribers/data.json")


class Policies:
    """The policy under test, with and without the extra subscribers. (A plain class, not a
    dataclass: hypothesis prints a dataclass argument field by field on every failure.)"""

    def __init__(
        self,
        *,
        extended_dir: Path,
        with_extras: PrivateOpa,
        without_extras: PrivateOpa,
        subscribers: dict[str, dict[str, Any]],
        extras: dict[str, dict[str, Any]],
        http: httpx.Client,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.extended_dir = extended_dir
        self.with_extras = with_extras
        self.without_extras = without_extras
        self.subscribers = subscribers
        """Every subscriber of the extended policy: the repository's and the extras."""
        self.extras = extras
        self.roles = {sid: str(entry["role"]) for sid, entry in subscribers.items()}
        self.vocab = Vocab.load(extended_dir)
        self._http = http
        self._pool = pool

    def __repr__(self) -> str:
        return f"Policies({self.extended_dir})"

    def decide(self, opa: PrivateOpa, notices: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One query to the batch entrypoint: the decisions for each notice, in order."""
        inputs = [as_policy_input(dict(n)) for n in notices]
        response = self._http.post(
            f"{opa.url}{BATCH_ENTRYPOINT}", json={"input": {"notices": inputs}}
        )
        body = response.json()
        assert response.status_code == 200, f"OPA answered {response.status_code}: {body}"
        result = body.get("result")
        assert isinstance(result, list), f"the batch entrypoint gave no list: {str(body)[:500]}"
        assert len(result) == len(inputs), f"{len(result)} answers for {len(inputs)} notices"
        return result

    def decide_both(
        self, notices: Sequence[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(with extras, without extras), evaluated concurrently (two OPA processes)."""
        extended = self._pool.submit(self.decide, self.with_extras, notices)
        original = self._pool.submit(self.decide, self.without_extras, notices)
        return extended.result(), original.result()


def snapshot(source: Path, target: Path, extras: Mapping[str, Any] | None = None) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*_test.rego", ".*"))
    if extras:
        path = target / SUBSCRIBERS_FILE
        subscribers = json.loads(path.read_text())
        clash = set(subscribers) & set(extras)
        assert not clash, f"extra subscriber ids already taken: {clash}"
        path.write_text(json.dumps({**subscribers, **extras}, indent=2) + "\n")
    return target
