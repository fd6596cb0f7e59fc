"""Sharing decisions about one given child (its pseudonymous key), for the family report's
tests: synthetic notices with the child's key, decided for every audited subscriber."""

from __future__ import annotations

import datetime as dt

from services.audit.indexer import LogEntry, SourcePosition, entry_for_bytes
from tests.audit.logs import CATALOG
from tests.audit.records import TRUSTED_KEYS, audit_records, encode
from tests.factories import FIXED_NOW, notices

__all__ = ["decisions_about"]


def decisions_about(
    child_key: str, count_notices: int, *, seed: int = 17, start: dt.datetime = FIXED_NOW
) -> list[LogEntry]:
    """Log entries for `count_notices` notices about the child keyed `child_key`."""
    gen = notices(seed)
    entries: list[LogEntry] = []
    for i in range(count_notices):
        notice = gen.notice("SAFEGUARDING_CONTACT")
        notice["subject"]["linkage_key"] = child_key
        for record in audit_records(notice, decided_at=start + dt.timedelta(days=3 * i)):
            entries.append(
                entry_for_bytes(
                    CATALOG,
                    encode(CATALOG, record),
                    keys=TRUSTED_KEYS,
                    source=SourcePosition("audit.decisions.v1", 0, len(entries)),
                )
            )
    return entries
