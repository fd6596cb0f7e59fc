"""Ceilings, enforced twice: a deliberately permissive policy on a real OPA, the gateway on the
real broker. Whatever the policy permits, no feed receives a path beyond its subscriber's IG
ceiling (policies/safehub/ceilings/data.json); each decision beyond it is audited as DENY with
CEILING_EXCEEDED, the offending paths and the revision, and counted in the metrics.

The OPA is this test's own, serving a bundle of one Rego module that permits every path a
notice holds to every subscriber; the topics are isolated, so no other gateway decides our
notices. The gateway loads the repository's own ceilings, as in production.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from services.gateway.bootstrap import build_gateway
from services.gateway.domain.ceiling import CEILING_EXCEEDED
from services.gateway.domain.decisions import parse_decisions
from services.gateway.domain.redaction import is_permitted, present_paths
from services.gateway.engines import EngineAnswer, OpaEngine, bundle_revision
from services.hubkit.ceilings import Ceilings
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.notice import to_json_value
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology
from tests.gateway.integration.helpers import (
    IsolatedBus,
    Observed,
    drain_into,
    metric,
    read_into,
    wait_until,
)
from tests.gateway.integration.processes import PrivateOpa
from tests.gateway.loop_fakes import FakeChildContext
from tests.gateway.notices import random_notices

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(240)]

NOTICES = 40
VIOLATIONS = "safehub_gateway_ceiling_violations_total"

PERMIT_EVERYTHING = """\
# A deliberately broken policy for the gateway's ceiling test: every subscriber is permitted
# every path the notice holds. Only the gateway's own ceiling check stands in the way.
package safehub.sharing

_containers := {"source", "subject", "narrative", "risk", "consent", "family_informed", "detail"}

# The gateway requires these of any disclosure (the feed item names them).
_feed_identity := {"notice_id", "notice_type", "subject.linkage_key"}

_holds(value) if {
	value != null
	value != []
	value != {}
}

_present(notice) := {key |
	some key, value in notice
	not key in _containers
	_holds(value)
} | {path |
	some container in _containers
	some child, value in object.get(notice, container, {})
	_holds(value)
	path := concat(".", [container, child])
}

_decide(notice) := {sid: {
	"outcome": "PERMIT",
	"permitted_fields": sort(_present(notice) | _feed_identity),
	"purpose": "SAFEGUARDING_TRIAGE",
	"lawful_basis": {"article6": "test only", "statutory_gateway": "test only"},
	"isa_clause": null,
	"rule_ids": ["TEST-PERMIT-EVERYTHING"],
	"explanation": "Shared because this test policy permits everything.",
} | some sid, _ in data.safehub.subscribers}

decisions := _decide(input.notice)

