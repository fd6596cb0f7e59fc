"""Replaying notices through the current and a candidate policy: the simulation itself.

Notices are grouped as they are read (`services.policy.equivalence`): the first notice of
each new group goes to OPA at once, in chunks, for both policies, while reading goes on, so
Python and OPA share the cores instead of taking turns. At the end a sample of other group
members is evaluated exactly under both policies; if any of them is decided differently
from its group's first notice, the grouping is not safe for these policies and every notice
is evaluated on its own instead. The result says which way it went.

`exact=True` skips grouping. Notices may be in JSON form or in the record form fastavro
reads; only the notices that are evaluated are converted to JSON (what the gateway sends).
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
        return SimulationResult(diff, *revisions, False, len(every), 0, 0, clock() - started)

    vocabulary = rego_vocabulary(*current.contents()).union(rego_vocabulary(*candidate.contents()))
    kept: list[Mapping[str, Any]] = []
    members: dict[Hashable, list[int]] = {}
    with BatchPool(opa, workers=workers) as pool:
        representatives = _Submitter(pool, sources)
        for notice in notices:
            index = len(kept)
            kept.append(notice)
            group = members.setdefault(equivalence_key(notice, vocabulary), [])
            if not group:
                representatives.add(notice)
            group.append(index)
        groups = tuple(NoticeGroup(tuple(m)) for m in members.values())
        sample = sample_members(groups, verification_sample_size(len(kept)), seed=seed)
        checks = _Submitter(pool, sources)
        for _, member in sample:
            checks.add(kept[member])
        cur, cand = representatives.results()
        check_cur, check_cand = checks.results()
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
    )
