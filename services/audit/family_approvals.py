"""Family reports as the IG officer approved them (issue 17), kept across restarts.

An approval is a person's decision (which rows to leave out of what the family receives, and
why), so it is written durably before the officer is told it is done, and a restart of the
IG API must not lose it: the PDF sent to a family is always rendered from the report as
approved, never from a fresh draft. Every approval is kept (a re-approval adds a row); the
latest for a (child's key, audience) is the one served.

Storage: a private SQLite file beside the audit store's default
(<data_dir>/audit/family-approvals.sqlite, `SAFEHUB_AUDIT_FAMILY_APPROVALS_PATH`), owned by
the IG API process (hubkit `PrivateSqlite`: 0600, WAL). It holds the approved report (kinds of
information, organisations, dates; pseudonymous keys) and the reviewer's reasons, never an
identifier of the child. Not in the audit store: the audit log is append-only evidence that
partners receive proofs over; the approval's digests are logged there
(`family_report_approved`), so this file can be checked against the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from services.audit.family_report import Audience, FamilyReportPublic
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["FamilyApprovals", "SqliteFamilyApprovals"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS family_report_approvals (
    approval_id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_linkage_key TEXT NOT NULL,
    audience TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    report_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS family_report_approvals_by_child
    ON family_report_approvals (subject_linkage_key, audience, approval_id);
"""


class FamilyApprovals(Protocol):
    def approve(self, key: str, audience: Audience, report: FamilyReportPublic) -> None:
        """Keep `report` (with its review) as the approved one for (key, audience)."""
        ...

    def approved(self, key: str, audience: Audience) -> FamilyReportPublic | None:
        """The latest approved report for (key, audience), or None."""
        ...

    def close(self) -> None: ...


class SqliteFamilyApprovals:
    def __init__(self, path: Path) -> None:
        self._db = PrivateSqlite(path, schema=_SCHEMA)

    def approve(self, key: str, audience: Audience, report: FamilyReportPublic) -> None:
        if report.review is None:
            raise ValueError("only a reviewed report can be kept as approved")
        with self._db.transaction(durable=True) as db:
            db.execute(
                "INSERT INTO family_report_approvals "
                "(subject_linkage_key, audience, approved_at, report_json) VALUES (?, ?, ?, ?)",
                (
                    key,
                    audience.value,
                    report.review.approved_at.isoformat(),
                    report.model_dump_json(),
                ),
            )

    def approved(self, key: str, audience: Audience) -> FamilyReportPublic | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT report_json FROM family_report_approvals "
                "WHERE subject_linkage_key = ? AND audience = ? "
                "ORDER BY approval_id DESC LIMIT 1",
                (key, audience.value),
            ).fetchone()
        return None if row is None else FamilyReportPublic.model_validate_json(row[0])

    def close(self) -> None:
        self._db.close()
