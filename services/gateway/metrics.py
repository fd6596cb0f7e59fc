"""The gateway's Prometheus metrics, in a registry of its own (one per Gateway instance, so
several gateways in one process — tests, benchmarks — never share or clash).

Labels are bounded sets (topics, subscribers, outcomes, reason codes, error kinds): never a
notice id, never anything from a notice's content.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "GatewayMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Decision latency buckets (seconds): OPA answers a batch in tens of ms, regopy a notice in
# tens of ms, and the budget is a couple of seconds.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.notices_in = Counter(
            "safehub_gateway_notices_consumed",
            "Notices read from the notice topics (a retried notice counts again).",
            ["topic"],
            registry=r,
        )
        self.notices_out = Counter(
            "safehub_gateway_notices_committed",
            "Notices whose outcome committed: decided (audit + feeds), retracted (a retraction "
            "delivered to the original's recipients) or rejected (dead letter).",
            ["result"],
            registry=r,
        )
        self.decisions = Counter(
            "safehub_gateway_decisions",
            "Committed sharing decisions, one per notice and subscriber.",
            ["subscriber", "outcome"],
            registry=r,
        )
        self.feed_items = Counter(
            "safehub_gateway_feed_items",
            "Feed items committed, per subscriber.",
            ["subscriber"],
            registry=r,
        )
        self.ceiling_violations = Counter(
            "safehub_gateway_ceiling_violations",
            "Committed decisions the gateway withheld because the policy permitted paths beyond "
            "the recipient's disclosure ceiling (audited as DENY, CEILING_EXCEEDED). Any "
            "increase means the sharing rules disagree with the IG ceilings.",
            ["subscriber", "role", "notice_type"],
            registry=r,
        )
        self.break_glass = Counter(
            "safehub_gateway_break_glass",
            "Emergency access (break-glass) requests answered, by the owning agency of the "
            "notice ('unknown' when the request named none the hub holds) and result (granted "
            "or refused). Every grant is one for that agency's IG officer to review.",
            ["agency", "result"],
            registry=r,
        )
        self.break_glass_alerts = Counter(
            "safehub_gateway_break_glass_alerts",
            "Owning agencies' alert desks told of an emergency access grant over their notice "
            "(a BreakGlassAlert and its BREAK_GLASS_ALERT_DELIVERED audit record, committed "
            "with the grant), by owning agency. Equal to the granted count for that agency.",
            ["agency"],
            registry=r,
        )
        self.dead_letters = Counter(
            "safehub_gateway_dead_letters",
            "Notices sent to the dead-letter topic, by reason code.",
            ["reason"],
            registry=r,
        )
        self.decision_latency = Histogram(
            "safehub_gateway_decision_latency_seconds",
            "Time for one policy query (a batch of notices), successful or not.",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.engine_failures = Counter(
            "safehub_gateway_engine_failures",
            "Policy queries that left notices without a usable decision, once per query and "
            "kind (those notices are retried).",
            ["engine", "kind"],
            registry=r,
        )
        self.child_context_latency = Histogram(
            "safehub_gateway_child_context_latency_seconds",
            "Time for one child context request to the child index (a poll's notices), "
            "successful or not.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.child_context_failures = Counter(
            "safehub_gateway_child_context_failures",
            "Child context requests that left a poll's notices undecided, by kind (those "
            "notices are retried; none is decided without its child's context).",
            ["kind"],
            registry=r,
        )
        self.engine_up = Gauge(
            "safehub_gateway_engine_up",
            "1 when the last policy query gave a usable decision, else 0.",
            registry=r,
        )
        self.decision_budget = Gauge(
            "safehub_gateway_decision_budget_seconds",
            "Budget of each policy query of the next poll: decision_timeout_s while the engine "
            "keeps up, doubled after each timeout up to decision_timeout_max_s. Above the base "
            "for long: the engine is overloaded (add OPA capacity, not gateways).",
            registry=r,
        )
        self.retries = Counter(
            "safehub_gateway_retries",
            "Partitions paused and re-read because a notice could not be decided.",
            registry=r,
        )
        self.retry_delay = Gauge(
            "safehub_gateway_retry_backoff_seconds",
            "Current backoff of the partition that waits longest (0 when none waits).",
            registry=r,
        )
        self.stalled_seconds = Gauge(
            "safehub_gateway_partition_stalled_seconds",
            "How long the partition stalled longest has been retrying without committing "
            "anything (0 when none is). Alert when it stays above a few minutes.",
            registry=r,
        )
        self.stall_alerts = Counter(
            "safehub_gateway_partition_stall_alerts",
            "Times a partition retried without progress for longer than stall_alert_after_s "
            "(once per stall). Any increase needs an operator: the partition delivers nothing.",
            ["topic", "partition"],
            registry=r,
        )
        self.transactions = Counter(
            "safehub_gateway_transactions",
            "Kafka transactions, by result (committed, failed).",
            ["result"],
            registry=r,
        )
        self.transaction_latency = Histogram(
            "safehub_gateway_transaction_seconds",
            "Time to write and commit one transaction (audit + feeds + offsets).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.producers_recreated = Counter(
            "safehub_gateway_producers_recreated",
            "Transactional producers closed after an error of unknown outcome.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "safehub_gateway_consumer_lag",
            "Committed notices not yet consumed by this gateway, per assigned partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "safehub_gateway_assigned_partitions",
            "Notice partitions assigned to this gateway.",
            registry=r,
        )
        self.ready = Gauge(
            "safehub_gateway_ready",
            "1 when assigned and the engine answers, else 0.",
            registry=r,
        )
        self.engine_up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
