"""`safehub policy ...`: the tools an IG officer uses to check, try out and publish rule changes.

    test            opa test with coverage (100% required)
    lint            opa fmt --diff, opa check --strict, regal lint
    explain         the decision for each subscriber on one notice, in plain English
    simulate        replay notices through the current and a candidate policy; print the diff
    sample-notices  write a generated week of synthetic notices to an Avro file
    publish         build, sign and publish a policy release; OPA verifies and loads it

Thin edge: argument parsing, clocks, files and processes here; the work is in
services/policy (diff, equivalence, report: pure; evaluate, publish, notices_io: I/O).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from services.hubkit.settings import REPO_ROOT, HubSettings
from services.policy.checks import format_diff, summarise_coverage, summarise_tests
from services.policy.errors import PolicyToolError
from services.policy.failed_tests import failed_expressions, render_failure
from services.stack.artifacts import ensure_opa, ensure_regal

__all__ = ["parse_duration", "register"]

REQUIRED_COVERAGE = 100.0
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta:
    """`7d`, `36h`, `2w`, `90m`, `30s` as a time span."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 7d, 36h or 2w")
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


def _positive(text: str) -> int:
    """A count of at least 1 (argparse turns the error into one line and exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count; give 1 or more")
    return value


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser(
        "policy", help="test, lint, explain, simulate and publish the sharing rules"
    )
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")

    test = actions.add_parser("test", help="run the Rego tests with coverage (opa test)")
    test.add_argument("--min-coverage", type=float, default=REQUIRED_COVERAGE)
    test.set_defaults(handler=_test)

    lint = actions.add_parser("lint", help="opa fmt --diff, opa check --strict and regal lint")
    lint.set_defaults(handler=_lint)

    explain = actions.add_parser(
        "explain", help="the decision for each subscriber on one notice, and why"
    )
    explain.add_argument(
        "notice_file",
        type=Path,
        nargs="?",
        help="the notice: JSON, Avro single-object, a signed envelope, or an Avro file; "
        "leave out and give --notice-id to explain what the hub decided (from the audit log)",
    )
    explain.add_argument("--subscriber", help="only this subscriber (e.g. school-dsl)")
    explain.add_argument("--engine", choices=["opa", "regopy"], default="opa")
    explain.add_argument(
        "--policies",
        type=Path,
        help="a policy folder or bundle to use instead of what is live (e.g. a candidate)",
    )
    explain.add_argument(
        "--notice-id",
        help="which notice of a file holding several; without a file, a notice the hub "
        "decided, explained from the local audit log",
    )

    simulate = actions.add_parser(
        "simulate", help="replay notices through the current and a candidate policy"
    )
    simulate.add_argument(
        "--candidate",
        type=Path,
        required=True,
        help="the candidate policy: a copy of policies/ with the change made",
    )
    source = simulate.add_mutually_exclusive_group()
    source.add_argument(
        "--since",
        type=parse_duration,
        default=None,
        help="replay what the notice topics recorded in this window (default 7d)",
    )
    source.add_argument("--file", type=Path, help="replay the notices in this file instead")
    simulate.add_argument(
        "--current",
        type=Path,
        help="the policy to compare with (default: the published bundle OPA serves)",
    )
    simulate.add_argument(
        "--exact",
        action="store_true",
        help="evaluate every notice on its own (slower; no grouping of equivalent notices)",
    )
    simulate.add_argument("--workers", type=_positive, default=None, help="opa processes at once")

    sample = actions.add_parser(
        "sample-notices", help="write a generated week of synthetic notices to an Avro file"
    )
    sample.add_argument("output", type=Path)
    sample.add_argument("--count", type=_positive, default=2_500, help="notices (default 2,500)")
    sample.add_argument("--seed", type=int, default=1)
    sample.add_argument(
        "--week-start",
        type=dt.date.fromisoformat,
        default=None,
        help="first day (YYYY-MM-DD); default: seven days before today",
    )

    publish = actions.add_parser(
        "publish", help="build, sign and publish policies/ as a release OPA loads"
    )
    publish.add_argument("--version", help="release number X.Y.Z (default: next patch)")
    publish.add_argument(
        "--no-wait", action="store_true", help="do not wait for OPA to load the release"
    )
    publish.set_defaults(handler=_guarded(_publish))
    for parser, handler in ((explain, _explain), (simulate, _simulate), (sample, _sample_notices)):
        parser.set_defaults(handler=_guarded(handler))


def _guarded(handler: Any) -> Any:
    """Report the tools' own errors as one readable message and exit 1, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except PolicyToolError as error:
            print(f"safehub policy: {error}", file=sys.stderr)
            return 1

    return run


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


