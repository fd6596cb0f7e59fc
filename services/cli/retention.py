"""`safehub retention`: the IG-owned retention rules, in plain words.

safehub retention rules
    Every record type (its clock, period, stores and legal basis), the legal holds, and each
    topic's Kafka retention, from policies/safehub/retention/data.json.
safehub retention due --record-type T --anchor YYYY-MM-DD [--child KEY] [--age-at-end N]
                      [--today YYYY-MM-DD]
    When a record of that type is due for a disposal review, and whether a legal hold stops it.
    Nothing is read from the stores or the bus: the answer is the rules applied to the dates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

__all__ = ["register"]


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def register(subparsers: Any) -> None:
    retention = subparsers.add_parser(
        "retention", help="retention rules, legal holds and topic retention (IG-owned data)"
    )
    actions = retention.add_subparsers(dest="action", required=True, metavar="ACTION")
    rules = actions.add_parser("rules", help="print the rules, holds and topic retention")
    rules.set_defaults(handler=_rules)
    due = actions.add_parser(
        "due",
        help="when a record is due for a disposal review",
        description="When a record of a type is due for a disposal review, and any legal "
        "hold that stops it. A due date means review by a person, never deletion by itself.",
    )
    due.add_argument("--record-type", required=True, help="e.g. LOOKED_AFTER_CHILD_CASE_RECORD")
    due.add_argument(
        "--anchor",
        required=True,
        type=_day,
        help="the date the record type's clock starts from (see `safehub retention rules`)",
    )
    due.add_argument("--child", help="the child's pseudonymous key, to check holds on the child")
    due.add_argument(
        "--age-at-end",
        type=int,
        help="the child's age when the service ended (children's health records)",
    )
    due.add_argument("--today", type=_day, help="answer as of this date (default: today)")
    due.set_defaults(handler=_due)


def _rules(args: argparse.Namespace) -> int:
    from services.hubkit.retention import (
        KNOWN_STORES,
        RetentionInvalid,
        RetentionRules,
        topic_retention,
    )
    from services.hubkit.settings import HubSettings
    from services.hubkit.topology import load_topology

    settings = HubSettings()
    try:
        rules = RetentionRules.load(settings.policies_dir)
    except RetentionInvalid as error:
        print(f"safehub: {error}", file=sys.stderr)
        return 1
    topology = load_topology(settings.policies_dir)
    print("Record types (a due date means review for disposal, never automatic deletion)")
    for record in rules.record_types.values():
        print(f"\n  {record.name}: {record.label}")
        longer = ""
        if record.older_at_end is not None:
            older = record.older_at_end
            longer = f" ({older.period.plain()} if aged {older.age} or more when it ended)"
        print(f"    kept {record.period.plain()} from {record.anchor.words}{longer}")
        print(f"    in: {', '.join(KNOWN_STORES[s] for s in record.stores)}")
        print(f"    basis ({record.basis_kind}): {record.legal_basis}")
    print("\nLegal holds (a held record is never due)")
    for hold in rules.holds or ():
        scope = f"record type {hold.record_type}" if hold.record_type else "one child"
        print(f"  {hold.hold_id}: {scope}; placed {hold.placed_at} by {hold.placed_by}")
        print(f"    review by {hold.review_by}. {hold.reason}")
    if not rules.holds:
        print("  none")
    print("\nTopics (settings given when the stack creates a topic)")
    for topic in topology.all_topics:
        setting = topic_retention(topic, topology, rules)
        print(f"  {topic}: {setting.plain()}")
    return 0


def _due(args: argparse.Namespace) -> int:
    from services.hubkit.audit_trail import CHILD_KEY_FORM
    from services.hubkit.retention import (
        RetentionInvalid,
        RetentionRules,
        UnknownRecordType,
        review_due,
    )
    from services.hubkit.settings import HubSettings

    if args.child is not None and not CHILD_KEY_FORM.fullmatch(args.child):
        # A name or NHS number here would also miss every hold: holds name pseudonymous keys.
        print(
            "safehub: --child takes the child's pseudonymous key (64 lower-case hex "
            "characters, as the console and audit reports show it), not an identifier",
            file=sys.stderr,
        )
        return 1
    try:
        rules = RetentionRules.load(HubSettings().policies_dir)
        record_type = rules.record_type(args.record_type)
    except (RetentionInvalid, UnknownRecordType) as error:
        print(f"safehub: {error}", file=sys.stderr)
        return 1
    today = args.today or dt.date.today()
    answer = review_due(
        record_type,
        args.anchor,
        holds=rules.holds,
        today=today,
        child_key=args.child,
        age_at_end=args.age_at_end,
    )
    print(f"{record_type.label}: due for review on {answer.due_on} ({answer.note})")
    for hold in answer.held_by:
        overdue = " (the hold is overdue for review)" if hold.review_by < today else ""
        print(f"held by {hold.hold_id}, review by {hold.review_by}{overdue}: {hold.reason}")
    if answer.held_by:
        print("not due: a legal hold stops any disposal")
    elif answer.is_due:
        print(f"due now (as of {today}): review for disposal")
    else:
        print(f"not due yet (as of {today})")
    return 0
