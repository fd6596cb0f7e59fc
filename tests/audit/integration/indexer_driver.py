"""Run the real audit indexer in its own process, optionally freezing it at a chosen point so
a test can kill -9 it there.

    python -m tests.audit.integration.indexer_driver --database-url URL --keys-dir DIR
        --origin NAME [--start-offset N] [--access-start-offset N]
        [--freeze in-db-commit|before-offset-commit --marker FILE]

--freeze in-db-commit          after a checkpoint has been signed, the next append freezes
                               inside its database transaction: leaves inserted, not committed
--freeze before-offset-commit  after a checkpoint has been signed, the next batch freezes
                               after its database commit, before the Kafka offset commit

When frozen it writes the marker file and sleeps until killed. On SIGTERM it stops cleanly
(signing a last checkpoint) and prints its stats as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import time
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy import event

from services.audit.keys import ensure_log_key
from services.audit.service import AuditIndexer
from services.audit.settings import LOG_KEY_NAME, AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings


def _freeze(marker: Path) -> None:
    marker.write_text(str(time.time()))
    while True:  # until kill -9
        time.sleep(60)


class _FreezeBeforeOffsetCommit(AuditIndexer):
    marker: Path

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        if self.stats.checkpoints_signed > 0:
            _freeze(self.marker)
        await super()._commit_offsets(offsets)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--keys-dir", type=Path, required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--start-offset", type=int, default=0)
    parser.add_argument("--access-start-offset", type=int, default=0)
    parser.add_argument("--freeze", choices=["in-db-commit", "before-offset-commit"])
    parser.add_argument("--marker", type=Path)
    args = parser.parse_args()

    hub = HubSettings()
    settings = AuditSettings(
        database_url=args.database_url,
        origin=args.origin,
        start_offset=args.start_offset,
        access_start_offset=args.access_start_offset,
        checkpoint_interval_s=0.2,
        batch_max_records=25,
        poll_timeout_ms=100,
    )
    store = open_store(args.database_url)
    kind = _FreezeBeforeOffsetCommit if args.freeze == "before-offset-commit" else AuditIndexer
    indexer = kind(
        hub=hub,
        settings=settings,
        store=store,
        catalog=SchemaCatalog(hub.schemas_dir),
        log_key=ensure_log_key(args.keys_dir, name=LOG_KEY_NAME, origin=args.origin),
        trusted_keys=lambda: KeyDirectory.load(hub.keys_dir / "trusted"),
    )
    if isinstance(indexer, _FreezeBeforeOffsetCommit):
        indexer.marker = args.marker

    if args.freeze == "in-db-commit":

        def mark_append(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LEAVES"):
                conn.info["appending"] = True

        def before_commit(conn: Any) -> None:
            if conn.info.pop("appending", False) and indexer.stats.checkpoints_signed > 0:
                _freeze(args.marker)

        event.listen(store.engine, "before_cursor_execute", mark_append)
        event.listen(store.engine, "commit", before_commit)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, indexer.stop)
        await indexer.run()

    asyncio.run(run())
    store.close()
    # asdict turns a Counter into a Counter of (key, count) pairs: give it as a plain dict.
    stats = {**dataclasses.asdict(indexer.stats), "rejected": dict(indexer.stats.rejected)}
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
