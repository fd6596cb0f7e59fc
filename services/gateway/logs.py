"""Structured JSON logs without personal data.

Each line is one JSON object: time, level, logger, message and only the `extra` fields named
in ALLOWED_FIELDS (ids, positions, codes, counts, roles, notice types). Anything else passed
as `extra` is dropped, and exception text is reduced to the exception type: messages of
third-party errors could quote a payload. Notice ids are random-looking UUIDs that identify
nobody outside the hub; linkage keys and notice content are never logged. Field paths
(`offending_paths`) name parts of the schema, never their values.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

__all__ = ["ALLOWED_FIELDS", "JsonFormatter", "configure_json_logging"]

ALLOWED_FIELDS = frozenset(
    {
        "notice_id",
        "topic",
        "partition",
        "offset",
        "next_offset",
        "reason",
        "kind",
        "error",
        "engine",
        "attempt",
        "delay_s",
        "budget_s",  # the decision budget (deciding.py): seconds, nothing about a notice
        "was_s",
        "notices",
        "messages",
        "decided",
        "rejected",
        "subscriber_id",
        "role",
        "notice_type",
        "offending_paths",
        "outcome",
        "transactional_id",
        "partitions",
        "elapsed_ms",
        "policy_revision",
        "http",
        "state",
        "request_id",  # emergency access (break_glass.py): the request's random UUID
        "agency",  # an agency code (the owning agency of a notice), never a person
    }
)

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_scalar(v) for v in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in ALLOWED_FIELDS and key not in _RESERVED:
                line[key] = _scalar(value)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, separators=(",", ":"))


def configure_json_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Route the gateway's and aiokafka's logs through the JSON formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("safehub").setLevel(level)
