"""Issue 21 item 6 against the real broker: police records posted through the police adapter
reach the mash-manager's feed through the real gateway; `safehub feed follow`, run as the
guide (docs/receiving.md) says, is SIGKILLed mid-stream and restarted several times while
records arrive and a notice is withdrawn; afterwards the output holds every record of the
feed topic exactly once, in order. A forged item (a real item re-sealed with an agency's
key) goes only to the rejects file and the client carries on past it. A webhook receiver on
loopback that answers 503 three times and refuses one key for good gets every other line,
each stored once by its Idempotency-Key, also when everything is posted again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import NewTopic

from services.cli.feed import FeedRecord, read_feed
from services.hubkit.bus import admin_client, make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, open_envelope, seal
from services.hubkit.feed_items import open_feed_message
from tests.rules.harness import Delivery, RulesHub
from tests.rules.natives import POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[3]
GUIDE = REPO / "docs" / "receiving.md"
GUIDE_OUT = "mash-feed.jsonl"
DECISION_IDS = {
    MessageType.FEED_ITEM: "decision_id",
    MessageType.FEED_RETRACTION: "decision_id",
    MessageType.BREAK_GLASS_ALERT: "alert_id",
    MessageType.BREAK_GLASS_REFUSAL: "decision_id",
}


def guide_follow(*flags: str) -> list[str]:
    """The guide's `safehub feed follow ... --out` command with exactly these extra flags."""
    for line in GUIDE.read_text().splitlines():
        argv = shlex.split(line) if line.startswith("safehub feed follow ") else []
        if "--out" in argv and {a for a in argv[4:] if a.startswith("--")} == {"--out", *flags}:
            return argv
    raise AssertionError(f"docs/receiving.md has no `safehub feed follow --out` with {flags}")


def _env(hub: RulesHub) -> dict[str, str]:
    return {**os.environ, "SAFEHUB_POLICIES_DIR": str(hub.settings.policies_dir)}


def _namespaced(hub: RulesHub, subscriber: str) -> list[str]:
    # The harness's gateway writes namespaced copies of the feeds, which the feed principals
    # may not read; the hidden --topic/--principal point the client at them.
    return ["--topic", f"{hub.namespace}.feed.{subscriber}.v1", "--principal", "admin"]


def _command(argv: list[str], out: Path, extra: list[str]) -> list[str]:
    assert argv[0] == "safehub"
    args = [str(out) if a == GUIDE_OUT else a for a in argv[1:]]
    return [sys.executable, "-m", "services.cli.main", *args, *extra]


async def _topic(hub: RulesHub, subscriber: str) -> list[FeedRecord]:
    return await read_feed(
        hub.settings,
        topic=f"{hub.namespace}.feed.{subscriber}.v1",
        principal="admin",
        partitions=hub.topology.partitions(f"feed.{subscriber}.v1"),
        timeout_s=30.0,
    )


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def _until_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if len(_jsonl(path)) >= count:
            return
        assert process.poll() is None, f"the client exited early ({process.returncode})"
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


