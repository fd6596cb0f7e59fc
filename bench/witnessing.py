"""Checkpoint-to-cosigned latency: from a checkpoint signed to the partners' quorum met.

    python bench/witnessing.py [--checkpoints 200] [--leaves 50] [--witnesses 2]

The witnesses run as a partner runs them: `safehub witness serve` (`python -m
services.cli.witness serve`), one process each, on loopback ports, each with its own key and
state directory (a temporary directory). The hub side is the real code with no broker: an
SQLite audit store (`SqlAuditStore`, WAL, synchronous=FULL) grows by `--leaves` entries per
checkpoint; the checkpoint is signed and stored as the indexer signs it (`sign_checkpoint`,
`encode_signed_note`, `add_checkpoint`); then `WitnessSubmitter` submits it to every witness
at once (add-checkpoint with the consistency proof from each witness's last size), verifies
each cosignature with the policy's key and stores it, until the quorum ("all of them") is met.

Per checkpoint, timed separately:
1. sign: the checkpoint signed and encoded as a note (Ed25519, in memory): the baseline;
2. sign + store: the indexer's whole checkpoint step (the SQLite commit included);
3. signed -> quorum: from the stored checkpoint to every cosignature verified and stored.
Printed: p50 / p99 ms of each and the ratio of (3) to (1) and to (2), p50 to p50. In the
indexer the round starts after the checkpoint is also published to Kafka, beside the indexing
loop (`service.AuditIndexer._start_witnessing`), so a partner sees a cosigned checkpoint after
(2) + the publish + (3). Not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.checkpoint import encode_signed_note, sign_checkpoint
from services.audit.domain.merkle import leaf_hash
from services.audit.domain.witnessing import parse_policy
from services.audit.indexer import (
    REJECTED_PREFIX,
    EntryKind,
    IndexColumns,
    LogEntry,
    plan_checkpoint,
)
from services.audit.keys import encode_verifier_key
from services.audit.storage_sql import SqlAuditStore, open_store
from services.audit.witness_client import WitnessSubmitter
from services.hubkit.settings import HubSettings
from services.witness.app import witness_verifier_key
from services.witness.settings import WitnessSettings

ORIGIN = "safehub.audit.bench-witnessing"
PARTNERS = ("council", "police", "health", "education", "probation")
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_witnesses(root: Path, log_vkey: str, count: int) -> Iterator[list[str]]:
    """`count` witness processes; yields the policy's `witness` lines (name, vkey, URL)."""
    hub = HubSettings(data_dir=root / "hub")
    lines, processes = [], []
    try:
        for name in PARTNERS[:count]:
            settings = WitnessSettings(
                name=f"witness.{name}.example/safehub",
                data_dir=root / name,
                log_vkeys=[log_vkey],
                logs_file=root / "no-logs-file",
                port=_free_port(),
            )
            vkey = witness_verifier_key(settings, hub).encode()  # makes its key, as `key` does
            env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
            env |= {
                "SAFEHUB_DATA_DIR": str(hub.data_dir),
                "SAFEHUB_WITNESS_NAME": settings.name,
                "SAFEHUB_WITNESS_DATA_DIR": str(settings.data_dir),
                "SAFEHUB_WITNESS_LOG_VKEYS": json.dumps([log_vkey]),
                "SAFEHUB_WITNESS_LOGS_FILE": str(settings.logs_file),
                "SAFEHUB_WITNESS_HOST": "127.0.0.1",
                "SAFEHUB_WITNESS_PORT": str(settings.port),
            }
            with (root / f"{name}.log").open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "services.cli.witness", "serve"],
                        cwd=REPO,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            url = f"http://127.0.0.1:{settings.port}"
            lines.append(f"witness {name} {vkey} {url}")
            _wait_listening(url, processes[-1], root / f"{name}.log")
        yield lines
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def _wait_listening(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise SystemExit(f"a witness did not start:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"a witness did not listen within 30 s:\n{log.read_text()}"
                ) from None
            time.sleep(0.05)


def _entries(round_: int, count: int) -> list[LogEntry]:
    """Plain entries (no child, so logged as they are): witnessing never reads a leaf."""
    entries = []
    for i in range(count):
        data = REJECTED_PREFIX + json.dumps({"bench": round_, "n": i}).encode()
        entries.append(
            LogEntry(
                kind=EntryKind.REJECTED,
                entry_id=f"bench-{round_}-{i}",
                data=data,
                leaf_hash=leaf_hash(data),
                columns=IndexColumns(event="REJECTED"),
            )
        )
    return entries


async def bench(
    store: SqlAuditStore, key: Ed25519PrivateKey, policy_text: str, checkpoints: int, leaves: int
) -> tuple[list[float], list[float], list[float]]:
    policy = parse_policy(policy_text)
    cosignatures = CosignatureStore(store.engine)
    sign_s, store_s, quorum_s = [], [], []
    async with httpx.AsyncClient(timeout=10) as http:
        submitter = WitnessSubmitter(
            policy=policy, http=http, store=store, cosignatures=cosignatures
        )
        for n in range(checkpoints):
            store.append(_entries(n, leaves), appended_at_ms=n)
            head = store.head()
            latest = store.latest_checkpoint()
            start = time.perf_counter()
            checkpoint = plan_checkpoint(
                origin=ORIGIN,
                tree_size=head.size,
                root_hash=head.root,
                previous=latest.checkpoint if latest else None,
                now_ms=int(time.time() * 1000),
            )
            assert checkpoint is not None
            note = encode_signed_note(sign_checkpoint(checkpoint, key))
            signed = time.perf_counter()
            stored = store.add_checkpoint(checkpoint, note)
            kept = time.perf_counter()
            round_ = await submitter.witness_checkpoint(stored)
            done = time.perf_counter()
            if not round_.quorum_met:
                raise SystemExit(f"checkpoint {head.size}: quorum not met: {round_.failed}")
            sign_s.append(signed - start)
            store_s.append(kept - start)
            quorum_s.append(done - kept)
    return sign_s, store_s, quorum_s


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--leaves", type=int, default=50, help="entries added per checkpoint")
    parser.add_argument("--witnesses", type=int, default=2, choices=range(1, len(PARTNERS) + 1))
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    log_vkey = encode_verifier_key(ORIGIN, key.public_key())
    with tempfile.TemporaryDirectory(prefix="safehub-bench-witnessing-") as tmp:
        root = Path(tmp)
        with served_witnesses(root, log_vkey, args.witnesses) as witness_lines:
            names = " ".join(PARTNERS[: args.witnesses])
            policy = "\n".join([f"log {log_vkey}", *witness_lines, f"group partners all {names}"])
            store = open_store(f"sqlite:///{root / 'audit.db'}")
            try:
                sign_s, store_s, quorum_s = asyncio.run(
                    bench(store, key, policy + "\nquorum partners\n", args.checkpoints, args.leaves)
                )
            finally:
                store.close()
    sign, stored, quorum = _ms(sign_s), _ms(store_s), _ms(quorum_s)
    print(
        f"{args.checkpoints} checkpoints, {args.leaves} entries each, {args.witnesses} witnesses "
        f"(separate processes, loopback HTTP), quorum all {args.witnesses}"
    )
    print(f"sign (Ed25519 note, baseline):       p50 {sign[0]:8.3f} ms   p99 {sign[1]:8.3f} ms")
    print(f"sign + store (the indexer's step):   p50 {stored[0]:8.3f} ms   p99 {stored[1]:8.3f} ms")
    print(f"signed -> quorum met (cosigned):     p50 {quorum[0]:8.3f} ms   p99 {quorum[1]:8.3f} ms")
    print(f"ratio signed->quorum / sign:         {quorum[0] / sign[0]:8.1f}  (p50 to p50)")
    print(f"ratio signed->quorum / sign + store: {quorum[0] / stored[0]:8.1f}  (p50 to p50)")


if __name__ == "__main__":
    main()
