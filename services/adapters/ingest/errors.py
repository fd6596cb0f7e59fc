"""Errors of the ingest pipeline, and the HTTP status the adapter edge answers with.

IngestError
├── RecordInvalid          422  the record (or one CSV row) failed validation or mapping;
│                               carries field-level errors; nothing is published
├── BatchInvalid           422  an upload cannot be read as a whole (not UTF-8 CSV, wrong
│                               columns); no row is published
├── BatchTooLarge          413  more rows or bytes than the adapter accepts in one upload
├── BodyTooLarge           413  the request body is over the adapter's byte limit; refused
│                               before (Content-Length) or while (streamed) it is read
├── NoticeTooLarge         413  the record is valid but its signed notice, or the notice as
│                               the gateway renders a view of it, is over the adapter's notice
│                               size limit (a backstop behind the field limits); nothing is
│                               published
├── ReferenceConflict      409  this source reference was already published with different
│                               content; nothing is published (see docs/integrators.md)
├── NoticeNotFound         404  a retraction names a source reference this adapter never
│                               published for its agency
├── RetractionConflict     409  a retraction cannot stand as asked: the notice was published
│                               before retractions were supported, the replacement of a
│                               correction is not published yet, or the notice was already
│                               withdrawn for another reason
├── AuditUnavailable       503  the audit service (a retraction's receipts) is not configured,
│                               unreachable or refused the adapter's client
├── PublishUnavailable     503  the broker did not acknowledge; nothing was recorded as
│                               published, so retrying the same record is safe
├── ChildIndexUnavailable  503  the child index (which keys the child) cannot be reached or
│                               refused the adapter; nothing is published, retry the record
└── ConfigurationMissing   (startup) a key or secret the adapter needs is not provisioned
Authentication and authorisation errors come from `services.hubkit.auth` (401 / 403).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.adapters.ingest.problems import FieldError
from services.hubkit.problems import problem_type_uri

__all__ = [
    "AuditUnavailable",
    "BatchInvalid",
    "BatchTooLarge",
    "BodyTooLarge",
    "ChildIndexUnavailable",
    "ConfigurationMissing",
    "IngestError",
    "NoticeNotFound",
    "NoticeTooLarge",
    "PublishUnavailable",
    "RecordInvalid",
    "ReferenceConflict",
    "RetractionConflict",
]


class IngestError(Exception):
    """Root of every error the ingest pipeline raises."""

    status = 500
    problem_type = problem_type_uri("ingest-error")
    title = "Ingest error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        notice_id: str | None = None,
    ) -> None:
        self.detail = detail
        self.errors = tuple(errors)
        self.notice_id = notice_id
        super().__init__(detail)


class RecordInvalid(IngestError):
    status = 422
    problem_type = problem_type_uri("invalid-record")
    title = "Record failed validation"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        count = len(errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} {noun} found; nothing was published.", errors=errors)


class BatchInvalid(IngestError):
    status = 422
    problem_type = problem_type_uri("invalid-batch")
    title = "Upload cannot be read"


class BatchTooLarge(IngestError):
    status = 413
    problem_type = problem_type_uri("batch-too-large")
    title = "Upload too large"


class BodyTooLarge(IngestError):
    status = 413
    problem_type = problem_type_uri("body-too-large")
    title = "Request body too large"


class NoticeTooLarge(IngestError):
    status = 413
    problem_type = problem_type_uri("notice-too-large")
    title = "Notice too large to publish"


class ReferenceConflict(IngestError):
    status = 409
    problem_type = problem_type_uri("reference-conflict")
    title = "Source reference already used for different content"


class NoticeNotFound(IngestError):
    status = 404
    problem_type = problem_type_uri("notice-not-found")
    title = "No such notice from this agency"


class RetractionConflict(IngestError):
    status = 409
    problem_type = problem_type_uri("retraction-conflict")
    title = "The notice cannot be withdrawn as asked"


class AuditUnavailable(IngestError):
    status = 503
    problem_type = problem_type_uri("audit-unavailable")
    title = "Audit service unavailable"


class PublishUnavailable(IngestError):
    status = 503
    problem_type = problem_type_uri("publish-unavailable")
    title = "Notice could not be published now"


class ChildIndexUnavailable(IngestError):
    status = 503
    problem_type = problem_type_uri("child-index-unavailable")
    title = "Child index unavailable"


class ConfigurationMissing(IngestError):
    """Raised at startup when a key or secret the adapter needs is not provisioned."""

    title = "Adapter not provisioned"
