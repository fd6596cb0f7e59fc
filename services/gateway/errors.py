"""Gateway errors and what the edge does with each.

GatewayError
├── DecisionUnavailable        no usable decision now: retry later, never deliver (fail closed)
│   ├── EngineUnavailable      the engine is down, timed out or answered 5xx
│   └── PolicyResultInvalid    undefined, non-object, or malformed result
└── NoticeRejected             the notice can never be processed: dead-letter + audit
"""

from __future__ import annotations

__all__ = [
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


class EngineUnavailable(DecisionUnavailable):
    pass


class PolicyResultInvalid(DecisionUnavailable):
    pass


class NoticeRejected(GatewayError):
    def __init__(self, reason: str, detail: str, notice_id: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.notice_id = notice_id
        super().__init__(f"{reason}: {detail}")
