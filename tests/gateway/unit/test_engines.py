"""OpaEngine against a real (fake) HTTP server on loopback: every way OPA can fail gives a
DecisionUnavailable with its own kind, never a decision; a batch query that fails withholds
every notice of it, a bad entry only its own notice. RegopyEngine refuses undefined."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.gateway.domain.retry import backoff_delay
from services.gateway.engines import (
    UNCONFIRMED_PREFIX,
    EngineAnswer,
    OpaEngine,
    RegopyEngine,
    bundle_revision,
)
from services.gateway.errors import DecisionUnavailable, EngineUnavailable, PolicyResultInvalid
from services.hubkit.notice import to_json_value
from tests.factories import POLICIES, notices
from tests.gateway.fakeopa import FAILURE_MODES, SINGLE_FAILURE_MODES, FakeOpa, is_batch

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


def _decisions_for(notice: dict[str, Any]) -> dict[str, Any]:
    # The explanation names the notice, so an answer can be matched to its notice.
    return {"mash-manager": {**DECISION, "explanation": f"for {notice.get('notice_id')}"}}


def _canned(body: dict[str, Any]) -> dict[str, Any]:
    if is_batch(body):
        return {"result": [_decisions_for(n) for n in body["input"]["notices"]]}
    return {"result": _decisions_for(body["input"]["notice"])}


def _notices(count: int) -> list[dict[str, Any]]:
    return [{"notice_id": f"n{index}"} for index in range(count)]


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


@pytest.mark.parametrize("mode", sorted(SINGLE_FAILURE_MODES))
async def test_every_failure_is_a_decision_unavailable_with_its_kind(
    fake: FakeOpa, mode: str
) -> None:
    fake.set_mode(mode)
    with pytest.raises(DecisionUnavailable) as caught:
        await _evaluate(fake.url)
    assert caught.value.kind == SINGLE_FAILURE_MODES[mode]
    assert isinstance(caught.value, _error_class(caught.value.kind))


def _explanation(answer: EngineAnswer | DecisionUnavailable) -> str:
    assert isinstance(answer, EngineAnswer), answer
    return str(answer.result["mash-manager"]["explanation"])


def _error_class(kind: str) -> type[DecisionUnavailable]:
    engine_side = {"unreachable", "timeout", "server_error"}
    return EngineUnavailable if kind in engine_side else PolicyResultInvalid


async def test_a_batch_is_one_query_answered_in_order(fake: FakeOpa) -> None:
    engine = OpaEngine(fake.url, timeout_s=1.0, revision="rev-1")
    try:
        answers = await engine.evaluate_many(_notices(5))
    finally:
        await engine.close()
    assert fake.requests["proxy"] == 1
    assert [_explanation(a) for a in answers] == [f"for n{index}" for index in range(5)]
    assert {a.policy_revision for a in answers if isinstance(a, EngineAnswer)} == {
        f"{UNCONFIRMED_PREFIX}rev-1"
    }


async def test_a_large_batch_is_split_into_queries_of_the_batch_size(fake: FakeOpa) -> None:
    engine = OpaEngine(fake.url, timeout_s=1.0, revision="rev-1", batch_size=3)
    try:
        answers = await engine.evaluate_many(_notices(7))
        assert await engine.evaluate_many([]) == []
    finally:
        await engine.close()
    assert fake.requests["proxy"] == 3
    assert fake.notices_asked == 7
    assert [_explanation(a) for a in answers] == [f"for n{index}" for index in range(7)]


def _about(child: str, notice_id: str) -> dict[str, Any]:
    return {"notice_id": notice_id, "subject": {"linkage_key": child}}


async def test_each_query_carries_the_contexts_of_its_own_children_beside_the_notices() -> None:
    inputs: list[dict[str, Any]] = []

    def recording(body: dict[str, Any]) -> dict[str, Any]:
        inputs.append(body["input"])
        return _canned(body)

    server = FakeOpa(recording).start()
    engine = OpaEngine(server.url, timeout_s=1.0, revision="rev-1", batch_size=2)
    notices = [_about("a", "n0"), _about("a", "n1"), _about("b", "n2"), {"notice_id": "odd"}]
    contexts = {"a": {"child_key": "a"}, "b": {"child_key": "b"}, "c": {"child_key": "c"}}
    try:
        answers = await engine.evaluate_many(notices, contexts)
    finally:
        await engine.close()
        server.stop()
    assert [_explanation(a) for a in answers] == ["for n0", "for n1", "for n2", "for odd"]
    # Keyed by child, each child once per query, only the query's own children.
    assert sorted(inputs, key=lambda i: i["notices"][0]["notice_id"]) == [
        {"notices": notices[:2], "contexts": {"a": {"child_key": "a"}}},
        {"notices": notices[2:], "contexts": {"b": {"child_key": "b"}}},
    ]


async def test_regopy_sees_the_context_of_the_notices_own_child(tmp_path: Path) -> None:
    engine = _regopy_with(
        tmp_path,
        'decisions := {"seen": input.context.child_key} if input.context\nelse := {"seen": null}',
    )
    contexts = {"a": {"child_key": "a"}, "b": {"child_key": "b"}}
    notices = [_about("b", "n0"), _about("a", "n1"), _about("z", "n2")]
    answers = await engine.evaluate_many(notices, contexts)
    assert [a.result for a in answers if isinstance(a, EngineAnswer)] == [
        {"seen": "b"},
        {"seen": "a"},
        {"seen": None},
    ]


@pytest.mark.parametrize("mode", sorted(m for m in FAILURE_MODES if m != "bad_decision"))
async def test_a_failed_batch_query_withholds_every_notice_of_it(fake: FakeOpa, mode: str) -> None:
    fake.set_mode(mode)
    engine = OpaEngine(fake.url, timeout_s=0.2, revision="rev-1")
    try:
        answers = await engine.evaluate_many(_notices(3))
    finally:
        await engine.close()
    assert len(answers) == 3
    for answer in answers:
        assert isinstance(answer, DecisionUnavailable), mode
        assert answer.kind == FAILURE_MODES[mode]
        assert isinstance(answer, _error_class(answer.kind))


@pytest.mark.parametrize("spoiled", [True, None, [], "PERMIT"])
async def test_a_bad_entry_withholds_only_its_own_notice(fake: FakeOpa, spoiled: Any) -> None:
    fake.poisoned["n1"] = spoiled
    engine = OpaEngine(fake.url, timeout_s=1.0, revision="rev-1")
    try:
        first, second, third = await engine.evaluate_many(_notices(3))
    finally:
        await engine.close()
    assert isinstance(second, PolicyResultInvalid)
    assert second.kind == "non_object_result"
    assert isinstance(first, EngineAnswer)
    assert isinstance(third, EngineAnswer)
    assert third.result["mash-manager"]["explanation"] == "for n2"


async def test_the_http_timeout_follows_the_budget_of_each_call(fake: FakeOpa) -> None:
    # Built with 0.2 s; OPA answers in 0.5 s: the gateway's grown budget must reach the HTTP
    # client, or every retry would still give up where the first attempt did.
    fake.set_mode("slow")
    engine = OpaEngine(fake.url, timeout_s=0.2, revision="rev-1")
    try:
        [short] = await engine.evaluate_many(_notices(1))
        [grown] = await engine.evaluate_many(_notices(1), timeout_s=2.0)
        [shrunk] = await engine.evaluate_many(_notices(1), timeout_s=0.1)
    finally:
        await engine.close()
    assert isinstance(short, EngineUnavailable)
    assert short.kind == "timeout"
    assert isinstance(grown, EngineAnswer)
    assert grown.result["mash-manager"]["explanation"] == "for n0"
    assert isinstance(shrunk, EngineUnavailable)
    assert shrunk.kind == "timeout"


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


async def test_regopy_withholds_only_the_undefined_notice_of_a_batch(tmp_path: Path) -> None:
    engine = _regopy_with(tmp_path, 'decisions := {"a": 1} if input.notice.defined')
    undefined, defined = await engine.evaluate_many([{}, {"defined": True}])
    assert isinstance(undefined, PolicyResultInvalid)
    assert undefined.kind == "undefined"
    assert isinstance(defined, EngineAnswer)
    assert defined.result == {"a": 1}


async def test_regopy_decides_real_notices_one_at_a_time() -> None:
    engine = RegopyEngine(POLICIES)
    notice = to_json_value(notices(seed=5).notice("SAFEGUARDING_CONTACT"))
    answer = await engine.evaluate({"notice": notice})
    assert isinstance(answer.result, dict)
    assert answer.policy_revision == bundle_revision(POLICIES)
    assert engine.max_concurrency == 1
    assert engine.batch_size == 1


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 0.2), (2, 0.4), (3, 0.8), (5, 3.2), (6, 5.0), (500, 5.0)]
)
def test_backoff_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt=attempt, initial_s=0.2, max_s=5.0) == pytest.approx(expected)


def test_backoff_counts_from_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        backoff_delay(attempt=0, initial_s=0.2, max_s=5.0)
