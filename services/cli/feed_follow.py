"""`safehub feed follow`: a receiving agency's feed client (services/feedclient/README.md).

safehub feed follow --subscriber ID --out FILE [--once] [--from-beginning]
safehub feed follow --subscriber ID --webhook URL [--once] [--from-beginning]

Reads ID's feed as its own feed principal (`feed-<ID>`, its credential from the stack's
credentials directory), checks every record (the hub's seal, made for ID, each field against
the agency's signature where the item carries one) and writes one JSON line per verified
message to FILE, exactly once across crashes and restarts, or POSTs it to URL with an
Idempotency-Key header (the line's decision_id). A record that fails a check is written to
the rejects file with its reason code and position, never as an item, and the client moves on.

Files (defaults): the position file FILE.position.json (with --webhook:
feed-<ID>.webhook-position.json here) and the rejects file FILE.rejects.jsonl (with
--webhook: feed-<ID>.rejects.jsonl here). Keep them with the output: together they are
the client's committed position.

Where it starts: from its position file when there is one; otherwise at the feed's current
end (only what arrives from now on), or at its beginning with --from-beginning.

Exit codes: 0 done (--once: caught up; or stopped by SIGINT/SIGTERM); 1 done, but records
were rejected (see the rejects file); 2 cannot start (unknown subscriber, no credential, no
key directory, a position file that is unreadable or another feed's, an output file changed
outside the client); 3 broker unreachable; 4 the webhook kept failing for --retry-for
seconds; 5 the feed topic was created again. Output names ids, offsets and reason codes,
never an item's content.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["register_follow"]

EXIT_REJECTED = 1
EXIT_CANNOT_START = 2


def register_follow(actions: Any) -> None:
    """Add `follow` to `safehub feed`'s actions."""
    follow = actions.add_parser(
        "follow",
        help="follow a subscriber's feed into a JSON Lines file or a webhook, verified, "
        "exactly once, resuming after a restart",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    follow.add_argument("--subscriber", required=True, help="the subscriber whose feed to read")
    sink = follow.add_mutually_exclusive_group(required=True)
    sink.add_argument("--out", type=Path, help="append verified lines to this JSON Lines file")
    sink.add_argument("--webhook", help="POST each verified line to this URL")
    follow.add_argument("--position", type=Path, help="the position file (default: see above)")
    follow.add_argument("--rejects", type=Path, help="the rejects file (default: see above)")
    follow.add_argument(
        "--from-beginning",
        action="store_true",
        help="with no position file yet: start at the feed's beginning, not its current end",
    )
    follow.add_argument(
        "--once",
        action="store_true",
        help="stop once caught up with what the feed held at start (for cron and tests)",
    )
    follow.add_argument(
        "--keys", type=Path, help="trusted key directory (default: the stack's keys/trusted)"
    )
    follow.add_argument(
        "--retry-for",
        type=float,
        default=600.0,
        help="seconds to keep retrying a failing webhook before exiting 4 (default 600)",
    )
    follow.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the broker (default 30)"
    )
    follow.add_argument(
        "--topic", help=argparse.SUPPRESS
    )  # a namespaced copy of the feed (the test hub); a real agency never needs it
    follow.add_argument("--principal", help=argparse.SUPPRESS)  # the same, its reader
    follow.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from services.feedclient.errors import FeedClientError

    # aiokafka logs each failed connection attempt itself; the client reports them once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_follow(args))
    except FeedClientError as error:
        print(f"safehub feed follow: error: {error}", file=sys.stderr)
        return error.exit_code


async def _follow(args: argparse.Namespace) -> int:
    import httpx

    from services.feedclient.errors import CannotStart
    from services.feedclient.follow import FeedClient, FeedSource, feed_ends
    from services.feedclient.ledger import Ledger
    from services.feedclient.webhook import Webhook
    from services.hubkit.bus import connection_options
    from services.hubkit.codec import SchemaCatalog
    from services.hubkit.envelope import KeyDirectory
    from services.hubkit.errors import HubError
    from services.hubkit.settings import HubSettings
    from services.hubkit.topology import load_topology

    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    try:
        subscriber = topology.subscriber(args.subscriber)
    except KeyError as error:
        raise CannotStart(str(error.args[0])) from None
    source = FeedSource(
        subscriber_id=subscriber.subscriber_id,
        topic=args.topic or subscriber.feed_topic,
        principal=args.principal or subscriber.principal,
        partitions=topology.partitions(subscriber.feed_topic),
    )
    try:
        connection_options(hub, source.principal)  # the credential, checked before connecting
    except HubError as error:  # no credential, an unusable one, TLS material missing
        raise CannotStart(f"{error}") from None
    keys_dir = args.keys or hub.keys_dir / "trusted"
    if not keys_dir.is_dir():
        raise CannotStart(f"no trusted key directory at {keys_dir} (the hub's public key)")
    if args.out is not None:
        position_file = args.position or args.out.with_name(args.out.name + ".position.json")
        rejects_file = args.rejects or args.out.with_name(args.out.name + ".rejects.jsonl")
    else:
        position_file = args.position or Path(f"feed-{source.subscriber_id}.webhook-position.json")
        rejects_file = args.rejects or Path(f"feed-{source.subscriber_id}.rejects.jsonl")
    ledger = Ledger(
        position_file=position_file,
        rejects_file=rejects_file,
        output_file=args.out,
        subscriber_id=source.subscriber_id,
        topic=source.topic,
    )
    resuming = ledger.exists
    if resuming and args.from_beginning:
        raise CannotStart(
            f"{position_file} exists, so the client resumes from it; to read the feed again "
            "from its beginning, move it, the output and the rejects file aside"
        )
    try:
        ledger.open()  # locks, checks the files against the position, before connecting
        if not resuming:
            # A position file from the start: a crash before the first commit still finds one.
            start = (
                {} if args.from_beginning else await feed_ends(hub, source, timeout_s=args.timeout)
            )
            ledger.start_at(start)
        async with httpx.AsyncClient(timeout=args.timeout) as http:
            webhook = None
            if args.webhook is not None:
                webhook = Webhook(
                    args.webhook, client=http, retry_for_s=args.retry_for, report=_say
                )
            client = FeedClient(
                hub=hub,
                source=source,
                catalog=SchemaCatalog(hub.schemas_dir),
                keys=KeyDirectory.load(keys_dir),
                ledger=ledger,
                webhook=webhook,
                once=args.once,
                report=_say,
            )
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, client.stop)
            counts = await client.run()
    finally:
        ledger.close()
    _say(f"{counts.summary(source)}; position in {position_file}")
    return EXIT_REJECTED if counts.rejected else 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
