"""Errors of the feed client. One root, each with the exit code `safehub feed follow` returns.

FeedClientError
├── CannotStart           exit 2: a person must fix something first
│   ├── PositionUnusable      the position file is unreadable, or belongs to another feed
│   └── OutputChanged         the output (or rejects) file is shorter than the position
│                             file records: something outside the client edited it
├── BrokerUnreachable     exit 3: no connection to the hub's broker; nothing was lost,
│                         the next run resumes from the committed position
├── ReceiverUnavailable   exit 4: the webhook kept failing (5xx, timeouts) for the whole
│                         retry window; the position stays on the undelivered item
└── FeedRecreated         exit 5: the feed topic was created again (the committed offsets
                          are past its end); the output describes a log that no longer exists

An unknown subscriber and a missing credential are CannotStart too (the CLI names which).
Messages name files, offsets and reason codes, never a feed item's content.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnreachable",
    "CannotStart",
    "FeedClientError",
    "FeedRecreated",
    "OutputChanged",
    "PositionUnusable",
    "ReceiverUnavailable",
]


class FeedClientError(Exception):
    """Root of the feed client's errors; `exit_code` is what the CLI exits with."""

    exit_code = 2


class CannotStart(FeedClientError):
    exit_code = 2


class PositionUnusable(CannotStart):
    pass


class OutputChanged(CannotStart):
    pass


class BrokerUnreachable(FeedClientError):
    exit_code = 3


class ReceiverUnavailable(FeedClientError):
    exit_code = 4


class FeedRecreated(FeedClientError):
    exit_code = 5