async def test_killed_mid_stream_and_restarted_every_record_is_written_once(
    feed_hub: RulesHub, natives: Natives, tmp_path: Path
) -> None:
    out = tmp_path / "mash-feed.jsonl"
    extra = _namespaced(feed_hub, "mash-manager")
    env = _env(feed_hub)
    rng = random.Random(21)
    posted: list[str] = []
    deliveries: list[Delivery] = []

    async def post(count: int) -> None:
        for _ in range(count):
            delivery = await feed_hub.send(
                "POLICE", POLICE_PATH, natives.police_contact(natives.child())
            )
            assert delivery.received("mash-manager"), delivery.summary()
            posted.append(delivery.notice_id)
            deliveries.append(delivery)

    def start(argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            _command(argv, out, extra), cwd=REPO, env=env, stderr=subprocess.DEVNULL
        )

    first = start(guide_follow("--from-beginning"))
    await post(3)
    await _until_lines(out, 1, first)
    _kill(first)  # killed while following
    await post(3)  # these arrive while no client runs

    resumed = guide_follow()
    for _ in range(3):
        process = start(resumed)
        await asyncio.sleep(rng.uniform(0.5, 3.0))  # start-up, catch-up or idle: any moment
        await post(2)
        _kill(process)

    process = start(resumed)
    await post(2)
    withdrawn = deliveries[0]
    await feed_hub.withdraw("POLICE", withdrawn, "ENTERED_IN_ERROR")
    await asyncio.sleep(rng.uniform(0.0, 1.0))
    _kill(process)

    final = await asyncio.to_thread(
        subprocess.run,
        _command(guide_follow("--once"), out, extra),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert final.returncode == 0, final.stderr

    records = await _topic(feed_hub, "mash-manager")
    lines = _jsonl(out)
    at = [(line["feed"]["partition"], line["feed"]["offset"]) for line in lines]
    repeated = [p for p, n in Counter(at).items() if n > 1]
    assert not repeated, f"lines written twice: {repeated}"
    expected = {(r.partition, r.offset) for r in records}
    assert set(at) == expected, (
        f"lost: {sorted(expected - set(at))}; not on the topic: {sorted(set(at) - expected)}"
    )
    for partition in {p for p, _ in at}:
        offsets = [o for p, o in at if p == partition]
        assert offsets == sorted(offsets), f"partition {partition} out of order"

    # Each line is the record at its position, checked independently of the client's core.
    by_position = {(line["feed"]["partition"], line["feed"]["offset"]): line for line in lines}
    catalog = SchemaCatalog(feed_hub.settings.schemas_dir)
    keys = KeyDirectory.load(feed_hub.settings.keys_dir / "trusted")
    for record in records:
        message = open_feed_message(catalog, keys, record.value, subscriber_id="mash-manager")
        line = by_position[record.partition, record.offset]
        assert line["decision_id"] == str(message.record[DECISION_IDS[message.message_type]])
        assert line["notice_id"] == str(message.record["notice_id"])

    items = Counter(line["notice_id"] for line in lines if line["kind"] == "item")
    assert all(items[notice_id] == 1 for notice_id in posted), items
    withdrawals = [line for line in lines if line["kind"] == "withdrawal"]
    assert [w["notice_id"] for w in withdrawals] == [withdrawn.notice_id]
    assert withdrawals[0]["reason"] == "ENTERED_IN_ERROR"
    checked = [line for line in lines if line["kind"] == "item"]
    assert all(line["provenance"]["sealed_by_hub"] for line in checked)
    assert any(line["provenance"]["fields"] == "checked" for line in checked)

    assert _jsonl(out.with_name(out.name + ".rejects.jsonl")) == []


async def test_a_forged_record_goes_to_the_rejects_and_the_client_moves_on(
    feed_hub: RulesHub, natives: Natives, tmp_path: Path
) -> None:
    """The real mash-manager records, copied byte for byte to a topic of their own (the
    harness's observer rightly fails on anything forged on its feeds), with a forged one
    between them: a real item's payload re-sealed with the police adapter's key."""
    for _ in range(2):
        await feed_hub.send("POLICE", POLICE_PATH, natives.police_contact(natives.child()))
    catalog = SchemaCatalog(feed_hub.settings.schemas_dir)
    keys = KeyDirectory.load(feed_hub.settings.keys_dir / "trusted")
    real = (await _topic(feed_hub, "mash-manager"))[:3]
    police = load_signing_key(feed_hub.settings.keys_dir, "adapter-police")
    forged = seal(catalog, open_envelope(catalog, real[0].value, keys).payload, police, NOW)
    topic = f"{feed_hub.namespace}.forged.feed.mash-manager.v1"
    partitions = feed_hub.topology.partitions("feed.mash-manager.v1")
    admin = admin_client(feed_hub.settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=30_000)
        producer = make_producer(feed_hub.settings, "admin")
        await producer.start()
        try:
            for value in (real[0].value, forged, real[1].value, real[2].value):
                await producer.send_and_wait(topic, value=value, partition=0)
        finally:
            await producer.stop()
        out = tmp_path / "mash-feed.jsonl"
        extra = ["--from-beginning", "--topic", topic, "--principal", "admin"]
        result = await asyncio.to_thread(
            subprocess.run,
            _command(guide_follow("--once"), out, extra),
            cwd=REPO,
            env=_env(feed_hub),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([topic], timeout_ms=30_000)
        await admin.close()
    assert result.returncode == 1, result.stderr  # done, but something was rejected
    assert f"REJECT {topic}/0@1 seal not_signed_by_hub" in result.stderr
    assert [line["feed"]["offset"] for line in _jsonl(out)] == [0, 2, 3]
    (reject,) = _jsonl(out.with_name(out.name + ".rejects.jsonl"))
    assert reject["feed"] == {"topic": topic, "partition": 0, "offset": 1}
    assert (reject["check"], reject["reason"]) == ("seal", "not_signed_by_hub")
    assert reject["notice_id"] is None
    assert "view" not in reject


@dataclass
class Receiver:
    """A case system's endpoint: 503 to the first `unavailable` posts, 422 for good to the
    first key after them, otherwise stores each Idempotency-Key's line once (2xx again for a
    key it holds)."""

    unavailable: int
    refused: str | None = None
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: Counter[str] = field(default_factory=Counter)
    answered_503: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, key: str, body: dict[str, Any]) -> int:
        with self.lock:
            self.posts[key] += 1
            if self.answered_503 < self.unavailable:
                self.answered_503 += 1
                return 503
            if self.refused is None:
                self.refused = key
            if key == self.refused:
                return 422
            self.stored.setdefault(key, body)
            return 200


@contextmanager
def serving(receiver: Receiver) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            status = receiver.answer(self.headers["Idempotency-Key"], body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/safehub/feed"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _webhook_command(hub: RulesHub, subscriber: str, url: str, tmp_path: Path) -> list[str]:
    (argv,) = [
        shlex.split(line)
        for line in GUIDE.read_text().splitlines()
        if line.startswith("safehub feed follow ") and "--webhook" in line
    ]
    argv[argv.index("--subscriber") + 1] = subscriber
    argv[argv.index("--webhook") + 1] = url
    files = ["--position", str(tmp_path / "p.json"), "--rejects", str(tmp_path / "r.jsonl")]
    extra = ["--from-beginning", *files, "--retry-for", "60", *_namespaced(hub, subscriber)]
    return [sys.executable, "-m", "services.cli.main", *argv[1:], *extra]


async def test_a_webhook_that_fails_then_accepts_gets_every_line_once_by_key(
    feed_hub: RulesHub, natives: Natives, tmp_path: Path
) -> None:
    subscriber = "mash-police-researcher"
    for _ in range(4):
        delivery = await feed_hub.send(
            "POLICE", POLICE_PATH, natives.police_contact(natives.child())
        )
        assert delivery.received(subscriber), delivery.summary()
    catalog = SchemaCatalog(feed_hub.settings.schemas_dir)
    keys = KeyDirectory.load(feed_hub.settings.keys_dir / "trusted")
    on_topic = set()
    for record in await _topic(feed_hub, subscriber):
        message = open_feed_message(catalog, keys, record.value, subscriber_id=subscriber)
        on_topic.add(str(message.record[DECISION_IDS[message.message_type]]))

    receiver = Receiver(unavailable=3)
    with serving(receiver) as url:
        command = _webhook_command(feed_hub, subscriber, url, tmp_path)

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                command,
                cwd=REPO,
                env=_env(feed_hub),
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )

        first = await asyncio.to_thread(run)
        assert first.returncode == 1, first.stderr  # one line refused for good (422)
        assert receiver.answered_503 == 3
        assert first.stderr.count("RETRY ") == 3, first.stderr
        assert receiver.refused in on_topic
        assert set(receiver.stored) == on_topic - {receiver.refused}
        (refusal,) = _jsonl(tmp_path / "r.jsonl")
        assert (refusal["check"], refusal["reason"]) == ("receiver", "http_422")
        assert refusal["line"]["decision_id"] == receiver.refused
        stored = dict(receiver.stored)

        # The position is lost (say the disk was restored from last night): everything is
        # posted again, and the receiver's keys keep each line once.
        (tmp_path / "p.json").unlink()
        (tmp_path / "r.jsonl").unlink()
        again = await asyncio.to_thread(run)
    assert again.returncode == 1, again.stderr
    assert receiver.stored == stored
    assert all(receiver.posts[key] >= 2 for key in on_topic), receiver.posts
    for key, body in receiver.stored.items():
        assert body["decision_id"] == key
        assert body["subscriber_id"] == subscriber
