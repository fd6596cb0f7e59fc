"""Replaying notices through the current and a candidate policy: the simulation itself.

Notices are grouped as they are read (`services.policy.equivalence`): the first notice of
each new group goes to OPA at once, in chunks, for both policies, while reading goes on, so
Python and OPA share the cores instead of taking turns. At the end a sample of other group
members is evaluated exactly under both policies; if any of them is decided differently
from its group's first notice, the grouping is not safe for these policies and every notice
is evaluated on its own instead. The result says which way it went.

`exact=True` skips grouping. Notices may be in JSON form or in the record form fastavro
reads; only the notices that are evaluated are converted to JSON (what the gateway sends).

Which named parts of the rules (grants, restrictions, vetoes, refusals) the input fired is
asked of one notice per group only, under both policies (the candidate may add or rename
parts): whether a part fires depends only on what the Rego reads, which is what the
grouping keeps. With `exact=True` the notices are grouped for this pass alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.hubkit.notice import to_json_value
from services.policy.diff import (
    GroupOutcome,
    SimulationDiff,
    compute_diff,
    notice_ref,
    read_decisions,
)
from services.policy.equivalence import (
    NoticeGroup,
    equivalence_key,
    rego_vocabulary,
    sample_members,
)
from services.policy.evaluate import BatchPool, PolicySource, evaluate_batches
from services.policy.rule_parts import RulePart, read_rule_parts

__all__ = ["CHUNK", "SimulationResult", "simulate", "verification_sample_size"]

# Notices per `opa eval` process: small enough that OPA starts while notices are still
# being read, large enough that compiling the policy once per chunk costs little.
CHUNK = 500


def verification_sample_size(notices: int) -> int:
    """How many group members to re-check exactly: 1 in 500, at least 200."""
    return max(200, notices // 500)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    diff: SimulationDiff
    current_revision: str
    candidate_revision: str
    grouped: bool
    """True when the diff comes from groups of equivalent notices (checked by sampling)."""
    groups: int
    checked: int
    """Group members re-evaluated exactly to check the grouping."""
    disagreements: int
    """Sampled checks that disagreed with their group (then: every notice evaluated)."""
    seconds: float
    parts_fired: frozenset[RulePart] | None = None
    """Named parts of the rules any notice fired under either policy; None when neither
    policy can say (both published before the `rule_parts` entrypoint)."""
    parts_unanswered: tuple[str, ...] = ()
    """"current" and/or "candidate": the policies that have no `rule_parts` entrypoint."""


class _Submitter:
    """Sends notices to both policies in chunks as they are chosen; keeps the futures."""

    def __init__(self, pool: BatchPool, sources: tuple[PolicySource, PolicySource]) -> None:
        self._pool = pool
        self._sources = sources
        self._pending: list[Mapping[str, Any]] = []
        self._futures: list[tuple[Future[list[Any]], Future[list[Any]]]] = []

    def add(self, notice: Mapping[str, Any]) -> None:
        self._pending.append(notice)
        if len(self._pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            chunk = [to_json_value(notice) for notice in self._pending]
            current, candidate = self._sources
            self._futures.append(
                (self._pool.submit(current, chunk), self._pool.submit(candidate, chunk))
            )
            self._pending = []

    def results(self) -> tuple[list[Any], list[Any]]:
        """Every answer, in the order the notices were added, for each policy."""
        self.flush()
        current = [d for pair in self._futures for d in pair[0].result()]
        candidate = [d for pair in self._futures for d in pair[1].result()]
        return current, candidate


class _PartsSubmitter:
    """Asks both policies which rule parts each notice fires, in chunks, as notices come."""

    def __init__(self, pool: BatchPool, sources: tuple[PolicySource, PolicySource]) -> None:
        self._pool = pool
        self._sources = sources
        self._pending: list[Mapping[str, Any]] = []
        self._futures: list[tuple[Future[list[Any] | None], Future[list[Any] | None]]] = []

    def add(self, notice: Mapping[str, Any]) -> None:
        self._pending.append(notice)
        if len(self._pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            chunk = [to_json_value(notice) for notice in self._pending]
            current, candidate = self._sources
            self._futures.append(
                (
                    self._pool.submit_rule_parts(current, chunk),
                    self._pool.submit_rule_parts(candidate, chunk),
                )
            )
            self._pending = []

    def results(self) -> tuple[frozenset[RulePart] | None, tuple[str, ...]]:
        """(parts fired under either policy, the policies that could not say)."""
        self.flush()
        fired: set[RulePart] = set()
        unanswered: list[str] = []
        for number, policy in enumerate(("current", "candidate")):
            chunks = [pair[number].result() for pair in self._futures]
            if any(answers is None for answers in chunks):
                unanswered.append(policy)
                continue
            for answers in chunks:
                for answer in answers or ():
                    fired |= read_rule_parts(answer)
        return (None if len(unanswered) == 2 else frozenset(fired)), tuple(unanswered)


def _parts_of_representatives(
    notices: Sequence[Mapping[str, Any]],
    opa: Path,
    sources: tuple[PolicySource, PolicySource],
    workers: int | None,
) -> tuple[frozenset[RulePart] | None, tuple[str, ...]]:
    """Rule parts fired, asked of the first notice of each group of equivalent notices."""
    vocabulary = rego_vocabulary(*sources[0].contents()).union(
        rego_vocabulary(*sources[1].contents())
    )
    seen: set[Hashable] = set()
    with BatchPool(opa, workers=workers) as pool:
        parts = _PartsSubmitter(pool, sources)
        for notice in notices:
            key = equivalence_key(notice, vocabulary)
            if key not in seen:
                seen.add(key)
                parts.add(notice)
        return parts.results()


def _outcomes(
    notices: Sequence[Mapping[str, Any]],
    groups: Sequence[NoticeGroup],
    current: Sequence[Any],
    candidate: Sequence[Any],
) -> list[GroupOutcome]:
    refs = [notice_ref(notice) for notice in notices]
    return [
        GroupOutcome(
            members=tuple(refs[i] for i in group.members),
            current=read_decisions(current[number]),
            candidate=read_decisions(candidate[number]),
        )
        for number, group in enumerate(groups)
    ]


def _exact(
    notices: Sequence[Mapping[str, Any]],
    opa: Path,
    sources: tuple[PolicySource, PolicySource],
    workers: int | None,
) -> SimulationDiff:
    every = [to_json_value(notice) for notice in notices]
    current, candidate = evaluate_batches(
        opa, [(sources[0], every), (sources[1], every)], workers=workers, chunk=CHUNK
    )
    groups = [NoticeGroup((index,)) for index in range(len(notices))]
    return compute_diff(_outcomes(notices, groups, current, candidate))


def simulate(
    notices: Iterable[Mapping[str, Any]],
    *,
    opa: Path,
    current: PolicySource,
    candidate: PolicySource,
    exact: bool = False,
    seed: int = 0,
    workers: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SimulationResult:
    started = clock()
    sources = (current, candidate)
    revisions = (current.revision(), candidate.revision())
    if exact:
        every = list(notices)
        diff = _exact(every, opa, sources, workers)
        fired, unanswered = _parts_of_representatives(every, opa, sources, workers)
        seconds = clock() - started
        return SimulationResult(
            diff, *revisions, False, len(every), 0, 0, seconds, fired, unanswered
        )

    vocabulary = rego_vocabulary(*current.contents()).union(rego_vocabulary(*candidate.contents()))
    kept: list[Mapping[str, Any]] = []
    members: dict[Hashable, list[int]] = {}
    with BatchPool(opa, workers=workers) as pool:
        representatives = _Submitter(pool, sources)
        parts = _PartsSubmitter(pool, sources)
        for notice in notices:
            index = len(kept)
            kept.append(notice)
            group = members.setdefault(equivalence_key(notice, vocabulary), [])
            if not group:
                representatives.add(notice)
                parts.add(notice)
            group.append(index)
        groups = tuple(NoticeGroup(tuple(m)) for m in members.values())
        sample = sample_members(groups, verification_sample_size(len(kept)), seed=seed)
        checks = _Submitter(pool, sources)
        for _, member in sample:
            checks.add(kept[member])
        cur, cand = representatives.results()
        check_cur, check_cand = checks.results()
        fired, unanswered = parts.results()
    # A sampled member must get, from both policies, exactly its group's decisions (every
    # field, the explanation included).
    disagreements = sum(
        (check_cur[offset] != cur[number]) + (check_cand[offset] != cand[number])
        for offset, (number, _) in enumerate(sample)
    )
    if disagreements:
        diff = _exact(kept, opa, sources, workers)
    else:
        diff = compute_diff(_outcomes(kept, groups, cur, cand))
    return SimulationResult(
        diff,
        *revisions,
        not disagreements,
        len(groups),
        len(sample),
        disagreements,
        clock() - started,
        fired,
        unanswered,
    )
