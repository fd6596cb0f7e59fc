"""Two versions of the sharing rules decide the same notices: are the decisions identical?

    python bench/policy_decisions_compare.py [--before HEAD] [--after policies]
                                             [--count 500] [--seed 1] [--notices FILE]

For a change meant to alter no decision (a faster rule, a tidier one): both versions answer
`data.safehub.sharing.batch_decisions` (the gateway's entrypoint) for the same notices, and
every notice's decisions must be byte-identical as JSON. Exits 1 and names the first
differences when any decision differs.

--before and --after are each a policies folder (holding `safehub/`) or a git revision whose
`policies/` is taken (`git archive`); test files are left out, as a release leaves them out.
The notices are a generated week (`services.policy.sample`, the mix simulations use) plus,
for every fifth notice, a copy with one field changed from a fixed list (no classification,
an unknown agency, immediate danger, consent refused, police-confidential account, ...), so
unusable notices and the rarer branches are decided too; or --notices FILE, a JSON object
{"notices": [...]}.

Also prints each version's OPA CPU time per notice (user + system time of `opa eval`, less
that of the same command with no notices): a rough figure on a busy machine, where
`opa eval --profile` counts of evaluations are steadier. Needs the pinned `opa` binary
(built by `safehub stack up`), not the running stack.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import io
import json
import resource
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.childindex.domain import LinkageKeyer
from services.hubkit.notice import to_json_value
from services.hubkit.settings import HubSettings
from services.policy.sample import generate_week
from services.stack.artifacts import ensure_opa

ENTRYPOINT = "data.safehub.sharing.batch_decisions"

Notice = dict[str, Any]


def _set(path: str, value: Any) -> Callable[[Notice], None]:
    def change(notice: Notice) -> None:
        *parents, leaf = path.split(".")
        target = notice
        for key in parents:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[leaf] = value

    return change


# One change per variant; each reaches a branch the generated week seldom or never does.
VARIANTS: tuple[tuple[str, Callable[[Notice], None]], ...] = (
    ("no classification", _set("classification", None)),
    ("unknown notice type", _set("notice_type", "NOT_A_TYPE")),
    ("unknown agency", _set("source.agency", "NOT_AN_AGENCY")),
    ("no linkage key", _set("subject.linkage_key", "")),
    ("no detail", _set("detail", None)),
    ("immediate danger", _set("risk.immediate_danger", True)),
    ("no apparent risk", _set("risk.level", "NO_APPARENT_RISK")),
    ("consent refused", _set("consent.status", "REFUSED")),
    ("looked after", _set("subject.looked_after", True)),
    ("police-confidential account", _set("narrative.sensitivity", "POLICE_CONFIDENTIAL")),
    ("OFFICIAL_SENSITIVE", _set("classification", "OFFICIAL_SENSITIVE")),
    ("a field the rules do not know", _set("detail.not_in_the_schema", "synthetic")),
)


def generated_notices(count: int, seed: int) -> list[Notice]:
    """A generated week (JSON values, as the gateway sends them) and its variants."""
    keyer = LinkageKeyer(f"safehub-decisions-compare-{seed}".encode().ljust(32, b"."))
    week_start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    week = [
        to_json_value(notice)
        for notice in generate_week(count=count, seed=seed, keyer=keyer, week_start=week_start)
    ]
    variants = []
    for index, notice in enumerate(week[::5]):
        variant = copy.deepcopy(notice)
        VARIANTS[index % len(VARIANTS)][1](variant)
        variants.append(variant)
    return week + variants


def policies_folder(spec: str, repo: Path, into: Path) -> Path:
    """`spec` as a policies folder: itself when it is one, else `policies/` at that revision."""
    folder = Path(spec)
    if (folder / "safehub").is_dir():
        return folder
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", spec, "policies"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "policies"


def decide(opa: Path, policies: Path, input_file: Path) -> tuple[list[Any], float]:
    """The entrypoint's answer for the notices in `input_file`, and the CPU seconds it took."""
    command = [str(opa), "eval", "--format", "json", "--data", str(policies)]
    command += ["--ignore", "*_test.rego", "--input", str(input_file), ENTRYPOINT]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    answer = json.loads(completed.stdout)
    if "result" not in answer:
        raise SystemExit(f"{policies}: OPA gave no result: {completed.stdout[:500]!r}")
    value: list[Any] = answer["result"][0]["expressions"][0]["value"]
    return value, cpu


def differences(notices: list[Notice], before: list[Any], after: list[Any]) -> list[str]:
    """One line per subscriber decision that differs (notice id, subscriber, fields)."""
    lines = []
    for notice, old, new in zip(notices, before, after, strict=True):
        if json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True):
            continue
        for subscriber in sorted(set(old) | set(new)):
            a, b = old.get(subscriber, {}), new.get(subscriber, {})
            changed = sorted(key for key in set(a) | set(b) if a.get(key) != b.get(key))
            if changed:
                lines.append(f"{notice.get('notice_id')} {subscriber}: {', '.join(changed)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="HEAD", help="policies folder or git revision")
    parser.add_argument("--after", default=None, help="policies folder or git revision")
    parser.add_argument("--count", type=int, default=500, help="generated notices")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--notices", type=Path, help='JSON {"notices": [...]} instead')
    args = parser.parse_args(argv)

    hub = HubSettings()
    opa = ensure_opa(hub)
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="safehub-compare-") as scratch:
        work = Path(scratch)
        before = policies_folder(args.before, repo, work / "before")
        after = policies_folder(args.after or str(hub.policies_dir), repo, work / "after")
        if args.notices:
            notices = json.loads(args.notices.read_text())["notices"]
        else:
            notices = generated_notices(args.count, args.seed)
        input_file, empty_file = work / "notices.json", work / "none.json"
        input_file.write_text(json.dumps({"notices": notices}))
        empty_file.write_text(json.dumps({"notices": []}))

        print(f"{len(notices)} notices; before {args.before}, after {args.after or 'policies/'}")
        answers = []
        for label, folder in (("before", before), ("after", after)):
            decided, cpu = decide(opa, folder, input_file)
            _, overhead = decide(opa, folder, empty_file)
            answers.append(decided)
            per_notice = max(cpu - overhead, 0.0) / len(notices) * 1000
            print(f"  {label:<6} OPA CPU {per_notice:5.2f} ms per notice")
        changed = differences(notices, answers[0], answers[1])
    if changed:
        print(f"DIFFERENT: {len(changed)} subscriber decisions differ, e.g.")
        print("\n".join(f"  {line}" for line in changed[:20]))
        return 1
    decisions = sum(len(decided) for decided in answers[1])
    print(f"identical: all {decisions} subscriber decisions, byte for byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())
