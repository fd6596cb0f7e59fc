"""`safehub audit prevalence` and `safehub audit decision-mix`: the partnership's prevalence
figures (de-identified, disclosure-controlled) and the IG decision mix, as CSV files and an
HTML page with charts, from the audit store (SAFEHUB_AUDIT_DATABASE_URL or --database-url).

    safehub audit prevalence --from 2026-04-01 --to 2027-04-01 --out DIR
        [--threshold 5] [--round-to 5]
    safehub audit decision-mix --from 2026-10-01 --to 2026-12-01 --out DIR [--period week|month]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _date(text: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-04-01"
        ) from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number of at least 1")
    return value


def register(actions: Any) -> None:
    """Add the two actions to `safehub audit`."""
    prevalence = actions.add_parser(
        "prevalence",
        help="prevalence figures for the partnership (CSV + HTML, small counts suppressed)",
    )
    mix = actions.add_parser(
        "decision-mix", help="sharing outcomes by recipient and rule over time (CSV + HTML)"
    )
    for parser in (prevalence, mix):
        parser.add_argument("--from", dest="start", type=_date, required=True, help="first day")
        parser.add_argument(
            "--to", dest="end", type=_date, required=True, help="day after the last (exclusive)"
        )
        parser.add_argument("--out", type=Path, required=True, help="directory to write into")
        parser.add_argument(
            "--database-url", default=None, help="audit store URL (default from settings)"
        )
        parser.set_defaults(handler=run)
    prevalence.add_argument(
        "--threshold",
        type=_positive,
        default=5,
        help="suppress counts from 1 to THRESHOLD-1 (default 5: counts 1-4)",
    )
    prevalence.add_argument(
        "--round-to",
        type=_positive,
        default=None,
        help="round published counts to a multiple of this, e.g. 5 (default: not rounded)",
    )
    mix.add_argument("--period", choices=("week", "month"), default="month")


def run(args: argparse.Namespace) -> int:
    from services.audit.break_glass_reviews import SqliteBreakGlassReviews
    from services.audit.break_glass_routes import break_glass_mix
    from services.audit.child_lookup import ChildLookupSettings, child_lookup_from_settings
    from services.audit.disclosure import DisclosureRules
    from services.audit.errors import AuditError
    from services.audit.figures import (
        decision_mix_report,
        prevalence_report,
        read_characteristics,
        read_decision_rows,
        repeat_missing_rule,
        sender_agencies,
        write_files,
    )
    from services.audit.prevalence import Period
    from services.audit.settings import AuditSettings
    from services.cli.audit import _store
    from services.hubkit.codec import SchemaCatalog
    from services.hubkit.settings import HubSettings

    if args.end <= args.start:
        print("safehub audit: error: --to must be after --from", file=sys.stderr)
        return EXIT_BAD_INPUT
    hub = HubSettings()
    now = dt.datetime.now(dt.UTC)
    try:
        store = _store(args)
    except AuditError as error:
        print(f"safehub audit: error: {error.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        catalog = SchemaCatalog(hub.schemas_dir)
        agencies = sender_agencies(hub.policies_dir)
        if args.audit_action == "prevalence":
            rule = repeat_missing_rule(hub.policies_dir)
            rows = read_decision_rows(
                store,
                catalog,
                start=args.start - dt.timedelta(days=rule.window_days),
                end=args.end,
                agencies=agencies,
            )
            characteristics = asyncio.run(
                read_characteristics(
                    child_lookup_from_settings(
                        ChildLookupSettings(), hub, token_issuer=AuditSettings().token_issuer
                    ),
                    rows,
                    start=args.start,
                    end=args.end,
                )
            )
            report = prevalence_report(
                rows,
                start=args.start,
                end=args.end,
                repeat_rule=rule,
                rules=DisclosureRules(threshold=args.threshold, round_to=args.round_to),
                generated_at=now,
                characteristics=characteristics,
            )
            written = write_files(args.out, "prevalence.html", report.html, report.csv_files())
            hidden = sum(len(t.suppressed) for t in report.tables.values())
            print(f"{len(written)} files written to {args.out}; {hidden} value(s) suppressed")
            if characteristics.unavailable:
                print(f"no figures by age band or sex: {characteristics.unavailable}")
            return EXIT_OK
        rows = read_decision_rows(store, catalog, start=args.start, end=args.end, agencies=agencies)
        # Emergency access by recipient and review (issue 18), when the IG API keeps reviews.
        reviews_path = AuditSettings().resolved_break_glass_reviews_path(hub)
        break_glass = None
        if reviews_path.exists():
            reviews = SqliteBreakGlassReviews(reviews_path)
            try:
                break_glass = break_glass_mix(
                    store, catalog, agencies, reviews, start=args.start, end=args.end
                )
            finally:
                reviews.close()
        mix = decision_mix_report(
            rows,
            start=args.start,
            end=args.end,
            period=Period(args.period),
            generated_at=now,
            break_glass=break_glass,
        )
        written = write_files(args.out, "decision_mix.html", mix.html, mix.csv_files())
        print(f"{len(written)} files written to {args.out} ({len(rows)} decisions)")
        return EXIT_OK
    except OSError as error:
        print(f"safehub audit: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        store.close()
