"""`safehub demo`: synthetic notices through the real broker, gateway and policy engine,
then what each subscriber received, and why."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
from typing import Any

from services.adapters.ingest.publisher import NoticePublisher
from services.gateway.bootstrap import build_gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import TopicReader, make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, open_envelope
from services.hubkit.linkage import LinkageKeyer
from services.hubkit.notice import DETAIL_RECORD
from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology
from services.synthetic.notices import SyntheticNotices

__all__ = ["register", "run_demo"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="send synthetic notices through the hub and show what each subscriber sees"
    )
    parser.add_argument("--notices", type=int, default=10, help="how many notices to send")
    parser.add_argument("--engine", choices=["opa", "regopy"], default="opa")
    parser.add_argument("--seed", type=int, default=None, help="synthetic data seed")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    asyncio.run(
        run_demo(
            HubSettings(),
            count=args.notices,
            engine=args.engine,
            seed=args.seed if args.seed is not None else secrets.randbelow(10**6),
        )
    )
    return 0


async def run_demo(settings: HubSettings, *, count: int, engine: str, seed: int) -> None:
    topology = load_topology(settings.policies_dir)
    catalog = SchemaCatalog(settings.schemas_dir)
    linkage_secret = (settings.keys_dir / "linkage.secret").read_bytes()
    generator = SyntheticNotices(
        seed=seed, keyer=LinkageKeyer(linkage_secret), now=dt.datetime.now(dt.UTC)
    )
    feeds = {
        s.subscriber_id: await TopicReader(
            settings, s.principal, s.feed_topic, partitions=topology.partitions(s.feed_topic)
        ).start()
        for s in topology.subscribers
    }

    gateway = build_gateway(settings, GatewaySettings.model_validate({"engine": engine}))
    running = asyncio.create_task(gateway.run())

    types = sorted(DETAIL_RECORD)
    sent: list[dict[str, Any]] = []
    producers: dict[str, NoticePublisher] = {}
    kafka_producers = []
    for i in range(count):
        notice = generator.notice(types[i % len(types)])
        agency = topology.agency(notice["source"]["agency"])
        if agency.code not in producers:
            producer = make_producer(settings, agency.principal)
            await producer.start()
            kafka_producers.append(producer)
            producers[agency.code] = NoticePublisher(
                producer=producer,
                catalog=catalog,
                agency=agency,
                signing_key=load_signing_key(settings.keys_dir, agency.principal),
            )
        await producers[agency.code].publish(notice)
        sent.append(notice)
        print(f"sent  {notice['notice_type']:<26} from {agency.code:<18} id {notice['notice_id']}")
    for producer in kafka_producers:
        await producer.stop()

    wanted = {n["notice_id"] for n in sent}
    deadline = asyncio.get_running_loop().time() + 60
    while gateway.stats.notices_decided + gateway.stats.notices_rejected < len(wanted):
        if asyncio.get_running_loop().time() > deadline:
            print("gateway did not decide every notice within 60 s; see its logs")
            break
        await asyncio.sleep(0.2)
    gateway.stop()
    await running

    hub_keys = KeyDirectory.load(settings.keys_dir / "trusted")
    print()
    for subscriber in topology.subscribers:
        records = await feeds[subscriber.subscriber_id].drain(quiet_s=1.0)
        await feeds[subscriber.subscriber_id].stop()
        items = [
            catalog.decode(open_envelope(catalog, r.value, hub_keys).payload, MessageType.FEED_ITEM)
            for r in records
        ]
        items = [i for i in items if i["notice_id"] in wanted]
        print(f"== {subscriber.subscriber_id} ({subscriber.role}): {len(items)} of {len(sent)}")
        for item in sorted(items, key=lambda i: i["notice_type"]):
            fields = len(json.loads(item["view_json"]))
            print(
                f"   {item['outcome']:<9} {item['notice_type']:<26} "
                f"{fields} top-level fields, {len(item['fields_withheld'])} withheld; "
                f"rules {','.join(item['rule_ids'])}"
            )
            print(f"             {item['explanation']}")
    print(f"\ndecided {gateway.stats.notices_decided}, rejected {gateway.stats.notices_rejected}, "
          f"outcomes {dict(gateway.stats.outcomes)}")
