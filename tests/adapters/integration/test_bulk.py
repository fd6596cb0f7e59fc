"""1,000 records, 10% malformed, through the four adapters and the real broker: every good
record is on the bus exactly once, every bad one got a precise error and published nothing,
and sending good records again adds nothing. Counted, not sampled."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from typing import Any

import pytest

from tests.adapters.helpers import AGENCIES, PATHS, corrupt, map_native
from tests.adapters.integration.conftest import Hub
from tests.integration.bus import TopicReader

pytestmark = pytest.mark.kafka

TOTAL = 1000
MALFORMED = 100
CONCURRENCY = 64
BUDGET_S = 60.0


async def _collect(
    hub: Hub, reader: TopicReader, wanted: set[str], timeout_s: float
) -> Counter[str]:
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    while not wanted <= counts.keys() and time.monotonic() < deadline:
        batch = await reader.read_until(lambda rs: bool(rs), timeout_s=1.0)
        counts.update(hub.open(r)[0]["notice_id"] for r in batch)
    counts.update(hub.open(r)[0]["notice_id"] for r in await reader.drain(quiet_s=1.5))
    return counts


async def test_thousand_records_ten_percent_malformed(hub: Hub) -> None:
    started = time.monotonic()
    rng = random.Random(1000)
    records = hub.records(seed=1000)
    bad_indexes = set(rng.sample(range(TOTAL), MALFORMED))
    plan: list[dict[str, Any]] = []
    for index in range(TOTAL):
        agency = AGENCIES[index % len(AGENCIES)]
        document = records.record(agency)
        expected = map_native(agency, document, keyer=hub.keyer)
        item: dict[str, Any] = {
            "agency": agency,
            "document": document,
            "notice_id": expected["notice_id"],
            "bad": index in bad_indexes,
        }
        if item["bad"]:
            corruption = corrupt(agency, document, rng)
            item["document"], item["pointer"] = corruption.document, corruption.pointer
        plan.append(item)

    readers = {agency: await hub.reader(agency) for agency in AGENCIES}
    headers = {agency: await hub.headers(agency) for agency in AGENCIES}
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(item: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        agency = item["agency"]
        async with gate:
            response = await hub.adapters[agency].post(
                PATHS[agency],
                content=json.dumps(item["document"]),
                headers={**headers[agency], "Content-Type": "application/json"},
            )
        return response.status_code, response.json()

    try:
        answers = await asyncio.gather(*(send(item) for item in plan))
        good = [(i, a) for i, a in zip(plan, answers, strict=True) if not i["bad"]]
        bad = [(i, a) for i, a in zip(plan, answers, strict=True) if i["bad"]]

        # Every good record: 202, published, with its deterministic notice id.
        assert len(good) == TOTAL - MALFORMED
        assert Counter(status for _, (status, _) in good) == Counter({202: len(good)})
        assert all(a["status"] == "published" for _, (_, a) in good)
        assert all(a["notice_id"] == i["notice_id"] for i, (_, a) in good)

        # Every bad record: 422 with a field-level error naming the corrupted field.
        assert len(bad) == MALFORMED
        assert Counter(status for _, (status, _) in bad) == Counter({422: MALFORMED})
        for item, (_, answer) in bad:
            pointers = [e["pointer"] for e in answer["errors"]]
            assert item["pointer"] in pointers, (item["agency"], item["pointer"], answer)
            assert all(e["message"] for e in answer["errors"])

        # Sending 100 good records again publishes nothing new.
        resend = rng.sample([i for i, _ in good], 100)
        again = await asyncio.gather(*(send(item) for item in resend))
        assert all(s == 202 and a["status"] == "duplicate" for s, a in again)

        # Count what is on the bus.
        counts: Counter[str] = Counter()
        for agency, reader in readers.items():
            wanted = {i["notice_id"] for i, _ in good if i["agency"] == agency}
            counts += await _collect(hub, reader, wanted, timeout_s=30)
    finally:
        for reader in readers.values():
            await reader.stop()

    good_ids = {i["notice_id"] for i, _ in good}
    bad_ids = {i["notice_id"] for i, _ in bad}
    assert len(good_ids) == TOTAL - MALFORMED
    assert {n: counts[n] for n in good_ids} == dict.fromkeys(good_ids, 1)  # exactly once each
    assert not bad_ids & counts.keys()  # nothing of a malformed record was published
    assert sum(counts[n] for n in good_ids) == TOTAL - MALFORMED
    elapsed = time.monotonic() - started
    print(f"\n1000 records ({MALFORMED} malformed) + 100 resends: {elapsed:.1f}s")
    assert elapsed < BUDGET_S
