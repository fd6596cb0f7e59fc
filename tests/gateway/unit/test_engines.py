"""OpaEngine against a real (fake) HTTP server on loopback: every way OPA can fail gives a
DecisionUnavailable with its own kind, never a decision. RegopyEngine refuses undefined."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.gateway.domain.retry import backoff_delay
from services.gateway.engines import (
    UNCONFIRMED_PREFIX,
    OpaEngine,
    RegopyEngine,
    bundle_revision,
)
from services.gateway.errors import DecisionUnavailable, EngineUnavailable, PolicyResultInvalid
from services.hubkit.notice import to_json_value
from tests.factories import POLICIES, notices
from tests.gateway.fakeopa import FAILURE_MODES, FakeOpa

DECISION = {
    "outcome": "FLAG_ONLY",
    "permitted_fields": ["notice_id", "notice_type", "subject.linkage_key"],
    "purpose": "SAFEGUARDING_TRIAGE",
    "lawful_basis": {
        "article6": "6(1)(e)",
        "special_category_condition": None,
        "dpa_part3": None,
        "statutory_gateway": "CA 2004 s11",
    },
    "isa_clause": None,
    "rule_ids": ["R1"],
    "explanation": "Flag only.",
}


def _canned(body: dict[str, Any]) -> dict[str, Any]:
    assert "notice" in body["input"]
    return {"result": {"mash-manager": dict(DECISION)}}


@pytest.fixture
def fake() -> Iterator[FakeOpa]:
    server = FakeOpa(_canned, slow_s=0.5).start()
    yield server
    server.stop()


async def _evaluate(url: str, *, timeout_s: float = 0.2) -> Any:
    engine = OpaEngine(url, timeout_s=timeout_s, revision="rev-1")
    try:
        return await engine.evaluate({"notice": {"notice_id": "n1"}})
    finally:
        await engine.close()


async def test_a_good_answer_without_provenance_claims_no_revision(fake: FakeOpa) -> None:
    answer = await _evaluate(fake.url)
    assert answer.result["mash-manager"]["outcome"] == "FLAG_ONLY"
    assert answer.policy_revision == f"{UNCONFIRMED_PREFIX}rev-1"


async def test_the_revision_opa_served_is_recorded() -> None:
    def with_provenance(body: dict[str, Any]) -> dict[str, Any]:
        served = {"bundles": {"safehub": {"revision": "git:abc123"}}}
        return {**_canned(body), "provenance": served}

    server = FakeOpa(with_provenance).start()
    try:
        answer = await _evaluate(server.url)
    finally:
        server.stop()
    assert answer.policy_revision == "git:abc123"
    assert server.requests["proxy"] == 1


@pytest.mark.parametrize("mode", sorted(m for m in FAILURE_MODES if m != "bad_decision"))
async def test_every_failure_is_a_decision_unavailable_with_its_kind(
    fake: FakeOpa, mode: str
) -> None:
    fake.set_mode(mode)
    with pytest.raises(DecisionUnavailable) as caught:
        await _evaluate(fake.url)
    assert caught.value.kind == FAILURE_MODES[mode]
    engine_side = {"unreachable", "timeout", "server_error"}
    expected = EngineUnavailable if caught.value.kind in engine_side else PolicyResultInvalid
    assert isinstance(caught.value, expected)


async def test_the_engine_recovers_when_opa_does(fake: FakeOpa) -> None:
    engine = OpaEngine(fake.url, timeout_s=0.2, revision="rev-1")
    try:
        fake.set_mode("down")
        with pytest.raises(EngineUnavailable):
            await engine.evaluate({"notice": {}})
        fake.set_mode("proxy")
        assert (await engine.evaluate({"notice": {}})).result["mash-manager"]["rule_ids"] == ["R1"]
    finally:
        await engine.close()


async def test_a_closed_port_is_unreachable() -> None:
    server = FakeOpa(_canned).start()
    url = server.url
    server.stop()
    with pytest.raises(EngineUnavailable) as caught:
        await _evaluate(url)
    assert caught.value.kind == "unreachable"


def _regopy_with(tmp_path: Path, rule: str) -> RegopyEngine:
    policy = tmp_path / "safehub" / "sharing" / "decisions.rego"
    policy.parent.mkdir(parents=True)
    policy.write_text(f"package safehub.sharing\n\n{rule}\n")
    return RegopyEngine(tmp_path)


def test_regopy_refuses_an_undefined_result(tmp_path: Path) -> None:
    engine = _regopy_with(tmp_path, 'decisions := {"a": 1} if input.notice.defined')
    with pytest.raises(PolicyResultInvalid) as caught:
        engine.evaluate_sync({"notice": {}})
    assert caught.value.kind == "undefined"
    assert engine.evaluate_sync({"notice": {"defined": True}}).result == {"a": 1}


def test_regopy_refuses_a_boolean_result(tmp_path: Path) -> None:
    engine = _regopy_with(tmp_path, "decisions := true")
    with pytest.raises(PolicyResultInvalid) as caught:
        engine.evaluate_sync({"notice": {}})
    assert caught.value.kind == "non_object_result"


async def test_regopy_decides_real_notices_one_at_a_time() -> None:
    engine = RegopyEngine(POLICIES)
    notice = to_json_value(notices(seed=5).notice("SAFEGUARDING_CONTACT"))
    answer = await engine.evaluate({"notice": notice})
    assert isinstance(answer.result, dict)
    assert answer.policy_revision == bundle_revision(POLICIES)
    assert engine.max_concurrency == 1


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 0.2), (2, 0.4), (3, 0.8), (5, 3.2), (6, 5.0), (500, 5.0)]
)
def test_backoff_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt=attempt, initial_s=0.2, max_s=5.0) == pytest.approx(expected)


def test_backoff_counts_from_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        backoff_delay(attempt=0, initial_s=0.2, max_s=5.0)
