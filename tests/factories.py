"""Shared test factories: synthetic notices and keys, built the same way everywhere."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from services.childindex.domain import LinkageKeyer
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.notice import notice_id_for
from services.hubkit.topology import AUDIT_TOPIC
from services.synthetic.notices import SyntheticNotices

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas" / "avro"
POLICIES = REPO / "policies"
FIXED_NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
TEST_LINKAGE_SECRET = b"test-only-linkage-secret-32bytes"


def catalog() -> SchemaCatalog:
    return SchemaCatalog(SCHEMAS)


def notices(seed: int = 7) -> SyntheticNotices:
    return SyntheticNotices(seed=seed, keyer=LinkageKeyer(TEST_LINKAGE_SECRET), now=FIXED_NOW)


def hub_signed_audit_record(
    catalog: SchemaCatalog, value: bytes, keys: KeyDirectory
) -> dict[str, Any] | None:
    """The AuditRecord in bytes read from an audit decisions topic, when the hub signed it;
    None for anything else (the shared broker's topic also carries other tests' traffic,
    forgeries included), so a record counts only if the gateway really wrote it."""
    try:
        return open_audit_record(catalog, value, keys, topic=AUDIT_TOPIC).record
    except AuditRecordRejected:
        return None


def under_fresh_reference(notice: dict[str, Any]) -> dict[str, Any]:
    """The same notice under a source reference (so a notice id) no run has used: the broker
    outlives test runs, and the gateway decides a notice id once only (DUPLICATE_NOTICE)."""
    source = {
        **notice["source"],
        "source_reference": f"{notice['source']['source_reference']}-{time.time_ns()}",
    }
    return {
        **notice,
        "source": source,
        "notice_id": notice_id_for(
            agency=source["agency"],
            organisation_code=source["organisation_code"],
            source_reference=source["source_reference"],
        ),
    }
