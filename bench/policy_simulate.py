"""Policy simulation over 100,000 notices: seconds end to end and notices per second.

    python bench/policy_simulate.py [--notices 100000] [--exact-sample 500] [--keep DIR]

1. A generated "week" of synthetic notices is written to an Avro file (not timed; reused
   from --keep DIR when it is already there).
2. The candidate policy is a copy of policies/ with one realistic change: Operation
   Encompass no longer reaching sixth forms (R9 max_age 18 -> 16; a change an IG officer
   would want to see the cost of before making it).
3. Timed: `simulate` exactly as `safehub policy simulate --file` runs it: stream the file,
   group equivalent notices, evaluate one per group plus a verification sample through
   `opa eval` for both policies at once, compare, then render the diff text.
4. Baseline, same run: --exact-sample notices evaluated one by one through both policies,
   which gives OPA's own cost per decision and what 100,000 would take without grouping.

Needs the pinned `opa` binary (built by `safehub stack up`), not the running stack. Other
work on the machine slows every figure: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from services.childindex.domain import LinkageKeyer
from services.hubkit.settings import HubSettings
from services.policy.evaluate import PolicySource
from services.policy.notices_io import iter_notice_file, write_notice_file
from services.policy.report import PolicyLabels, render_diff
from services.policy.sample import generate_week
from services.policy.simulation import simulate
from services.stack.artifacts import ensure_opa

WEEK_START = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)


def _notices_file(directory: Path, count: int, schemas: Path) -> tuple[Path, float]:
    path = directory / f"week-{count}.avro"
    if path.exists():
        return path, 0.0
    started = time.monotonic()
    keyer = LinkageKeyer(b"bench-only-linkage-secret-32byte")
    notices = generate_week(count=count, seed=1, keyer=keyer, week_start=WEEK_START)
    write_notice_file(path, notices, schemas)
    return path, time.monotonic() - started


def _candidate(policies: Path, directory: Path) -> Path:
    candidate = directory / "candidate"
    shutil.rmtree(candidate, ignore_errors=True)
    shutil.copytree(policies, candidate)
    rules = candidate / "safehub" / "rules" / "data.json"
    text = rules.read_text()
    if '"max_age": 18' not in text:
        sys.exit("bench: policies/ no longer has R9 max_age 18; update the candidate change")
    rules.write_text(text.replace('"max_age": 18', '"max_age": 16'))
    return candidate


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=100_000)
    parser.add_argument("--exact-sample", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="keep the generated file here for reuse")
    args = parser.parse_args()
    settings = HubSettings()
    opa = ensure_opa(settings, print)
    with tempfile.TemporaryDirectory(prefix="safehub-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        path, generated_s = _notices_file(work, args.notices, settings.schemas_dir)
        current = PolicySource.at(settings.policies_dir)
        candidate = PolicySource.at(_candidate(settings.policies_dir, Path(tmp)))
        load_before = os.getloadavg()[0]

        started, cpu_started = time.monotonic(), time.process_time()
        children_started = _children_cpu()
        result = simulate(
            iter_notice_file(path, json_form=False), opa=opa, current=current, candidate=candidate
        )
        text = render_diff(
            result.diff, labels=PolicyLabels.from_data(candidate.contents()[1]), header=[]
        )
        seconds = time.monotonic() - started
        python_cpu = time.process_time() - cpu_started
        opa_cpu = _children_cpu() - children_started
        load_after = os.getloadavg()[0]

        sample = list(itertools.islice(iter_notice_file(path), args.exact_sample))
        exact_started = time.monotonic()
        exact_children = _children_cpu()
        simulate(sample, opa=opa, current=current, candidate=candidate, exact=True)
        exact_s = time.monotonic() - exact_started
        per_decision_ms = 1000 * (_children_cpu() - exact_children) / (2 * len(sample))

    notices = result.diff.notices
    print(f"policy simulate: {notices:,} notices ({path.name}; generated in {generated_s:.1f}s)")
    print(f"  end to end:        {seconds:.1f} s  ({notices / seconds:,.0f} notices/s)")
    print(
        f"  cpu:               python {python_cpu:.1f} s, opa {opa_cpu:.1f} s "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"  evaluated:         {result.groups:,} groups + {result.checked:,} checks, "
        f"x2 policies; grouping {'held' if result.grouped else 'FAILED, fell back to exact'}"
    )
    print(
        f"  changed:           {result.diff.notices_changed:,} notices ({len(text)} lines of diff)"
    )
    print(f"  load average:      {load_before:.1f} before, {load_after:.1f} after")
    print(
        f"  baseline (exact):  {len(sample):,} notices x2 policies in {exact_s:.1f} s; "
        f"OPA {per_decision_ms:.2f} ms cpu per notice per policy; "
        f"{notices:,} exactly would need ~{2 * notices * per_decision_ms / 1000:,.0f} s cpu"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
