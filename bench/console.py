"""The console at a year of a large MASH: restart-to-ready and queue page time at 1M feed items.

    python bench/console.py [--items 1000000] [--requests 200] [--rounds 3] [--db PATH]

(--db: build the projection there if absent, reuse it if present: a 1M build takes minutes.)

1. build: N synthetic feed items for the MASH manager's feed (services/synthetic notices,
   viewed in full as the manager's feed shows them; one in a thousand in immediate danger; a
   contact in ten is never decided, the rest are covered by MASH decisions) are applied to a
   persisted projection (services/console/projection_store.py) in batches of 500, each one
   transaction with its offset, as the feed follower writes them. Items/s is reported, not
   targeted.
2. restart: the projection is opened from the database as the console opens it at start
   (stored offsets, counts, open immediate-danger items), until it answers a queue page.
   Baseline: reading the same rows' queue columns raw from SQLite (one SELECT over the
   table).
3. queue page: `--requests` GET /queue?show=...&page=... through the real app (httpx ASGI
   transport), signed in as the MASH manager (a stand-in identity provider, as
   tests/console/unit/test_app.py signs in), on the awaiting queue and on the whole feed,
   pages by number drawn from the first ten and from anywhere, and "Next page" links (keyset
   paging: the position of the previous page's last row) from anywhere in the whole feed.
   p50/p99 per kind. Baseline: the
   time to fetch one page of the same rows (50 rows by primary key) raw from SQLite.

Figures are printed as milliseconds and as ratios to the same-run baselines. Loops are
bounded; nothing leaves the process (no broker is needed: the feed follower's Kafka path is
covered by tests/console/integration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.childindex.domain import LinkageKeyer
from services.console.app import create_app
from services.console.domain.deadlines import Timescales
from services.console.domain.decisions import DecisionOrigin
from services.console.domain.feed import FeedEntry, entry_from_feed_item
from services.console.feeds import ChangeHub
from services.console.projection_store import StoredProjection
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.gateway.domain.records import redacted_view_json
from services.gateway.domain.redaction import present_paths
from services.hubkit.child_keys import ChildKeys
from services.hubkit.notice import decision_id_for, to_json_value
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from services.hubkit.topology import load_topology
from services.synthetic.notices import SyntheticNotices

SUBSCRIBER = "mash-manager"
TOPIC = "feed.mash-manager.v1"
KEYS = ChildKeys(bytes(32), store="console")  # the seal/open cost is what is measured
YEAR_START = dt.datetime(2025, 11, 20, 8, 0, tzinfo=dt.UTC)
NOW = YEAR_START + dt.timedelta(days=365)
_KINDS = (
    "SAFEGUARDING_CONTACT",
    "DOMESTIC_ABUSE_INCIDENT",
    "MISSING_EPISODE",
    "HEALTH_SAFEGUARDING_ALERT",
    "EXPLOITATION_CONCERN",
    "POLICE_INTELLIGENCE",
    "CSC_STATUS_CHANGE",
)
_TEMPLATES = 700
_BASIS = {
    "article6": "UK GDPR Art 6(1)(e) public task",
    "special_category_condition": "UK GDPR Art 9(2)(g)",
    "dpa_part3": None,
    "statutory_gateway": "Children Act 2004 s10 and s11",
    "criminal_offence_condition": None,
    "recipient_basis": None,
}


def _templates(seed: int) -> list[tuple[str, str, str, str, str]]:
    """(notice type, source agency, view json, its notice id, its linkage key) for a few
    hundred synthetic notices; items are made from them by swapping the ids."""
    gen = SyntheticNotices(
        seed=seed, keyer=LinkageKeyer(b"bench-only-linkage-secret-32byte"), now=YEAR_START
    )
    found = []
    for n in range(_TEMPLATES):
        notice = gen.notice(_KINDS[n % len(_KINDS)])
        notice = to_json_value(notice)
        view = redacted_view_json(notice, present_paths(notice))
        found.append(
            (
                notice["notice_type"],
                notice["source"]["agency"],
                view,
                notice["notice_id"],
                notice["subject"]["linkage_key"],
            )
        )
    return found


def _item(
    *,
    notice_id: str,
    notice_type: str,
    agency: str,
    linkage_key: str,
    view_json: str,
    decided_at: dt.datetime,
) -> dict[str, Any]:
    """A decoded FeedItem record, as open_feed_item returns it."""
    return {
        "notice_id": notice_id,
        "decision_id": decision_id_for(notice_id=notice_id, subscriber_id=SUBSCRIBER),
        "subscriber_id": SUBSCRIBER,
        "notice_type": notice_type,
        "subject_linkage_key": linkage_key,
        "outcome": "PERMIT",
        "view_json": view_json,
        "fields_withheld": [],
        "explanation": "Shared because the MASH triages contacts (R1, R2).",
        "lawful_basis": _BASIS,
        "purpose": "SAFEGUARDING_TRIAGE",
        "isa_clause": "ISA-4.1",
        "rule_ids": ["R1", "R2"],
        "policy_revision": "sha256:bench",
        "notice_sha256": b"\x00" * 32,
        "source_agency": agency,
        "contact_point": {
            "role": "Safeguarding desk",
            "organisation": "POL-XX01",
            "telephone": "0300 000 0100",
            "secure_email": None,
        },
        "decided_at": decided_at,
        "break_glass": None,
    }


def feed_items(count: int, *, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """`count` feed items over a year, oldest first: notices about ~count/6 children, and
    after every few contacts a MASH decision covering them (nine times in ten)."""
    rng = random.Random(seed)
    templates = _templates(seed)
    children = [f"{rng.getrandbits(256):064x}" for _ in range(max(1, count // 6))]
    step = dt.timedelta(days=365) / count
    contact_types = Timescales().contact_types
    pending: list[str] = []
    for n in range(count):
        at = YEAR_START + step * n
        key = rng.choice(children)
        notice_id = f"bench-{n:08d}-{rng.getrandbits(48):012x}"
        if len(pending) >= 4:
            covered, pending = pending, []
            if rng.random() < 0.9:
                view = {
                    "notice_id": notice_id,
                    "notice_type": "MASH_DECISION",
                    "subject": {"linkage_key": key},
                    "detail": {
                        "rag": rng.choice(["RED", "AMBER", "GREEN"]),
                        "outcome": "S17_ASSESSMENT",
                        "rationale": "Synthetic rationale.",
                        "family_agreement": False,
                        "decided_by_role": "MASH manager",
                        "related_notice_ids": covered,
                        "agreed_actions": ["Allocate for assessment"],
                    },
                }
                yield _item(
                    notice_id=notice_id,
                    notice_type="MASH_DECISION",
                    agency="MASH",
                    linkage_key=key,
                    view_json=json.dumps(view, sort_keys=True, separators=(",", ":")),
                    decided_at=at,
                )
                continue
        kind, agency, view_json, template_id, template_key = templates[n % len(templates)]
        view_json = view_json.replace(template_id, notice_id).replace(template_key, key)
        if rng.random() < 0.001:  # immediate danger: the alerts on every page
            view_json = view_json.replace('"immediate_danger":false', '"immediate_danger":true')
        if kind in contact_types:
            pending.append(notice_id)
        yield _item(
            notice_id=notice_id,
            notice_type=kind,
            agency=agency,
            linkage_key=key,
            view_json=view_json,
            decided_at=at,
        )


def build(path: Path, count: int, *, batch: int = 500) -> float:
    """Apply `count` items to a fresh stored projection at `path`; seconds taken."""
    database = PrivateSqlite(path)
    store = StoredProjection(database, SUBSCRIBER, topic=TOPIC, timescales=Timescales(), keys=KEYS)
    pending: list[FeedEntry] = []
    offset = 0
    start = time.perf_counter()
    for item in feed_items(count):
        pending.append(entry_from_feed_item(item))
        if len(pending) == batch:
            offset += len(pending)
            store.apply_all(pending, topic=TOPIC, partition=0, next_offset=offset)
            pending = []
    if pending:
        offset += len(pending)
        store.apply_all(pending, topic=TOPIC, partition=0, next_offset=offset)
    elapsed = time.perf_counter() - start
    database.close()
    return elapsed


def restart(path: Path) -> tuple[float, StoredProjection, PrivateSqlite]:
    """Open the stored projection as the console does at start, until it answers the first
    queue page; seconds taken, the projection and its database."""
    start = time.perf_counter()
    database = PrivateSqlite(path)
    store = StoredProjection(database, SUBSCRIBER, topic=TOPIC, timescales=Timescales(), keys=KEYS)
    store.start_offsets(TOPIC)
    store.queue_slice(
        now=NOW,
        statuses=frozenset({"awaiting"}),
        rag=None,
        agency=None,
        notice_type=None,
        age_band=None,
        offset=0,
        limit=50,
    )
    return time.perf_counter() - start, store, database


def raw_read(path: Path) -> float:
    """Baseline: the queue columns of every row, read raw from SQLite (the least a
    projection loaded into memory at start would do)."""
    start = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute(
        "SELECT notice_id, status, urgent, due_ms, priority, received_rank FROM feed_entries"
    ).fetchall()
    db.close()
    return time.perf_counter() - start


def raw_page(path: Path, rng: random.Random, rounds: int) -> list[float]:
    """Baseline: one page of rows (50 items' stored JSON) by primary key, raw from SQLite."""
    db = sqlite3.connect(path)
    highest = db.execute("SELECT MAX(id) FROM feed_entries").fetchone()[0]
    times = []
    for _ in range(rounds):
        first = rng.randrange(1, max(2, highest - 50))
        start = time.perf_counter()
        db.execute(
            "SELECT item_sealed FROM feed_entries WHERE id >= ? AND id < ?", (first, first + 50)
        ).fetchall()
        times.append(time.perf_counter() - start)
    db.close()
    return times


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def queue_pages(store: StoredProjection, requests: int, seed: int) -> dict[str, list[float]]:
    """GET /queue through the real app, signed in as the MASH manager; seconds per kind."""
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    topology = load_topology(REPO_ROOT / "policies")

    class SignIn:
        async def redirect(self, request: Request, redirect_uri: str) -> Response:
            request.session["_state"] = "pending"
            return RedirectResponse("/auth/callback", status_code=302)

        async def complete(self, request: Request) -> Mapping[str, Any]:
            return {
                "sub": "u-bench-manager",
                "name": "Bench Manager",
                "roles": ["MASH_MANAGER"],
                "organisation": "LA-E09000099",
            }

    class Nowhere:
        async def send(self, notice: Mapping[str, Any]) -> str:
            raise RuntimeError("the benchmark sends nothing")

        async def record(self, record: Mapping[str, Any]) -> None:
            return None

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield ConsoleRuntime(
            settings=settings,
            topology=topology,
            timescales=Timescales(),
            agencies={a.code: a.name for a in topology.agencies},
            projections={SUBSCRIBER: store},
            changes=ChangeHub(),
            sessions=sessions,
            signin=SignIn(),
            decisions=Nowhere(),
            refusals=Nowhere(),
            decision_roles=frozenset({"MASH_MANAGER"}),
            origin=DecisionOrigin("MASH", "MASH-E09000099", "MASH manager", "MASH", "0300"),
            clock=lambda: NOW,
        )

    rng = random.Random(seed)
    app = create_app(HubSettings(), settings, runtime=runtime)
    awaiting = store.queue_slice(
        now=NOW,
        statuses=frozenset({"awaiting"}),
        rag=None,
        agency=None,
        notice_type=None,
        age_band=None,
        offset=0,
        limit=0,
    ).total
    awaiting_pages = max(1, awaiting // settings.page_size)
    all_pages = max(1, len(store) // settings.page_size)
    # "Next page" links from anywhere in the whole feed: the position of the last row of a
    # random page (found before timing starts), as the page's own link carries it.
    anywhere = []
    for _ in range(max(1, requests // 5)):
        number = rng.randint(1, all_pages)
        last = store.queue_slice(
            now=NOW,
            statuses=None,
            rag=None,
            agency=None,
            notice_type=None,
            age_band=None,
            offset=number * settings.page_size - 1,
            limit=1,
        ).last
        if last is not None:
            anywhere.append(f"/queue?show=all&page={number + 1}&after={last.encode()}")
    kinds = {
        "awaiting, pages 1-10": lambda: f"/queue?show=awaiting&page={rng.randint(1, 10)}",
        "awaiting, any page": lambda: f"/queue?show=awaiting&page={rng.randint(1, awaiting_pages)}",
        "whole feed, pages 1-10": lambda: f"/queue?show=all&page={rng.randint(1, 10)}",
        "whole feed, any page": lambda: f"/queue?show=all&page={rng.randint(1, all_pages)}",
        "whole feed, next link": lambda: rng.choice(anywhere),
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            await http.get("/login")
            await http.get("/auth/callback")
            warm = await http.get("/queue")
            if warm.status_code != 200 or "Bench Manager" not in warm.text:
                raise RuntimeError(f"not signed in: {warm.status_code}")
            for n in range(requests):
                kind = list(kinds)[n % len(kinds)]
                url = kinds[kind]()
                start = time.perf_counter()
                answer = await http.get(url)
                times[kind].append(time.perf_counter() - start)
                if answer.status_code != 200:
                    raise RuntimeError(f"{url}: {answer.status_code}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="restarts measured; best and worst")
    parser.add_argument("--db", type=Path, help="reuse (or keep) the projection here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="safehub-bench-console-") as tmp:
        path = args.db or Path(tmp) / "console.db"
        if not path.exists():
            seconds = build(path, args.items)
            rate = args.items / seconds
            print(f"built {args.items:,} items in {seconds:.0f} s ({rate:,.0f} items/s)")
        size = path.stat().st_size / 2**20
        restarts, raws = [], []
        for _ in range(args.rounds):
            seconds, store, database = restart(path)
            restarts.append(seconds)
            database.close()
            raws.append(raw_read(path))
        seconds, store, database = restart(path)
        print(f"projection: {len(store):,} items, database {size:,.0f} MiB")
        _line("restart to first queue page", restarts)
        _line("baseline: raw read of every row's queue columns", raws)
        print(f"ratio restart / baseline (best): {min(restarts) / min(raws):.3f}")
        times = asyncio.run(queue_pages(store, args.requests, seed=2026))
        raw = raw_page(path, random.Random(1), 200)
        raw_p50 = statistics.median(raw)
        print(
            f"baseline: raw read of one page (50 rows by key): p50 {raw_p50 * 1000:.2f} ms  "
            f"p99 {_percentile(raw, 0.99) * 1000:.2f} ms"
        )
        print(f"GET /queue through the app ({args.requests} requests), as the MASH manager:")
        for kind, values in times.items():
            p50, p99 = statistics.median(values), _percentile(values, 0.99)
            print(
                f"  {kind:24} n={len(values):4}  p50 {p50 * 1000:7.1f} ms  "
                f"p99 {p99 * 1000:7.1f} ms  (p50 / raw page {p50 / raw_p50:6.1f}x)"
            )
        database.close()


def _line(what: str, values: list[float]) -> None:
    best, worst = min(values) * 1000, max(values) * 1000
    print(f"{what}: best {best:.1f} ms, worst {worst:.1f} ms")


if __name__ == "__main__":
    main()
