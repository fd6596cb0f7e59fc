"""Gateway errors and what the edge does with each.

GatewayError
├── DecisionUnavailable        no usable decision now: retry later, never deliver (fail closed)
│   ├── EngineUnavailable      the engine is down, timed out or answered 5xx
│   ├── PolicyResultInvalid    undefined, non-object, or malformed result
│   └── ChildContextUnavailable  the child index gave no usable context for the batch
└── NoticeRejected             the notice can never be processed: dead-letter + audit

Every DecisionUnavailable carries a `kind`, a short machine-readable label for metrics and
logs (never any content of the notice).
"""

from __future__ import annotations

__all__ = [
    "ChildContextUnavailable",
    "DecisionUnavailable",
    "EngineUnavailable",
    "GatewayError",
    "NoticeRejected",
    "PolicyResultInvalid",
]


class GatewayError(Exception):
    pass


class DecisionUnavailable(GatewayError):
    """Retry later; nothing is disclosed meanwhile."""

    default_kind = "unavailable"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        self.kind = kind or self.default_kind
        super().__init__(message)


class EngineUnavailable(DecisionUnavailable):
    """Down, unreachable, too slow (kind "timeout") or failing (kind "server_error")."""

    default_kind = "unreachable"


class PolicyResultInvalid(DecisionUnavailable):
    """Undefined (kind "undefined"), malformed JSON, or a result of the wrong shape."""

    default_kind = "invalid_result"


class ChildContextUnavailable(DecisionUnavailable):
    """No context of a batch's children from the child index (kinds "child_index_" +
    "unreachable", "timeout", "server_error", "refused", "bad_answer"): the policy never
    decides without it."""

    default_kind = "child_index_unavailable"


class NoticeRejected(GatewayError):
    def __init__(self, reason: str, detail: str, notice_id: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.notice_id = notice_id
        super().__init__(f"{reason}: {detail}")