# --- test and lint -----------------------------------------------------------------------------


def _test(args: argparse.Namespace) -> int:
    settings = HubSettings()
    opa = str(ensure_opa(settings, print))
    policies = str(settings.policies_dir)
    results = _run([opa, "test", "--format=json", policies])
    try:
        outcomes = json.loads(results.stdout or "[]")
    except json.JSONDecodeError:
        outcomes = None
    if results.returncode not in (0, 2) or not isinstance(outcomes, list):
        # Not test results (2 means some failed): the policies did not load; OPA says where.
        print(f"opa test could not run the tests:\n{(results.stderr or results.stdout).strip()}")
        return 1
    summary = summarise_tests(outcomes)
    if summary.failed:
        # `opa test --coverage` prints text, not JSON, when a test fails: report the
        # failures and say coverage waits for them.
        for line in _failure_report(opa, policies, outcomes):
            print(line)
        print(f"policy tests: {summary.passed} passed, {len(summary.failed)} failed")
        print("rule coverage: not measured until every test passes")
        return 1
    covered = _run([opa, "test", "--coverage", "--format=json", policies])
    try:
        coverage = summarise_coverage(json.loads(covered.stdout or "{}"))
    except json.JSONDecodeError:
        print(f"opa test --coverage could not run:\n{covered.stderr.strip()}")
        return 1
    print(f"policy tests: {summary.passed} passed, {len(summary.failed)} failed")
    print(f"rule coverage: {coverage.percent:.1f}% (required {args.min_coverage:.0f}%)")
    for line in coverage.uncovered:
        print(f"  not reached by any test: {line}")
    return 0 if summary.ok and coverage.percent >= args.min_coverage else 1


def _failure_report(opa: str, policies: str, outcomes: list[dict[str, Any]]) -> list[str]:
    """Each failing test by name and file:line, with what it compared.

    The failing tests alone are re-run with `--var-values` in text form: in JSON form that
    flag adds the whole evaluation trace (tens of megabytes per test).
    """
    failing = [r for r in outcomes if r.get("fail") or r.get("error")]
    names = [f"{r['package']}.{r['name']}" for r in failing]
    pattern = "^(" + "|".join(re.escape(name) for name in names) + ")$"
    explained = failed_expressions(
        _run([opa, "test", "--var-values", "--run", pattern, policies]).stdout
    )
    lines: list[str] = []
    for name, outcome in zip(names, failing, strict=True):
        where = f"{outcome['location']['file']}:{outcome['location']['row']}"
        lines += render_failure(name, where, explained.get(name))
        if outcome.get("error"):
            lines.append(f"        error: {outcome['error'].get('message', outcome['error'])}")
        lines.append("")
    return lines


