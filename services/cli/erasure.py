"""`safehub erasure`: the retention job (issue 18). Reports what is due, and erases only what
an IG officer approved. docs/operators/retention.md, "Erasure: due, review, run".

safehub erasure due [--today YYYY-MM-DD] --out review.json
    Asks the child index (as the `erasure-job` client) which children's records are due under
    the retention rules, drops what a legal hold covers (naming the hold), lists the record
    types the hub cannot date (their clock starts at an event the case system holds), and
    writes a review file: one entry per child and record type, `"approve": false`.
safehub erasure run --review review.json --approved-by NAME
    For each approved entry: audit intent -> erase in each store the rule names -> audit
    deletion -> ask each store whether the child is readable -> audit confirmation
    (services/cli/erasure_job.py). A failure stops that child with the reason; re-running the
    same review resumes.
safehub erasure register
    Register the erasure-job client with the local identity provider (idempotent).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import uuid
from pathlib import Path
from typing import Any

__all__ = ["register"]

EXIT_OK = 0
EXIT_FAILED = 2


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def register(subparsers: Any) -> None:
    erasure = subparsers.add_parser(
        "erasure", help="the retention job: what is due for erasure, and erase what was approved"
    )
    actions = erasure.add_subparsers(dest="action", required=True, metavar="ACTION")
    due = actions.add_parser("due", help="write a review file of what is due")
    due.add_argument("--today", type=_day, help="as of this date (default: today, UTC)")
    due.add_argument("--out", type=Path, required=True, help="the review file to write")
    due.set_defaults(handler=_due)
    run = actions.add_parser("run", help="erase the entries a review file approves")
    run.add_argument("--review", type=Path, required=True, help="the edited review file")
    run.add_argument("--approved-by", required=True, help="the IG officer who approved it")
    run.set_defaults(handler=_run)
    reg = actions.add_parser("register", help="register the erasure-job client locally")
    reg.set_defaults(handler=_register)


def _register(args: argparse.Namespace) -> int:
    from services.cli.erasure_job import ErasureJobSettings, register_erasure_client
    from services.hubkit.settings import HubSettings
    from services.identity.settings import IdentitySettings

    hub = HubSettings()
    key = ErasureJobSettings().resolved_key_path(hub.data_dir)
    register_erasure_client(IdentitySettings().resolved_state_dir(hub.data_dir), key)
    print(f"erasure-job registered (key {key})")
    return EXIT_OK


def _due(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings

    return asyncio.run(due_report(HubSettings(), today=args.today, out=args.out))


def _run(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings

    return asyncio.run(run_review(HubSettings(), review=args.review, approved_by=args.approved_by))


async def due_report(
    hub: Any,
    *,
    today: dt.date | None,
    out: Path,
    http: Any = None,
    settings: Any = None,
) -> int:
    """`safehub erasure due`; `http`/`settings` replace the defaults (tests in process)."""
    from services.cli.erasure_job import ErasureJobSettings, ErasureStopped, job_clients
    from services.hubkit.erasure_plan import plan_review
    from services.hubkit.private_files import write_private
    from services.hubkit.retention import RetentionInvalid, RetentionRules
    from services.hubkit.tls import http_client

    job = settings or ErasureJobSettings()
    day = today or dt.datetime.now(dt.UTC).date()
    try:
        rules = RetentionRules.load(hub.policies_dir)
    except RetentionInvalid as error:
        print(f"safehub erasure: {error}", file=sys.stderr)
        return EXIT_FAILED
    client = http or http_client(hub)
    try:
        clients = job_clients(job, client, key_path=job.resolved_key_path(hub.data_dir))
        if clients.index is None:
            print("safehub erasure: no child index configured (SAFEHUB_ERASURE_CHILDINDEX_URL)")
            return EXIT_FAILED
        rows, undated = await clients.index.due(day)
    except ErasureStopped as stopped:
        print(f"safehub erasure: {stopped}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if http is None:
            await client.aclose()
    review = plan_review(
        rules, rows, today=day, undated_children=undated, new_id=lambda: str(uuid.uuid4())
    )
    # Child keys: readable by the job's user only (write_private makes the file 0600).
    await asyncio.to_thread(
        write_private, out, (json.dumps(review.to_json(), indent=2) + "\n").encode()
    )
    print(f"Erasure review as of {day}, written to {out}")
    print(f'  due and not held: {len(review.entries)} (each "approve": false until you set it)')
    for held in review.held:
        print(f"  held by {held.hold_id}: one child's {held.record_type} (due {held.due_on})")
    for unknown in review.not_known:
        print(f"  {unknown.record_type}: {unknown.why}")
    if review.undated_children:
        print(f"  {review.undated_children} children: no settled date of birth, nothing dated")
    print(f"Then: safehub erasure run --review {out} --approved-by <your name>")
    return EXIT_OK


async def run_review(
    hub: Any,
    *,
    review: Path,
    approved_by: str,
    http: Any = None,
    settings: Any = None,
) -> int:
    """`safehub erasure run`; 0 when every approved entry was erased and confirmed."""
    from services.cli.erasure_job import (
        ErasureJobSettings,
        ErasureStopped,
        job_clients,
        perform_erasure,
    )
    from services.hubkit.erasure_plan import ReviewInvalid, approved_entries
    from services.hubkit.retention import RetentionInvalid, RetentionRules
    from services.hubkit.tls import http_client

    if not approved_by.strip():
        print("safehub erasure: --approved-by names the IG officer who approved", file=sys.stderr)
        return EXIT_FAILED
    job = settings or ErasureJobSettings()
    try:
        rules = RetentionRules.load(hub.policies_dir)
        entries = approved_entries(json.loads(await asyncio.to_thread(review.read_text)), rules)
    except (OSError, ValueError, RetentionInvalid, ReviewInvalid) as error:
        print(f"safehub erasure: {review}: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not entries:
        print(f"{review}: no entry is approved; nothing erased")
        return EXIT_OK
    client = http or http_client(hub)
    failed = 0
    try:
        clients = job_clients(job, client, key_path=job.resolved_key_path(hub.data_dir))
        if clients.audit is None:
            print(
                "safehub erasure: no audit API configured (SAFEHUB_ERASURE_AUDIT_URL): "
                "nothing is erased without its log entries",
                file=sys.stderr,
            )
            return EXIT_FAILED
        for number, entry in enumerate(entries, start=1):
            where = f"[{number}/{len(entries)}] {entry.erasure_id} ({entry.record_type})"
            try:
                done = await perform_erasure(
                    entry, approved_by=approved_by, stores=clients.stores, audit=clients.audit
                )
            except ErasureStopped as stopped:
                failed += 1
                print(f"{where}: stopped: {stopped}", file=sys.stderr)
                continue
            print(f"{where}: {'; '.join(done)}")
    finally:
        if http is None:
            await client.aclose()
    print(f"{len(entries) - failed} of {len(entries)} approved entries erased and confirmed")
    return EXIT_FAILED if failed else EXIT_OK
