"""`safehub feed verify`: a subscriber checks every item of its feed against the hub's seal
and, field by field, against the agency's own signature (issue 19).

safehub feed verify SUBSCRIBER [--keys DIR] [--save FILE]
    read SUBSCRIBER's feed topic from its beginning, as that subscriber's own feed principal
    (`feed-<subscriber>`, its credential from the stack's credentials directory), up to what
    had committed when the command started
safehub feed verify --file FILE [--subscriber ID] [--keys DIR]
    the same checks over a file of feed records

Feed record file (what `--save` writes): JSON Lines, one record a line,
    {"topic": "feed.mash-manager.v1", "partition": 0, "offset": 41, "value": "<base64>"}
where `value` is the record's value exactly as on the topic (standard base64 of the sealed
SignedEnvelope bytes); topic, partition and offset are optional and only label the output.

One line per record, then a summary:
    OK    <notice id>  N fields checked against <signer>'s signature[; hub only: paths]
    NONE  <notice id>  no agency signature (source withheld, or an unsigned notice): the
                       fields rest on the hub's seal
    FAIL  <notice id>  <reason>: <field path>         a field is not what the agency signed
    FAIL  <where>      seal <reason>: <why>           the record is not the hub's (or is
                                                      in a schema this checkout lacks)
Withdrawals and emergency access answers on the feed are counted, not checked field by field.
Exit 0: every item passed; 1: any failed; 2: the command could not run (bad file, unknown
subscriber, no credential). Output names fields and ids, never a field's value.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.cli.feed_follow import register_follow

__all__ = ["FeedRecord", "Verdict", "main", "register", "verify_records"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> None:
    feed = subparsers.add_parser(
        "feed",
        help="check a subscriber's feed (the hub's seal and the agencies' field signatures), "
        "or follow it into a file or webhook",
    )
    actions = feed.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check every item's hub seal and per-field agency signature; exit 1 if any fails",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument(
        "subscriber", nargs="?", help="read this subscriber's feed topic from the broker"
    )
    verify.add_argument("--file", type=Path, help="check a JSON Lines file of feed records")
    verify.add_argument(
        "--subscriber",
        dest="file_subscriber",
        help="with --file: refuse records made for anyone else",
    )
    verify.add_argument(
        "--keys", type=Path, help="trusted key directory (default: the stack's keys/trusted)"
    )
    verify.add_argument("--save", type=Path, help="also write the records read to this file")
    verify.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the broker (default 30)"
    )
    feed.set_defaults(handler=_handle)
    register_follow(actions)  # `safehub feed follow` (issue 21)


@dataclass(frozen=True, slots=True)
class FeedRecord:
    value: bytes
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    @property
    def where(self) -> str:
        if self.offset is None:
            return "record"
        return f"{self.topic or 'feed'}/{self.partition or 0}@{self.offset}"


@dataclass
class Verdict:
    """What `verify_records` found: the lines to print and the counts for the summary."""

    lines: list[str] = field(default_factory=list)
    verified: int = 0
    unsigned: int = 0
    failed: int = 0
    """Items (or records) that failed: `unsealed` of them the hub's seal, the rest a field."""
    unsealed: int = 0
    other: int = 0
    fields: int = 0

    def summary(self) -> str:
        items = self.verified + self.unsigned + self.failed
        return (
            f"{items} items: {self.verified} checked against the agency's signature "
            f"({self.fields} fields), {self.unsigned} resting on the hub's seal alone, "
            f"{self.failed} failed ({self.unsealed} the hub's seal, "
            f"{self.failed - self.unsealed} a field); {self.other} other feed records"
        )


def verify_records(
    records: Iterable[FeedRecord],
    *,
    catalog: Any,
    keys: Any,
    subscriber_id: str | None = None,
) -> Verdict:
    """Each record's hub seal (hubkit.feed_items) and each item's field provenance
    (hubkit.item_provenance). Pure over the records given."""
    from services.hubkit.codec import MessageType
    from services.hubkit.errors import FeedItemUnverified, ProvenanceInvalid
    from services.hubkit.feed_items import open_feed_message
    from services.hubkit.item_provenance import item_provenance

    verdict = Verdict()
    for record in records:
        try:
            message = open_feed_message(catalog, keys, record.value, subscriber_id=subscriber_id)
        except FeedItemUnverified as error:
            verdict.failed += 1
            verdict.unsealed += 1
            verdict.lines.append(f"FAIL  {record.where}  seal {error}")
            continue
        if message.message_type is not MessageType.FEED_ITEM:
            verdict.other += 1
            continue
        item = message.record
        notice_id = item["notice_id"]
        try:
            checked = item_provenance(item, keys)
        except ProvenanceInvalid as error:
            verdict.failed += 1
            verdict.lines.append(f"FAIL  {notice_id}  {error.reason}: {error.path or str(error)}")
            continue
        if checked is None:
            verdict.unsigned += 1
            verdict.lines.append(
                f"NONE  {notice_id}  no agency signature (source withheld, or an unsigned "
                "notice): the fields rest on the hub's seal"
            )
            continue
        count = len(checked.verified) + len(checked.raised)
        verdict.verified += 1
        verdict.fields += count
        line = (
            f"OK    {notice_id}  {count} fields checked against {checked.signer}'s signature "
            f"({checked.key_id})"
        )
        if checked.raised:
            line += f"; raised by the hub: {', '.join(checked.raised)}"
        if checked.hub_only:
            line += f"; hub only: {', '.join(checked.hub_only)}"
        verdict.lines.append(line)
    return verdict


