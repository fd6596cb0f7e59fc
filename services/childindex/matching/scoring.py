"""Link a batch of records: who is the same child, and which pairs a person must look at.

Order: the deterministic rule first (two records with the same valid NHS number are the same
child), then the trained Splink model scores the candidate pairs its
blocking rules make; pairs whose given names conflict are at most in the review band
(guards.py); pairs at or above `Thresholds.same_child` link, and the records are
clustered by connected components over all links. Pairs in the review band whose records did
not end up in one cluster anyway are returned for review. Splink and DuckDB stay in
`_predicted_pairs`; the clustering is plain Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.childindex.matching.guards import capped_probability, given_names_conflict
from services.childindex.matching.model import MODEL_FILE, Thresholds, linker_for
from services.childindex.matching.records import IdentifiedRecord, match_row

__all__ = ["Linkage", "ScoredPair", "cluster", "link_records"]


@dataclass(frozen=True, slots=True)
class ScoredPair:
    record_id_l: str
    record_id_r: str
    match_probability: float


@dataclass(frozen=True, slots=True)
class Linkage:
    clusters: tuple[frozenset[str], ...]  # every record id in exactly one cluster
    review: tuple[ScoredPair, ...]  # uncertain pairs across two clusters, most likely first

    def cluster_of(self) -> dict[str, int]:
        return {rid: n for n, members in enumerate(self.clusters) for rid in members}


def link_records(
    records: Sequence[IdentifiedRecord],
    *,
    thresholds: Thresholds,
    model: Path = MODEL_FILE,
) -> Linkage:
    rows = [match_row(r) for r in records]
    by_id = {str(row["record_id"]): row for row in rows}
    nhs_links = _same_nhs_number_pairs((str(row["record_id"]), row["nhs_number"]) for row in rows)
    # A pair whose given names conflict is at most in the review band (guards.py), whether
    # the NHS number rule or the model would link it.
    deterministic = [(a, b) for a, b in nhs_links if not given_names_conflict(by_id[a], by_id[b])]
    demoted = [
        ScoredPair(a, b, capped_probability(1.0, by_id[a], by_id[b], thresholds))
        for a, b in nhs_links
        if given_names_conflict(by_id[a], by_id[b])
    ]
    scored = [
        ScoredPair(
            pair.record_id_l,
            pair.record_id_r,
            capped_probability(
                pair.match_probability, by_id[pair.record_id_l], by_id[pair.record_id_r], thresholds
            ),
        )
        for pair in _predicted_pairs(rows, model=model, at_least=thresholds.review)
    ]
    return cluster(
        list(by_id),
        deterministic=deterministic,
        scored=[*scored, *demoted],
        thresholds=thresholds,
    )


def cluster(
    record_ids: Sequence[str],
    *,
    deterministic: Iterable[tuple[str, str]],
    scored: Iterable[ScoredPair],
    thresholds: Thresholds,
) -> Linkage:
    """Connected components over deterministic links and scored pairs >= same_child."""
    parent = {rid: rid for rid in record_ids}

    def root(rid: str) -> str:
        while parent[rid] != rid:
            parent[rid] = parent[parent[rid]]  # path halving keeps the trees shallow
            rid = parent[rid]
        return rid

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for a, b in deterministic:
        join(a, b)
    uncertain: list[ScoredPair] = []
    for pair in scored:
        if pair.match_probability >= thresholds.same_child:
            join(pair.record_id_l, pair.record_id_r)
        elif pair.match_probability >= thresholds.review:
            uncertain.append(pair)

    members: dict[str, set[str]] = defaultdict(set)
    for rid in record_ids:
        members[root(rid)].add(rid)
    review = sorted(
        (p for p in uncertain if root(p.record_id_l) != root(p.record_id_r)),
        key=lambda p: (-p.match_probability, p.record_id_l, p.record_id_r),
    )
    clusters = sorted((frozenset(m) for m in members.values()), key=min)
    return Linkage(clusters=tuple(clusters), review=tuple(review))


def _same_nhs_number_pairs(
    ids_and_numbers: Iterable[tuple[str, str | None]],
) -> list[tuple[str, str]]:
    first_with: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for rid, nhs in ids_and_numbers:
        if nhs is None:
            continue
        if nhs in first_with:
            pairs.append((first_with[nhs], rid))
        else:
            first_with[nhs] = rid
    return pairs


def _predicted_pairs(
    rows: list[dict[str, object]], *, model: Path, at_least: float
) -> list[ScoredPair]:
    linker = linker_for(rows, model)
    predictions = linker.inference.predict(
        threshold_match_probability=at_least, warning_mode="never"
    )
    relation = predictions.as_duckdbpyrelation().select(
        "record_id_l, record_id_r, match_probability"
    )
    return [ScoredPair(str(left), str(right), float(p)) for left, right, p in relation.fetchall()]
