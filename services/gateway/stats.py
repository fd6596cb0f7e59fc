"""Plain counts of what a gateway did, beside its Prometheus metrics (metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GatewayStats"]


@dataclass
class GatewayStats:
    """Counts of what this gateway committed (plus failures), for the demo and tests."""

    notices_decided: int = 0
    notices_rejected: int = 0
    decision_failures: int = 0
    transactions: int = 0
    transaction_failures: int = 0
    producers_recreated: int = 0
    feed_items: int = 0
    retractions_delivered: int = 0
    feed_retractions: int = 0
    audit_records: int = 0
    ceiling_violations: int = 0
    stall_alerts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