def read_record_file(path: Path) -> Iterator[FeedRecord]:
    """The records of a feed record file (module docstring); ValueError names the line."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                value = base64.b64decode(entry["value"], validate=True)
                yield FeedRecord(
                    value=value,
                    topic=entry.get("topic"),
                    partition=entry.get("partition"),
                    offset=entry.get("offset"),
                )
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise ValueError(
                    f"{path}:{number}: not a feed record line "
                    '({"value": "<base64>", "topic"?, "partition"?, "offset"?})'
                ) from None


def record_line(record: FeedRecord) -> str:
    return json.dumps(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "value": base64.b64encode(record.value).decode("ascii"),
        }
    )


async def read_feed(
    hub: Any, *, topic: str, principal: str, partitions: int, timeout_s: float
) -> list[FeedRecord]:
    """Every record of `topic` committed when this starts (read_committed, no group), read as
    `principal`, from the beginning of each partition."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.hubkit.bus import reader_options

    consumer = AIOKafkaConsumer(
        **reader_options(hub, principal, client_id="safehub-feed-verify"),
        request_timeout_ms=int(timeout_s * 1000),
    )
    await asyncio.wait_for(consumer.start(), timeout_s)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[FeedRecord] = []
        while True:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                return records
            batches = await asyncio.wait_for(
                consumer.getmany(timeout_ms=500, max_records=500), timeout_s
            )
            for tp, batch in batches.items():
                records.extend(
                    FeedRecord(r.value, r.topic, r.partition, r.offset)
                    for r in batch
                    if r.offset < ends[tp] and r.value is not None
                )
    finally:
        await consumer.stop()


def _handle(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from services.hubkit.codec import SchemaCatalog
    from services.hubkit.envelope import KeyDirectory
    from services.hubkit.errors import CredentialsMissing
    from services.hubkit.settings import HubSettings
    from services.hubkit.topology import load_topology

    hub = HubSettings()
    keys_dir = args.keys or hub.keys_dir / "trusted"
    if not keys_dir.is_dir():
        return _bad(f"no trusted key directory at {keys_dir}")
    keys = KeyDirectory.load(keys_dir)
    catalog = SchemaCatalog(hub.schemas_dir)
    if (args.file is None) == (args.subscriber is None):
        return _bad("name a SUBSCRIBER to read its feed, or give --file FILE (one of them)")
    subscriber_id: str | None
    if args.file is not None:
        subscriber_id = args.file_subscriber
        try:
            records = list(read_record_file(args.file))
        except OSError as error:
            return _bad(f"cannot read {args.file}: {error.strerror}")
        except ValueError as error:
            return _bad(str(error))
    else:
        subscriber_id = args.subscriber
        topology = load_topology(hub.policies_dir)
        try:
            subscriber = topology.subscriber(args.subscriber)
        except KeyError as error:
            return _bad(str(error.args[0]))
        try:
            records = asyncio.run(
                read_feed(
                    hub,
                    topic=subscriber.feed_topic,
                    principal=subscriber.principal,
                    partitions=topology.partitions(subscriber.feed_topic),
                    timeout_s=args.timeout,
                )
            )
        except CredentialsMissing as error:
            return _bad(str(error))
        except (KafkaError, OSError, TimeoutError) as error:
            return _bad(f"cannot read {subscriber.feed_topic}: {type(error).__name__} {error}")
    if args.save is not None:
        args.save.write_text("".join(record_line(r) + "\n" for r in records), encoding="utf-8")
    verdict = verify_records(records, catalog=catalog, keys=keys, subscriber_id=subscriber_id)
    for line in verdict.lines:
        print(line)
    print(verdict.summary())
    return EXIT_FAILED if verdict.failed else EXIT_OK


def _bad(message: str) -> int:
    print(f"safehub feed verify: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    """`python -m services.cli.feed ...`: the same commands without the `safehub` wrapper."""
    parser = argparse.ArgumentParser(prog="safehub")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(["feed", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
