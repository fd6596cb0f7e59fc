"""`safehub policy test|lint`: the checks an IG officer runs before proposing a rule change."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from services.hubkit.settings import HubSettings
from services.policy.checks import summarise_coverage, summarise_tests
from services.stack.artifacts import ensure_opa, ensure_regal

__all__ = ["register"]

REQUIRED_COVERAGE = 100.0


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="test and lint the sharing rules in policies/")
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = actions.add_parser("test", help="run the Rego tests with coverage (opa test)")
    test.add_argument("--min-coverage", type=float, default=REQUIRED_COVERAGE)
    test.set_defaults(handler=_test)
    lint = actions.add_parser("lint", help="opa fmt, opa check --strict and regal lint")
    lint.set_defaults(handler=_lint)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _test(args: argparse.Namespace) -> int:
    settings = HubSettings()
    opa = str(ensure_opa(settings, print))
    policies = str(settings.policies_dir)
    results = _run([opa, "test", "--format=json", policies])
    try:
        summary = summarise_tests(json.loads(results.stdout or "[]"))
    except json.JSONDecodeError:
        print(f"opa test could not run:\n{results.stderr.strip()}")
        return 1
    coverage = summarise_coverage(
        json.loads(_run([opa, "test", "--coverage", "--format=json", policies]).stdout or "{}")
    )
    for failure in summary.failed:
        print(f"FAILED  {failure}")
    print(f"policy tests: {summary.passed} passed, {len(summary.failed)} failed")
    print(f"rule coverage: {coverage.percent:.1f}% (required {args.min_coverage:.0f}%)")
    for line in coverage.uncovered:
        print(f"  not reached by any test: {line}")
    return 0 if summary.ok and coverage.percent >= args.min_coverage else 1


def _lint(_: argparse.Namespace) -> int:
    settings = HubSettings()
    opa = str(ensure_opa(settings, print))
    regal = str(ensure_regal(settings, print))
    policies = str(settings.policies_dir)
    checks = [
        (
            "format (opa fmt)",
            [opa, "fmt", "--list", "--fail", policies],
            "these files need `opa fmt -w`",
        ),
        ("compile (opa check --strict)", [opa, "check", "--strict", policies], ""),
        (
            "style (regal lint)",
            [
                regal,
                "lint",
                "--config-file",
                str(Path(settings.policies_dir).parent / ".regal/config.yaml"),
                policies,
            ],
            "",
        ),
    ]
    failed = 0
    for title, argv, hint in checks:
        result = _run(argv)
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"{title}: {status}")
        if result.returncode != 0:
            failed += 1
            output = (result.stdout + result.stderr).strip()
            print("\n".join(f"  {line}" for line in output.splitlines()))
            if hint:
                print(f"  {hint}")
    return 1 if failed else 0