def _lint(_: argparse.Namespace) -> int:
    settings = HubSettings()
    opa = str(ensure_opa(settings, print))
    regal = str(ensure_regal(settings, print))
    policies = str(settings.policies_dir)
    checks = [
        ("format (opa fmt --diff)", [opa, "fmt", "--diff", "--fail", policies], ""),
        ("compile (opa check --strict)", [opa, "check", "--strict", policies], ""),
        (
            "style (regal lint)",
            [regal, "lint", "--config-file", str(_regal_config(settings.policies_dir)), policies],
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
            if argv[1] == "fmt":
                output = "\n".join(_format_diffs(opa, policies)) or result.stderr
            else:
                output = (result.stdout + result.stderr).strip()
            print("\n".join(f"  {line}" for line in output.splitlines()))
            if hint:
                print(f"  {hint}")
    return 1 if failed else 0


def _regal_config(policies_dir: Path) -> Path:
    """The house style beside the policies, or the repository's for a candidate copy."""
    beside = policies_dir.parent / ".regal" / "config.yaml"
    return beside if beside.is_file() else REPO_ROOT / ".regal" / "config.yaml"


def _format_diffs(opa: str, policies: str) -> list[str]:
    """Per file `opa fmt` would change: a readable unified diff (see checks.format_diff)."""
    lines: list[str] = []
    for name in _run([opa, "fmt", "--list", policies]).stdout.split():
        path = Path(name)
        formatted = _run([opa, "fmt", str(path)])
        if formatted.returncode != 0:
            lines.append(f"{path}: {formatted.stderr.strip()}")
            continue
        lines += format_diff(str(path), path.read_text(), formatted.stdout)
    if lines:
        lines.append(f"run `opa fmt -w {policies}` to make these changes")
    return lines


# --- explain -----------------------------------------------------------------------------------


def _explain(args: argparse.Namespace) -> int:
    from services.hubkit.codec import SchemaCatalog
    from services.hubkit.envelope import KeyDirectory
    from services.policy import evaluate
    from services.policy.notices_io import read_notice_file
    from services.policy.report import PolicyLabels, render_decisions

    settings = HubSettings()
    if args.notice_file is None:
        return _explain_logged(args, settings)
    trusted = settings.keys_dir / "trusted"
    keys = KeyDirectory.load(trusted) if trusted.is_dir() else None
    loaded = read_notice_file(
        args.notice_file, SchemaCatalog(settings.schemas_dir), keys, notice_id=args.notice_id
    )
    labels: PolicyLabels
    if args.engine == "regopy":
        folder = args.policies or settings.policies_dir
        if not folder.is_dir():
            print("safehub policy: regopy reads a policy folder, not a bundle", file=sys.stderr)
            return 1
        labels = PolicyLabels.from_data(evaluate.PolicySource.at(folder).contents()[1])
        if (unknown := _unknown_subscriber(args.subscriber, labels)) is not None:
            return unknown
        evaluation = evaluate.evaluate_with_regopy(folder, loaded.notice)
    elif args.policies is not None:
        source = evaluate.PolicySource.at(args.policies)
        labels = PolicyLabels.from_data(source.contents()[1])
        if (unknown := _unknown_subscriber(args.subscriber, labels)) is not None:
            return unknown
        evaluation = evaluate.evaluate_one(ensure_opa(settings, print), source, loaded.notice)
    else:
        from services.hubkit.tls import opa_auth_headers, opa_ssl_context

        context = opa_ssl_context(settings)
        verify = True if context is None else context
        headers = opa_auth_headers(settings)
        data = evaluate.server_data(settings.opa_url, verify=verify, headers=headers)
        labels = PolicyLabels.from_data(data)
        if (unknown := _unknown_subscriber(args.subscriber, labels)) is not None:
            return unknown
        evaluation = evaluate.evaluate_on_server(
            settings.opa_url, loaded.notice, verify=verify, headers=headers
        )
    lines = render_decisions(
        loaded.notice,
        evaluation.result,
        labels=labels,
        policy=f"{evaluation.revision} ({evaluation.engine})",
        read_from=f"{args.notice_file} ({loaded.provenance})",
        subscriber=args.subscriber,
    )
    print("\n".join(lines))
    return 0


def _explain_logged(args: argparse.Namespace, settings: HubSettings) -> int:
    """`explain --notice-id ID` with no file: the decisions the audit log holds for it."""
    from sqlalchemy.engine import make_url

    from services.audit.settings import AuditSettings
    from services.audit.storage_sql import open_store
    from services.cli.explain_logged import read_logged_decisions, render_logged
    from services.hubkit.child_keys import StoreKeyFile
    from services.hubkit.codec import SchemaCatalog
    from services.policy.evaluate import PolicySource
    from services.policy.report import PolicyLabels

    if args.notice_id is None:
        print(
            "safehub policy: explain needs a notice file, or --notice-id ID to explain a "
            "notice the hub has decided",
            file=sys.stderr,
        )
        return 2
    labels = PolicyLabels.from_data(PolicySource.at(settings.policies_dir).contents()[1])
    if (unknown := _unknown_subscriber(args.subscriber, labels)) is not None:
        return unknown
    audit_settings = AuditSettings()
    url = audit_settings.database_url_for(settings)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        # Never create an empty log where the real one was expected.
        print(
            f"safehub policy: no audit store at {parsed.database}; the hub has not logged "
            "anything here yet (or set SAFEHUB_AUDIT_DATABASE_URL)",
            file=sys.stderr,
        )
        return 1
    store = open_store(
        url, store_key=StoreKeyFile(audit_settings.resolved_store_key_path(settings))
    )
    try:
        decisions = read_logged_decisions(
            store, SchemaCatalog(settings.schemas_dir), args.notice_id
        )
    finally:
        store.close()
    if not decisions:
        print(
            f"safehub policy: the audit log holds no decision for notice {args.notice_id!r}",
            file=sys.stderr,
        )
        return 2
    where = f"the audit log at {parsed.render_as_string(hide_password=True)}"
    lines = render_logged(
        args.notice_id,
        decisions,
        read_from=where,
        rule_summaries=labels.rules,
        subscriber=args.subscriber,
    )
    print("\n".join(lines))
    return 0


def _unknown_subscriber(subscriber: str | None, labels: Any) -> int | None:
    """Exit 2 with the valid ids on one line when `--subscriber` names no subscriber."""
    if subscriber is None or subscriber in labels.subscribers:
        return None
    print(
        f"safehub policy: argument --subscriber: {subscriber!r} is not a subscriber of this "
        f"policy; choose from: {', '.join(sorted(labels.subscribers))}",
        file=sys.stderr,
    )
    return 2


# --- simulate ----------------------------------------------------------------------------------


def _current_source(settings: HubSettings, given: Path | None) -> tuple[Path, str]:
    """What "current" means: the release the local OPA serves (as recorded when published,
    not the file the bundle service offers, which could be one OPA refused)."""
    from services.policy.publish import BundleStore
    from services.stack import StackRunner

    if given is not None:
        return given, "as given"
    store = BundleStore.under(settings.data_dir)
    served = StackRunner(settings).served_revision()
    for release in reversed(store.releases()):
        if release.revision == served:
            return store.release_file(release.version), "the release the local OPA serves"
    latest = store.latest()
    if latest is not None:
        return store.release_file(latest.version), "the latest release; OPA did not answer"
    return settings.policies_dir, "policies/ (nothing published yet)"


def _recorded(settings: HubSettings, since: dt.timedelta) -> tuple[list[dict[str, Any]], str]:
    from services.hubkit.bus import reader_options
    from services.hubkit.codec import SchemaCatalog
    from services.hubkit.envelope import KeyDirectory
    from services.hubkit.topology import ADMIN_PRINCIPAL, load_topology
    from services.policy.errors import NoticeSourceUnavailable
    from services.policy.notices_io import read_recorded_notices

    topology = load_topology(settings.policies_dir)
    try:
        options = reader_options(settings, ADMIN_PRINCIPAL, client_id="safehub-policy-simulate")
    except Exception as error:  # no credential file yet: the stack never ran
        raise NoticeSourceUnavailable(f"{error}; run `safehub stack up` first") from error
    start = dt.datetime.now(dt.UTC) - since
    recorded = read_recorded_notices(
        consumer_options=options,
        topics={t: topology.partitions(t) for t in topology.notice_topics},
        since=start,
        catalog=SchemaCatalog(settings.schemas_dir),
        keys=KeyDirectory.load(settings.keys_dir / "trusted"),
    )
    skipped = (
        f"; {recorded.skipped:,} records skipped (signature or format)" if recorded.skipped else ""
    )
    where = (
        f"recorded on {len(recorded.topics)} notice topics since "
        f"{start.isoformat(timespec='minutes')}{skipped}"
    )
    return list(recorded.notices), where


def _simulate(args: argparse.Namespace) -> int:
    from services.policy.evaluate import PolicySource
    from services.policy.notices_io import count_notices, iter_notice_file
    from services.policy.progress import tracked
    from services.policy.report import PolicyLabels, render_diff
    from services.policy.simulation import simulate

    settings = HubSettings()
    opa = ensure_opa(settings, print)
    current_path, current_note = _current_source(settings, args.current)
    current = PolicySource.at(current_path)
    candidate = PolicySource.at(args.candidate)
    notices: Iterable[Mapping[str, Any]]
    total: int | None
    if args.file is not None:
        # Streamed: grouping and OPA start while the file is still being read.
        notices, where = iter_notice_file(args.file, json_form=False), f"from {args.file}"
        total = count_notices(args.file)
    else:
        recorded, where = _recorded(settings, args.since or dt.timedelta(days=7))
        notices, total = recorded, len(recorded)
    result = simulate(
        tracked(notices, total=total, stream=sys.stderr),
        opa=opa,
        current=current,
        candidate=candidate,
        exact=args.exact,
        workers=args.workers,
    )
    if result.grouped:
        method = (
            f"{result.groups:,} groups of equivalent notices, one notice of each evaluated; "
            f"{result.checked:,} other members re-checked exactly: all agreed"
        )
    elif result.disagreements:
        method = (
            "every notice on its own: grouping equivalent notices was not safe for these "
            f"policies ({result.disagreements} of {2 * result.checked:,} sampled checks disagreed)"
        )
    else:
        method = "every notice on its own"
    header = [
        ("Notices", f"{result.diff.notices:,} {where}"),
        ("Current policy", f"{result.current_revision}: {current_path} ({current_note})"),
        ("Candidate policy", f"{result.candidate_revision}: {args.candidate}"),
        ("Evaluated", method),
        ("Time", f"{result.seconds:.1f}s"),
    ]
    labels = PolicyLabels.from_data(candidate.contents()[1])
    text = render_diff(
        result.diff,
        labels=labels,
        header=header,
        parts_fired=result.parts_fired,
        parts_unanswered=result.parts_unanswered,
    )
    print("\n".join(text))
    return 0


# --- sample-notices and publish ----------------------------------------------------------------


def _sample_notices(args: argparse.Namespace) -> int:
    from services.childindex.domain import LinkageKeyer
    from services.policy.notices_io import write_notice_file
    from services.policy.sample import generate_week

    settings = HubSettings()
    start_day = args.week_start or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=7))
    week_start = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.UTC)
    # A throwaway linkage secret: the keys only have to be consistent within the file, and
    # synthetic children must never share keys with anything real.
    keyer = LinkageKeyer(f"safehub-sample-notices-{args.seed}".encode().ljust(32, b"."))
    notices = generate_week(count=args.count, seed=args.seed, keyer=keyer, week_start=week_start)
    written = write_notice_file(args.output, notices, settings.schemas_dir)
    print(
        f"wrote {written:,} synthetic notices for the week from {start_day.isoformat()} "
        f"to {args.output}"
    )
    return 0


