"""Cosignatures kept beside the checkpoint history, on both backends (issue 19)."""

from __future__ import annotations

from services.audit.cosignatures import CosignatureStore
from services.audit.storage_sql import SqlAuditStore
from services.hubkit.cosignature import Cosignature


def _cosignature(name: str, timestamp: int) -> Cosignature:
    return Cosignature(
        name=name, key_id=b"\x01\x02\x03\x04", timestamp=timestamp, signature=bytes(64)
    )


def test_cosignatures_and_witness_sizes_round_trip(store: SqlAuditStore) -> None:
    cosignatures = CosignatureStore(store.engine)
    assert cosignatures.witness_size("witness.police.example") == 0  # never cosigned
    cosignatures.add(7, _cosignature("witness.police.example", 10))
    cosignatures.add(7, _cosignature("witness.police.example", 11))  # a resubmission: first kept
    cosignatures.add(7, _cosignature("witness.council.example", 12))
    cosignatures.add(9, _cosignature("witness.police.example", 13))
    assert [c.timestamp for c in cosignatures.for_checkpoint(7)] == [12, 10]
    assert sorted(cosignatures.by_checkpoint()) == [7, 9]
    assert cosignatures.witness_size("witness.police.example") == 9
    cosignatures.set_witness_size("witness.police.example", 4)  # what a 409 said
    assert cosignatures.witness_size("witness.police.example") == 4
    # Opening again (another process) finds the tables and rows; the log is untouched.
    again = CosignatureStore(store.engine)
    assert [c.name for c in again.for_checkpoint(9)] == ["witness.police.example"]
    assert store.head().size == 0