batch_decisions := [_decide(notice) | some notice in input.notices]
"""


def _permissive_policies(stack: HubSettings, root: Path) -> Path:
    """A bundle of the permissive module and the subscribers it answers for."""
    policies = root / "policies"
    (policies / "safehub/sharing").mkdir(parents=True)
    (policies / "safehub/subscribers").mkdir(parents=True)
    shutil.copy(
        stack.policies_dir / "safehub/subscribers/data.json",
        policies / "safehub/subscribers/data.json",
    )
    (policies / "safehub/sharing/permissive.rego").write_text(PERMIT_EVERYTHING)
    return policies


async def test_nothing_beyond_a_ceiling_reaches_any_feed(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    notices = list(random_notices(seed=1212, count=NOTICES))
    by_id = {str(n["notice_id"]): n for n in notices}
    subscribers = {s.subscriber_id: s for s in topology.subscribers}
    ceilings = Ceilings.load(stack.policies_dir)
    policies = _permissive_policies(stack, tmp_path)
    opa = PrivateOpa(stack.model_copy(update={"policies_dir": policies}), tmp_path / "opa.log")
    opa.start()
    try:
        # What the broken policy answers, and which of its decisions exceed a ceiling.
        reference = OpaEngine(opa.url, timeout_s=30, revision=bundle_revision(policies))
        answers = await reference.evaluate_many([to_json_value(n) for n in notices])
        await reference.close()
        over: dict[tuple[str, str], frozenset[str]] = {}
        revisions: set[str] = set()
        for notice, answer in zip(notices, answers, strict=True):
            assert isinstance(answer, EngineAnswer), answer
            revisions.add(answer.policy_revision)
            for sid, decision in parse_decisions(answer.result, list(subscribers)).items():
                excess = ceilings.excess(
                    subscribers[sid].role, notice["notice_type"], decision.permitted_fields
                )
                if excess:
                    over[str(notice["notice_id"]), sid] = excess
        (revision,) = revisions
        # The test means something only if the policy both breaches and stays within.
        assert over, "the permissive policy should exceed some ceilings"
        assert len(over) < len(notices) * len(subscribers), "and stay within others"

        async with IsolatedBus(stack, topology, label="ceilings") as bus:
            settings = bus.gateway_settings(engine="opa", decision_timeout_s=5.0)
            engine = OpaEngine(opa.url, timeout_s=5.0, revision=bundle_revision(policies))
            gateway = build_gateway(
                stack, settings, engine=engine, child_context=FakeChildContext()
            )
            audit = await bus.reader(AUDIT_TOPIC)
            feeds = {sid: await bus.reader(s.feed_topic) for sid, s in subscribers.items()}
            observed = Observed(
                SchemaCatalog(stack.schemas_dir),
                KeyDirectory.load(stack.keys_dir / "trusted"),
                frozenset(by_id),
            )
            running = asyncio.create_task(gateway.run())
            try:
                assert await wait_until(lambda: gateway.health().ready, timeout_s=60)
                await bus.publish(notices)
                assert await read_into(
                    observed, audit, until=len(notices) * len(subscribers), timeout_s=90
                ), "not every decision was audited"
            finally:
                gateway.stop()
                await running
            await drain_into(observed, audit, feeds, quiet_s=1.0)
    finally:
        opa.stop()

    # No feed holds a path beyond its subscriber's ceiling, nor anything for a breach.
    delivered: set[tuple[str, str]] = set()
    for sid, items in observed.feeds.items():
        role = subscribers[sid].role
        for item in items:
            key = (item["notice_id"], sid)
            delivered.add(key)
            assert key not in over, f"{sid} received {item['notice_id']} beyond its ceiling"
            ceiling = ceilings.paths_for(role, item["notice_type"])
            # What the view holds, at disclosure granularity, read from the feed itself.
            held = present_paths(json.loads(item["view_json"]))
            beyond = sorted(p for p in held if not is_permitted(p, ceiling))
            assert not beyond, f"{sid}: {beyond} beyond the {role} ceiling"
    within = {
        (notice_id, sid)
        for notice_id in by_id
        for sid in subscribers
        if (notice_id, sid) not in over
    }
    assert delivered == within, "every decision within its ceiling is delivered, once"
    assert sum(len(items) for items in observed.feeds.values()) == len(within)

    # Each breach is audited, once, as a DENY with its reason; the others as the policy said.
    audited = Counter((a["notice_id"], a["recipient"]["subscriber_id"]) for a in observed.audit)
    assert set(audited) == {(n, s) for n in by_id for s in subscribers}
    assert set(audited.values()) == {1}
    for record in observed.audit:
        key = (record["notice_id"], record["recipient"]["subscriber_id"])
        if key in over:
            assert record["outcome"] == "DENY"
            assert record["reason_code"] == CEILING_EXCEEDED
            assert record["fields_disclosed"] == []
            assert record["disclosed_at"] is None
            assert record["policy_revision"] == revision
            assert revision in record["explanation"]
            for path in over[key]:
                assert path in record["explanation"], (key, path)
        else:
            assert record["outcome"] == "PERMIT"
            assert record["reason_code"] is None

    # And counted, per subscriber, role and notice type.
    expected = Counter(
        (sid, subscribers[sid].role, by_id[notice_id]["notice_type"]) for notice_id, sid in over
    )
    registry = gateway.metrics.registry
    for (sid, role, notice_type), count in expected.items():
        assert metric(registry, VIOLATIONS, subscriber=sid, role=role, notice_type=notice_type) == (
            count
        )
    assert gateway.stats.ceiling_violations == len(over)