def _publish(args: argparse.Namespace) -> int:
    from services.hubkit.policy_contract import Version
    from services.policy.publish import BundleStore, publish_bundle
    from services.stack import StackRunner

    settings = HubSettings()
    try:
        version = Version.parse(args.version) if args.version else None
    except ValueError as error:
        print(f"safehub policy: {error}", file=sys.stderr)
        return 2
    store = BundleStore.under(settings.data_dir)
    result = publish_bundle(
        opa=ensure_opa(settings, print),
        policies_dir=settings.policies_dir,
        store=store,
        keys_dir=settings.keys_dir,
        now=dt.datetime.now(dt.UTC),
        version=version,
    )
    release = result.release
    if result.created:
        print(f"published {release.revision}")
        print(f"  signed with key {release.signing_key_id} (ES256); bundle {result.bundle}")
    else:
        print(f"unchanged: policies/ is already release {release.revision}")
    if args.no_wait:
        return 0
    runner = StackRunner(settings)
    if runner.served_revision() is None:
        print("  OPA is not running; it will load this release when the stack starts")
        return 0
    deadline = time.monotonic() + 15.0
    while (served := runner.served_revision()) != release.revision:
        if time.monotonic() > deadline:
            print(
                f"  OPA still serves {served}: it did not accept {release.revision}; "
                f"see {runner.layout.log_file('opa')}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.3)
    if result.created:
        print(f"  OPA verified the signature and now serves {release.revision}")
    else:
        print(f"  OPA serves {release.revision}")
    return 0
