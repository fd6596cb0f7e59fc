"""Shared test factories: synthetic notices and keys, built the same way everywhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from services.hubkit.codec import SchemaCatalog
from services.hubkit.linkage import LinkageKeyer
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
