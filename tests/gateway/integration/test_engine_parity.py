"""Parity: a few hundred generated notices (every type and sender, random variants) through
the real OpaEngine (HTTP to the running OPA) and the in-process RegopyEngine must give
identical decisions, parsed and raw; OPA's batch entrypoint (what the gateway asks) the same
as its single-notice one."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from services.gateway.domain.decisions import parse_decisions
from services.gateway.engines import EngineAnswer, OpaEngine, RegopyEngine, bundle_revision
from services.hubkit.notice import to_json_value
from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology
from tests.gateway.notices import random_notices

pytestmark = [pytest.mark.opa, pytest.mark.timeout(300)]

COUNT = 300


def _inputs() -> list[dict[str, Any]]:
    notices = [to_json_value(n) for n in random_notices(seed=20261122, count=COUNT)]
    # Inputs the intake would reject still must not split the engines.
    odd = copy.deepcopy(notices[:6])
    odd[0]["classification"] = None
    del odd[1]["classification"]
    odd[2]["source"]["agency"] = "EDUCATION"
    odd[3]["notice_type"] = "GOSSIP"
    odd[4]["subject"]["linkage_key"] = ""
    odd[5]["detail"] = None
    return notices + odd


async def test_opa_and_regopy_decide_identically(stack: HubSettings, topology: Topology) -> None:
    inputs = _inputs()
    subscriber_ids = [s.subscriber_id for s in topology.subscribers]
    opa = OpaEngine(stack.opa_url, timeout_s=30, revision=bundle_revision(stack.policies_dir))
    gate = asyncio.Semaphore(8)

    async def ask(notice: dict[str, Any]) -> Any:
        async with gate:
            return (await opa.evaluate({"notice": notice})).result

    try:
        from_opa = await asyncio.gather(*(ask(n) for n in inputs))
        batched = await opa.evaluate_many(inputs)
    finally:
        await opa.close()
    from_batches = [a.result if isinstance(a, EngineAnswer) else a for a in batched]
    regopy = RegopyEngine(stack.policies_dir)
    from_regopy = [regopy.evaluate_sync({"notice": n}).result for n in inputs]

    differing = [
        (n.get("notice_id"), n.get("notice_type"))
        for n, a, b in zip(inputs, from_opa, from_regopy, strict=True)
        if parse_decisions(a, subscriber_ids) != parse_decisions(b, subscriber_ids)
    ]
    assert not differing, f"{len(differing)} of {len(inputs)} differ, e.g. {differing[:5]}"
    assert from_opa == from_regopy  # raw results too, value for value
    assert from_batches == from_opa  # each notice of a batch decided as if alone
    outcomes = {d.outcome for r in from_opa for d in parse_decisions(r, subscriber_ids).values()}
    assert len(outcomes) == 4, f"the sample should exercise every outcome, got {outcomes}"
