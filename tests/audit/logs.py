"""Build small signed audit logs for tests: decision records appended in batches, with a
checkpoint signed after each batch, exactly as the indexer does it."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoint import Checkpoint, encode_signed_note, sign_checkpoint
from services.audit.indexer import LogEntry, SourcePosition, entry_for_bytes, plan_checkpoint
from services.audit.storage import AuditStore
from tests.audit.records import TRUSTED_KEYS, audit_records, encode
from tests.factories import FIXED_NOW, catalog, notices

ORIGIN = "safehub.audit.test"
CATALOG = catalog()


def decision_entries(
    count_notices: int, *, seed: int = 11, start: dt.datetime = FIXED_NOW
) -> list[LogEntry]:
    gen = notices(seed)
    entries: list[LogEntry] = []
    for i in range(count_notices):
        notice = gen.notice("SAFEGUARDING_CONTACT")
        for record in audit_records(notice, decided_at=start + dt.timedelta(hours=i)):
            entries.append(
                entry_for_bytes(
                    CATALOG,
                    encode(CATALOG, record),
                    keys=TRUSTED_KEYS,
                    source=SourcePosition("audit.decisions.v1", 0, len(entries)),
                )
            )
    return entries


def sign_now(
    store: AuditStore, key: Ed25519PrivateKey, *, at_ms: int, origin: str = ORIGIN
) -> Checkpoint | None:
    head = store.head()
    latest = store.latest_checkpoint()
    checkpoint = plan_checkpoint(
        origin=origin,
        tree_size=head.size,
        root_hash=head.root,
        previous=latest.checkpoint if latest else None,
        now_ms=at_ms,
    )
    if checkpoint is not None:
        store.add_checkpoint(checkpoint, encode_signed_note(sign_checkpoint(checkpoint, key)))
    return checkpoint


def build_log(
    store: AuditStore,
    key: Ed25519PrivateKey,
    *,
    entries: list[LogEntry],
    batch: int = 7,
    origin: str = ORIGIN,
) -> list[Checkpoint]:
    """Append `entries` in batches, signing a checkpoint after each; returns the checkpoints."""
    signed = []
    for n, start in enumerate(range(0, len(entries), batch)):
        store.append(entries[start : start + batch], appended_at_ms=n)
        checkpoint = sign_now(store, key, at_ms=1_800_000_000_000 + n * 1000, origin=origin)
        if checkpoint is not None:
            signed.append(checkpoint)
    return signed
