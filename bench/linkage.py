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
4. For each: pairwise precision and recall, cluster F1 = B-cubed F1 (Bagga and Baldwin 1998;
   definitions in services/childindex/matching/quality.py), and for (b) the share of records
   in a review-band pair, the training time and the scoring time.
Target (issue 15): recall >= 0.95 at precision >= 0.995, review band < 2% of records.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from services.childindex.domain import canonical_identifiers
from services.childindex.matching.model import Thresholds, train_model
from services.childindex.matching.quality import LinkageQuality, linkage_quality
from services.childindex.matching.scoring import link_records
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


if __name__ == "__main__":
    main()
