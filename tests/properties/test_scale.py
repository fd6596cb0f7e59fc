"""All three properties on 10,000 generated notices, in batches of 200 through the batch
entrypoint (both OPA servers at once). No shrinking here: every violation is counted, and a
few examples of each kind are shown."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.properties.generator import as_policy_input, random_notices
from tests.properties.policies import Policies
from tests.properties.properties import (
    ceiling_violations,
    relationship_violations,
    sensitive_service_violations,
)

pytestmark = [pytest.mark.opa, pytest.mark.scale]

NOTICES = 10_000
BATCH = 200
EXAMPLES = 5


def test_all_three_properties_hold_for_ten_thousand_notices(
    policies: Policies, ceilings: Any
) -> None:
    started = time.monotonic()
    found: dict[str, list[str]] = {"ceiling": [], "relationship": [], "sensitive service": []}
    evaluated = 0
    generated = list(random_notices(policies.vocab, seed=20261205, count=NOTICES))
    for start in range(0, len(generated), BATCH):
        batch = generated[start : start + BATCH]
        extended, original = policies.decide_both(batch)
        for notice, with_extras, without_extras in zip(batch, extended, original, strict=True):
            found["ceiling"] += ceiling_violations(notice, with_extras, policies.roles, ceilings)
            found["relationship"] += relationship_violations(
                notice, with_extras, without_extras, policies.extras
            )
            found["sensitive service"] += sensitive_service_violations(
                as_policy_input(notice), with_extras, policies.roles
            )
        evaluated += len(batch)

    assert evaluated >= 10_000
    report = []
    for kind, violations in found.items():
        if violations:
            by_cause = Counter(v.split(":")[0] for v in violations)
            report.append(f"{kind}: {len(violations)} violations; most common:")
            report += [f"  {count:5d} x {cause}" for cause, count in by_cause.most_common(15)]
            report += [f"  e.g. {v}" for v in violations[:EXAMPLES]]
    elapsed = time.monotonic() - started
    assert not report, f"{evaluated} notices in {elapsed:.0f}s\n" + "\n".join(report)
