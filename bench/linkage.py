"""Linkage quality against ground truth: today's deterministic key vs the Splink model.

    python bench/linkage.py [--records 50000] [--seed 15] [--train-seed 16] [--model PATH]

1. A synthetic population (services/synthetic/population.py) sized for --records records.
2. The model is trained on a *different* population of the same size (--train-seed), so it is
   not scored on the records it was fitted to; no ground truth is used in training. The
   trained model is written to --model (default: a temporary file; pass
   services/childindex/matching/model.json to refresh the shipped one).
3. Both methods link the scored population:
   (a) deterministic: services.childindex.domain.canonical_identifiers; records with equal
       canonical strings are one child, records without one are singletons;
   (b) splink: services.childindex.matching.scoring.link_records at the thresholds in
       services/childindex/matching/thresholds.json.
   (c) online: the child index itself (services/childindex/store.py with the same trained
       model scored in Python, matching/online.py) fed the records one at a time in a
       shuffled arrival order, as adapters would send them; each record's child is its
       current key after every merge.
4. For each: pairwise precision and recall, cluster F1 = B-cubed F1 (Bagga and Baldwin 1998;
   definitions in services/childindex/matching/quality.py), and for (b) and (c) the share of
   records in a review-band pair; the training time, the batch scoring time, and the online
   index's latency per record (p50/p99) and throughput.
Target (issue 15): recall >= 0.95 at precision >= 0.995, review band < 2% of records.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import math
import random
import secrets
import tempfile
import time
from pathlib import Path

from services.childindex.domain import canonical_identifiers
from services.childindex.matcher import OnlineMatcher
from services.childindex.matching.model import Thresholds, train_model
from services.childindex.matching.quality import LinkageQuality, linkage_quality
from services.childindex.matching.scoring import link_records
from services.childindex.store import ChildIndexStore
from services.hubkit.linkage import ChildIdentifiers, IdentifiersIncomplete
from services.synthetic.population import MEAN_RECORDS_PER_CHILD, AgencyRecord, population


def deterministic_clusters(records: tuple[AgencyRecord, ...]) -> dict[str, int]:
    labels: dict[str, int] = {}
    canonical_label: dict[str, int] = {}
    for n, record in enumerate(records):
        try:
            canonical = canonical_identifiers(
                ChildIdentifiers(
                    nhs_number=record.nhs_number,
                    given_name=record.given_name,
                    family_name=record.family_name,
                    date_of_birth=record.date_of_birth,
                    postcode=record.postcode,
                )
            )
        except IdentifiersIncomplete:
            labels[record.record_id] = -n - 1  # a singleton
            continue
        labels[record.record_id] = canonical_label.setdefault(canonical, len(canonical_label))
    return labels


def _print(name: str, quality: LinkageQuality) -> None:
    print(
        f"{name:14} pairwise precision {quality.pairwise_precision:.4f}"
        f"  recall {quality.pairwise_recall:.4f}"
        f"  | B-cubed P {quality.bcubed_precision:.4f} R {quality.bcubed_recall:.4f}"
        f"  cluster F1 {quality.cluster_f1:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--train-seed", type=int, default=16)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()

    children = math.ceil(args.records / MEAN_RECORDS_PER_CHILD)
    scored = population(children=children, seed=args.seed)
    training = population(children=children, seed=args.train_seed)
    records = scored.records
    truth = {r.record_id: r.child_id for r in records}
    print(
        f"population: {len(scored.children)} children, {len(records)} records"
        f" (training population: {len(training.records)} records)"
    )

    model = args.model or Path(tempfile.mkdtemp()) / "model.json"
    started = time.perf_counter()
    train_model(training.records, model)
    training_seconds = time.perf_counter() - started

    _print("deterministic", linkage_quality(predicted=deterministic_clusters(records), truth=truth))

    thresholds = Thresholds.load()
    started = time.perf_counter()
    linkage = link_records(records, thresholds=thresholds, model=model)
    scoring_seconds = time.perf_counter() - started
    _print("splink", linkage_quality(predicted=linkage.cluster_of(), truth=truth))
    in_review = {rid for pair in linkage.review for rid in (pair.record_id_l, pair.record_id_r)}
    print(
        f"review band [{thresholds.review}, {thresholds.same_child}): {len(linkage.review)} pairs,"
        f" {len(in_review)} records ({len(in_review) / len(records):.2%} of records)"
    )
    print(
        f"training {training_seconds:.1f} s ({len(training.records)} records);"
        f" scoring {scoring_seconds:.1f} s ({len(records) / scoring_seconds:,.0f} records/s)"
    )
    online(records, model, thresholds, args.seed)


def online(
    records: tuple[AgencyRecord, ...], model: Path, thresholds: Thresholds, seed: int
) -> None:
    arrivals = list(records)
    random.Random(seed).shuffle(arrivals)
    with tempfile.TemporaryDirectory() as scratch:
        store = ChildIndexStore(
            Path(scratch) / "index.sqlite",
            secret=secrets.token_bytes(32),
            store_key=secrets.token_bytes(32),
            scorer=OnlineMatcher.load(model, model.with_name("name_frequencies.json")),
            thresholds=thresholds,
        )
        keys: dict[str, str] = {}
        latencies: list[float] = []
        started = time.perf_counter()
        for record in arrivals:
            identifiers = ChildIdentifiers(
                nhs_number=record.nhs_number,
                given_name=record.given_name,
                family_name=record.family_name,
                date_of_birth=record.date_of_birth,
                postcode=record.postcode,
                sex=record.sex,
                upn=record.upn,
                la_child_id=record.la_child_id,
            )
            before = time.perf_counter()
            try:
                keys[record.record_id] = store.resolve(record.agency, identifiers)
            except IdentifiersIncomplete:
                keys[record.record_id] = f"unplaced:{record.record_id}"
            latencies.append(time.perf_counter() - before)
        elapsed = time.perf_counter() - started
        current = {
            rid: key if key.startswith("unplaced:") else store.keys_of(key)[0]
            for rid, key in keys.items()
        }
        labels = {key: n for n, key in enumerate(sorted(set(current.values())))}
        predicted = {rid: labels[key] for rid, key in current.items()}
        truth = {r.record_id: r.child_id for r in records}
        _print("online index", linkage_quality(predicted=predicted, truth=truth))
        reviews = store.reviews(status="open", limit=len(records))
        in_review = {
            key
            for review in reviews
            for key in (review["left"]["child_key"], review["right"]["child_key"])
        }
        reviewed_records = sum(1 for key in keys.values() if key in in_review)
        unplaced = sum(1 for key in keys.values() if key.startswith("unplaced:"))
        merges = len(store.unpublished_events(limit=len(records)))
        store.close()
    latencies.sort()
    print(
        f"online review queue: {len(reviews)} reviews, {reviewed_records} records on either side"
        f" ({reviewed_records / len(records):.2%} of records); model merges and splits: {merges};"
        f" records the index could not place: {unplaced}"
    )
    print(
        f"online latency per record p50 {latencies[len(latencies) // 2] * 1000:.2f} ms"
        f"  p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms;"
        f" throughput {len(records) / elapsed:,.0f} records/s (one process, index growing"
        f" from 0 to {len(records)} records)"
    )


if __name__ == "__main__":
    main()
