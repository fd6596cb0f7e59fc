"""One real hub for the sharing-rule tests (R1-R15), shared by every test in tests/rules.

Everything the rules touch is real and in process where it can be:

* the identity provider, the child index and the four agency adapters (FastAPI apps over
  httpx's ASGI transport, as in tests/adapters/integration), each adapter keying children
  through the index and publishing signed notices to its real notice topic on the real
  broker as its own principal; the gateway asks the same index for each child's context;
* a private OPA serving a signed bundle built from a snapshot of the working tree's
  `policies/` taken when the session starts (tests/policy/integration/private_opa.py), so
  the tests see the rules as they are in the tree, not whatever the shared stack published;
* one real gateway (services.gateway.bootstrap.build_gateway) on namespaced copies of every
  topic (`<namespace>.notices.*`, `<namespace>.feed.*`, `<namespace>.audit.decisions.v1`),
  so no other gateway on the long-lived broker decides our notices, and reruns never see an
  earlier run's feeds.

The adapters cannot write to the namespaced topics (their principals may write only their own
topic), so a relay copies each record an adapter published, byte for byte, signature and key
unchanged, from the real notice topic to its namespaced twin; the gateway verifies the
adapter's signature there exactly as it would on the real topic. Nothing is ever built or
signed by the tests themselves: MASH decisions are built and signed by the console's own code
(`mash_decision_notice` + `HubDecisionSender` as `adapter-mash`).

The snapshot gets one subscriber the repository does not have, `test-early-help-worker`
(EARLY_HELP_WORKER of VCS-SYN001, outside the MASH): without an early help recipient, "early
help needs the family's agreement" (R11) and "a charity's update never goes straight to an
early help worker" (R10) could not fail.

Observation: one read_committed reader follows the namespaced audit topic and every namespaced
feed; `RulesHub.delivery(notice_id)` waits until every subscriber's decision is audited (and
the feed items committed with them have arrived) and returns who got what. A notice the policy
cannot decide at all, or that the gateway rejects, fails its test at once with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import NewTopic

from services.adapters.childrens_services.app import create_app as csc_app
from services.adapters.health.app import create_app as health_app
from services.adapters.police.app import create_app as police_app
from services.adapters.voluntary_sector.app import create_app as vcs_app
from services.console.outbound import HubDecisionSender
from services.gateway.bootstrap import build_gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.auth import RemoteJwks
from services.hubkit.bus import admin_client, make_producer, reader_options
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, open_envelope
from services.hubkit.feed_items import open_feed_message
from services.hubkit.notice import to_json_value
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology, load_topology
from services.identity.app import create_app as identity_app
from services.identity.settings import IdentitySettings
from services.stack.artifacts import ensure_opa
from tests.adapters.clients import (
    adapter_outbound,
    adapter_settings,
    client_credentials_token,
    gateway_child_context,
    register_adapter_index_clients,
    register_agency_clients,
    start_child_index,
)
from tests.policy.integration.private_opa import PrivateOpa

__all__ = [
    "ADAPTER_AGENCIES",
    "EARLY_HELP_WORKER",
    "INSIDE_MASH",
    "OUTSIDE_MASH",
    "Delivery",
    "RulesHub",
    "leaf_paths",
    "running_hub",
]

ADAPTER_AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")
_ADAPTERS = {
    "POLICE": police_app,
    "HEALTH": health_app,
    "CHILDRENS_SERVICES": csc_app,
    "VOLUNTARY_SECTOR": vcs_app,
}
INSIDE_MASH = ("mash-manager", "mash-health-navigator", "mash-police-researcher")
OUTSIDE_MASH = (
    "responsible-la",
    "return-interview-provider",
    "school-dsl",
    "emergency-duty-team",
    "police-safeguarding-team",
    "health-safeguarding-team",
    "vcs-safeguarding-lead",
    "cpis-register",
    "test-early-help-worker",
)
EARLY_HELP_WORKER = "test-early-help-worker"
_TEST_SUBSCRIBERS = {
    EARLY_HELP_WORKER: {
        "agency": "VOLUNTARY_SECTOR",
        "organisation": "VCS-SYN001",
        "role": "EARLY_HELP_WORKER",
        "team": "EARLY_HELP",
        "inside_mash": False,
        "purposes": ["EARLY_HELP_SUPPORT"],
        "classifications": ["OFFICIAL", "OFFICIAL_SENSITIVE"],
        "contact": "Early help lead professional, Synthetic Children's Charity, 0300 000 0099",
    }
}
READER = "gateway"  # the least privilege that reads every real notice topic
DECIDED_TIMEOUT_S = 30.0
FEEDS_SETTLE_S = 5.0


def leaf_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the leaves of a view (a list counts as one leaf)."""
    if isinstance(value, dict):
        paths: set[str] = set()
        for key, child in value.items():
            paths |= leaf_paths(child, f"{prefix}{key}.")
        return paths
    return {prefix[:-1]} if prefix else set()


def _lookup(view: Mapping[str, Any], path: str) -> Any:
    node: Any = view
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@dataclass
class Delivery:
    """What the gateway decided for one notice and what each feed received."""

    notice_id: str
    notice: dict[str, Any]
    """The notice as the adapter published it (JSON values), for reference."""
    audit: dict[str, dict[str, Any]]
    """subscriber id -> its SHARING_DECISION audit record."""
    items: dict[str, dict[str, Any]]
    """subscriber id -> the feed item it received (decoded, plus `view`: the parsed view)."""

    @property
    def recipients(self) -> set[str]:
        return set(self.items)

    def received(self, subscriber_id: str) -> bool:
        return subscriber_id in self.items

    def item(self, subscriber_id: str) -> dict[str, Any]:
        assert subscriber_id in self.items, (
            f"{subscriber_id} received nothing for this {self.notice.get('notice_type')}; "
            f"decision: {self.decision_text(subscriber_id)}"
        )
        return self.items[subscriber_id]

    def view(self, subscriber_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self.item(subscriber_id)["view"]
        return view

    def value(self, subscriber_id: str, path: str) -> Any:
        """The value at `path` in what `subscriber_id` received (None when absent)."""
        return _lookup(self.view(subscriber_id), path)

    def paths(self, subscriber_id: str) -> set[str]:
        return leaf_paths(self.view(subscriber_id))

    def outcome(self, subscriber_id: str) -> str:
        record = self.audit.get(subscriber_id)
        assert record is not None, f"no audited decision for {subscriber_id}"
        return str(record["outcome"])

    def text(self, subscriber_id: str) -> str:
        """Everything `subscriber_id` received for this notice, lower-cased, as one text."""
        item = {k: v for k, v in self.item(subscriber_id).items() if k != "notice_sha256"}
        return json.dumps(item, default=str, sort_keys=True).lower()

    def decision_text(self, subscriber_id: str) -> str:
        record = self.audit.get(subscriber_id)
        if record is None:
            return "(not audited)"
        return (
            f"{record['outcome']} {record['rule_ids']} fields={record['fields_disclosed']} "
            f"explanation={record['explanation']!r}"
        )

    def summary(self) -> str:
        """Who got what, one line per subscriber: for assertion messages."""
        return (
            "\n".join(f"  {s}: {self.decision_text(s)}" for s in sorted(self.audit))
            or "  (nothing audited)"
        )


@dataclass
class _Observed:
    audit: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    withdrawals_audited: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """notice id -> subscriber id -> its RETRACTION_DELIVERED audit record."""
    withdrawals: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """notice id -> subscriber id -> the FeedRetraction it received."""
    break_glass_alerts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """notice id -> alert desk id -> the BreakGlassAlert it received (issue 18)."""
    break_glass_refusals: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """notice id -> desk id -> the BreakGlassRefusal it received (issue 18)."""


@dataclass
class Withdrawal:
    """What the gateway delivered when an agency withdrew a notice."""

    notice_id: str
    retraction_id: str
    audit: dict[str, dict[str, Any]]
    """subscriber id -> its RETRACTION_DELIVERED audit record."""
    messages: dict[str, dict[str, Any]]
    """subscriber id -> the FeedRetraction it received."""


class _Relay:
    """Copies the records our adapters publish on the real notice topics, unchanged, to the
    namespaced topics the session's gateway reads."""

    def __init__(self, settings: HubSettings, topology: Topology, namespace: str) -> None:
        self._settings = settings
        self._catalog = SchemaCatalog(settings.schemas_dir)
        self._keys = KeyDirectory.load(settings.keys_dir / "trusted")
        self._namespace = namespace
        self._topics = [a.topic for a in topology.agencies]
        self._partitions = {t: topology.partitions(t) for t in self._topics}
        self._consumer = AIOKafkaConsumer(
            **reader_options(settings, READER, client_id=f"safehub-rules-relay-{namespace}")
        )
        self._producer: AIOKafkaProducer = make_producer(settings, "admin")
        self._seen: dict[str, tuple[ConsumerRecord, dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        assigned = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in range(self._partitions[topic])
        ]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve the seek before any adapter publishes
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
        await self._producer.stop()

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    try:
                        verified = open_envelope(self._catalog, record.value, self._keys)
                    except Exception:  # another engineer's broken record: not ours
                        continue
                    try:
                        notice = self._catalog.decode(verified.payload, MessageType.NOTICE)
                        self._seen[str(notice["notice_id"])] = (record, to_json_value(notice))
                        continue
                    except Exception:
                        pass
                    try:  # an agency withdrawing a notice (issue 18)
                        retraction = self._catalog.decode(
                            verified.payload, MessageType.NOTICE_RETRACTION
                        )
                    except Exception:
                        continue
                    self._seen[str(retraction["retraction_id"])] = (
                        record,
                        to_json_value(retraction),
                    )

    async def forward(self, notice_id: str, *, timeout_s: float = 20.0) -> dict[str, Any]:
        """Copy the adapter's record of `notice_id` to the namespace; the notice as JSON."""
        deadline = time.monotonic() + timeout_s
        while notice_id not in self._seen:
            assert self._task is not None, "the relay was not started"
            assert not self._task.done(), "the relay has stopped"
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"notice {notice_id} was acknowledged by its adapter but never appeared "
                    f"on a real notice topic within {timeout_s}s"
                )
            await asyncio.sleep(0.02)
        record, notice = self._seen.pop(notice_id)
        await self._producer.send_and_wait(
            f"{self._namespace}.{record.topic}", value=record.value, key=record.key
        )
        return notice


class _Observer:
    """Follows the namespaced audit topic and every namespaced feed (read_committed)."""

    def __init__(self, settings: HubSettings, topology: Topology, namespace: str) -> None:
        self._catalog = SchemaCatalog(settings.schemas_dir)
        self._hub_keys = KeyDirectory.load(settings.keys_dir / "trusted")
        self._audit_topic = f"{namespace}.{AUDIT_TOPIC}"
        self._feeds = {f"{namespace}.{s.feed_topic}": s.subscriber_id for s in topology.subscribers}
        self._topics = {
            self._audit_topic: topology.partitions(AUDIT_TOPIC),
            **{
                f"{namespace}.{s.feed_topic}": topology.partitions(s.feed_topic)
                for s in topology.subscribers
            },
        }
        self._consumer = AIOKafkaConsumer(
            **reader_options(settings, "admin", client_id=f"safehub-rules-observer-{namespace}")
        )
        self.observed = _Observed()
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    async def start(self) -> None:
        await self._consumer.start()
        assigned = [TopicPartition(t, p) for t, n in self._topics.items() for p in range(n)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _follow(self) -> None:
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        if tp.topic == self._audit_topic:
                            self._on_audit(record)
                        elif tp.topic in self._feeds:
                            self._on_feed(self._feeds[tp.topic], record)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # surfaced by the next wait
            self.failure = error
            raise

    def _on_audit(self, record: ConsumerRecord) -> None:
        # Only this run's gateway writes the namespaced topic: every record must be hub-signed.
        decoded = open_audit_record(
            self._catalog, record.value, self._hub_keys, topic=AUDIT_TOPIC
        ).record
        notice_id = decoded.get("notice_id")
        if notice_id is None:
            return
        if decoded["event"] == "SHARING_DECISION":
            subscriber = decoded["recipient"]["subscriber_id"]
            self.observed.audit.setdefault(notice_id, {})[subscriber] = decoded
        elif decoded["event"] == "RETRACTION_DELIVERED":
            subscriber = decoded["recipient"]["subscriber_id"]
            self.observed.withdrawals_audited.setdefault(notice_id, {})[subscriber] = decoded
        elif decoded["event"] == "NOTICE_REJECTED":
            self.observed.rejected[notice_id] = decoded

    def _on_feed(self, subscriber_id: str, record: ConsumerRecord) -> None:
        message = open_feed_message(
            self._catalog, self._hub_keys, record.value, subscriber_id=subscriber_id
        )
        if message.message_type is MessageType.FEED_RETRACTION:
            withdrawal = message.record
            self.observed.withdrawals.setdefault(withdrawal["notice_id"], {})[subscriber_id] = (
                withdrawal
            )
            return
        # Emergency access answers are about a notice, never a view of it: kept apart.
        answers = {
            MessageType.BREAK_GLASS_ALERT: self.observed.break_glass_alerts,
            MessageType.BREAK_GLASS_REFUSAL: self.observed.break_glass_refusals,
        }.get(message.message_type)
        if answers is not None:
            answers.setdefault(message.record["notice_id"], {})[subscriber_id] = message.record
            return
        item = message.record
        item["view"] = json.loads(item["view_json"])
        self.observed.items.setdefault(item["notice_id"], {})[subscriber_id] = item


class RulesHub:
    """The running hub. Tests post native records and read what every feed received."""

    def __init__(
        self,
        *,
        settings: HubSettings,
        topology: Topology,
        namespace: str,
        opa: PrivateOpa,
        adapters: dict[str, httpx.AsyncClient],
        tokens: dict[str, str],
        relay: _Relay,
        observer: _Observer,
        decisions: HubDecisionSender,
        gateway: asyncio.Task[None],
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.namespace = namespace
        self.opa = opa
        self.subscribers = tuple(s.subscriber_id for s in topology.subscribers)
        self._adapters = adapters
        self._tokens = tokens
        self._relay = relay
        self._observer = observer
        self._decisions = decisions
        self._gateway = gateway
        self._opa_http = httpx.AsyncClient(base_url=opa.url, timeout=10.0)

    # ---- sending ----------------------------------------------------------------------------

    async def post(self, agency: str, path: str, **request: Any) -> httpx.Response:
        """POST to an adapter with a valid token for `agency`; the raw response."""
        headers = {"Authorization": f"Bearer {self._tokens[agency]}"}
        return await self._adapters[agency].post(path, headers=headers, **request)

    async def send(self, agency: str, path: str, record: Mapping[str, Any]) -> Delivery:
        """Post one native JSON record; what every subscriber got from its notice."""
        response = await self.post(agency, path, json=record)
        assert response.status_code == 202, (
            f"the {agency} adapter refused the record at {path}: {response.status_code} "
            f"{response.text}"
        )
        body = response.json()
        assert body["status"] == "published", body
        return await self.delivery(body["notice_id"])

    async def upload(self, agency: str, path: str, csv_text: str, **form: str) -> list[Delivery]:
        """Upload a CSV file; one delivery per published row, in file order."""
        response = await self.post(
            agency,
            path,
            files={"file": ("upload.csv", csv_text.encode(), "text/csv")},
            data=form,
        )
        assert response.status_code == 200, (
            f"upload refused: {response.status_code} {response.text}"
        )
        rows = response.json()["rows"]
        problems = [r for r in rows if r["status"] != "published"]
        assert not problems, f"rows not published: {problems}"
        return [await self.delivery(r["notice_id"]) for r in rows]

    async def publish_mash_decision(self, notice: Mapping[str, Any]) -> Delivery:
        """A MASH_DECISION built by the console's code, sent as the console sends it."""
        notice_id = await self._decisions.send(notice)
        return await self.delivery(notice_id)

    # ---- observing --------------------------------------------------------------------------

    async def delivery(self, notice_id: str) -> Delivery:
        notice = await self._relay.forward(notice_id)
        await self._check_policy_answers(notice)
        expected = set(self.subscribers)
        observed = self._observer.observed
        deadline = time.monotonic() + DECIDED_TIMEOUT_S
        while set(observed.audit.get(notice_id, {})) != expected:
            if self._observer.failure is not None:
                raise AssertionError(f"the observer failed: {self._observer.failure!r}")
            if self._gateway.done():
                raise AssertionError(f"the gateway has stopped: {self._gateway!r}")
            if notice_id in observed.rejected:
                rejected = observed.rejected[notice_id]
                raise AssertionError(
                    f"the gateway rejected notice {notice_id}: {rejected.get('reason_code')} "
                    f"{rejected.get('explanation')}"
                )
            if time.monotonic() > deadline:
                decided = sorted(observed.audit.get(notice_id, {}))
                raise AssertionError(
                    f"the gateway audited {len(decided)}/{len(expected)} decisions for "
                    f"{notice['notice_type']} {notice_id} within {DECIDED_TIMEOUT_S}s "
                    f"(decided: {decided})"
                )
            await asyncio.sleep(0.02)
        audit = observed.audit[notice_id]
        disclosed = {
            s for s, a in audit.items() if a["outcome"] != "DENY" and a["fields_disclosed"]
        }
        # Feed items commit in the same transaction as their audit records: give the reader a
        # moment to catch up with them, then report whatever arrived.
        settle = time.monotonic() + FEEDS_SETTLE_S
        while not disclosed <= set(observed.items.get(notice_id, {})):
            if time.monotonic() > settle:
                break
            await asyncio.sleep(0.02)
        return Delivery(
            notice_id=notice_id,
            notice=notice,
            audit=dict(audit),
            items=dict(observed.items.get(notice_id, {})),
        )

    async def withdraw(
        self,
        agency: str,
        original: Delivery,
        reason: str,
        *,
        replaced_by_source_reference: str | None = None,
    ) -> Withdrawal:
        """Withdraw `original` through its agency's adapter (POST /v1/retractions); what the
        gateway delivered, once every recipient of the original has its RETRACTION_DELIVERED
        audit record (or the wait runs out)."""
        response = await self.post(
            agency,
            "/v1/retractions",
            json={
                "source_reference": original.notice["source"]["source_reference"],
                "reason": reason,
                "replaced_by_source_reference": replaced_by_source_reference,
            },
        )
        assert response.status_code == 202, (
            f"the {agency} adapter refused the retraction: {response.status_code} {response.text}"
        )
        body = response.json()
        assert body["notice_id"] == original.notice_id, body
        retraction_id = str(body["retraction_id"])
        await self._relay.forward(retraction_id)
        notice_id = original.notice_id
        observed = self._observer.observed
        deadline = time.monotonic() + DECIDED_TIMEOUT_S
        while not (
            original.recipients <= set(observed.withdrawals_audited.get(notice_id, {}))
            and original.recipients <= set(observed.withdrawals.get(notice_id, {}))
        ):
            if self._observer.failure is not None:
                raise AssertionError(f"the observer failed: {self._observer.failure!r}")
            if self._gateway.done():
                raise AssertionError(f"the gateway has stopped: {self._gateway!r}")
            if retraction_id in observed.rejected:
                rejected = observed.rejected[retraction_id]
                raise AssertionError(
                    f"the gateway rejected retraction {retraction_id}: "
                    f"{rejected.get('reason_code')} {rejected.get('explanation')}"
                )
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        # Anything more (a recipient that should not get one) would arrive in the same
        # transaction: give the reader a moment before reporting what arrived.
        await asyncio.sleep(FEEDS_SETTLE_S)
        return Withdrawal(
            notice_id=notice_id,
            retraction_id=retraction_id,
            audit=dict(observed.withdrawals_audited.get(notice_id, {})),
            messages=dict(observed.withdrawals.get(notice_id, {})),
        )

    def rejection(self, message_id: str) -> dict[str, Any] | None:
        """The NOTICE_REJECTED audit record for a notice or retraction id, if any."""
        return self._observer.observed.rejected.get(message_id)

    def audited(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every SHARING_DECISION audited so far this session: notice -> subscriber -> record."""
        return {n: dict(r) for n, r in self._observer.observed.audit.items()}

    async def _check_policy_answers(self, notice: dict[str, Any]) -> None:
        """Fail now, with the reason, when the policy cannot decide this notice at all (the
        gateway would retry it for ever and the test would only time out)."""
        response = await self._opa_http.post(
            "/v1/data/safehub/sharing/decisions", json={"input": {"notice": notice}}
        )
        body = response.json()
        result = body.get("result")
        problem = (
            f"the policy gives no usable answer for this {notice['notice_type']}: "
            f"{response.status_code} {json.dumps(body)[:500]}"
        )
        assert response.status_code == 200, problem
        assert isinstance(result, dict), problem
        missing = [s for s in self.subscribers if not isinstance(result.get(s), dict)]
        assert not missing, f"the policy gives no decision for {missing}"

    async def close(self) -> None:
        await self._opa_http.aclose()


def _snapshot_policies(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*_test.rego", ".*"))
    subscribers_file = target / "safehub" / "subscribers" / "data.json"
    subscribers = json.loads(subscribers_file.read_text())
    subscribers.update(_TEST_SUBSCRIBERS)
    subscribers_file.write_text(json.dumps(subscribers, indent=2) + "\n")
    return target


async def _create_topics(settings: HubSettings, names: Iterable[tuple[str, int]]) -> None:
    admin = admin_client(settings)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, partitions, 1) for name, partitions in names], timeout_ms=30_000
        )
    finally:
        await admin.close()


async def _delete_topics(settings: HubSettings, names: list[str]) -> None:
    admin = admin_client(settings)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(names, timeout_ms=30_000)
    finally:
        await admin.close()


async def _tokens(
    identity: httpx.AsyncClient, issuer: IdentitySettings, clients: Mapping[str, Any]
) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for agency, client in clients.items():
        tokens[agency] = await client_credentials_token(identity, issuer, client)
    return tokens


@contextlib.asynccontextmanager
async def running_hub(base: HubSettings, workdir: Path) -> AsyncIterator[RulesHub]:
    """Start everything (see the module docstring); stop and clean up on exit."""
    policies = _snapshot_policies(base.policies_dir, workdir / "policies")
    opa = await asyncio.to_thread(
        PrivateOpa, opa=ensure_opa(base), root=workdir / "opa", policies=policies
    )
    settings = base.model_copy(update={"policies_dir": policies, "opa_url": opa.url})
    topology = load_topology(policies)
    namespace = f"rules-{secrets.token_hex(4)}"
    topics = [(f"{namespace}.{t}", topology.partitions(t)) for t in topology.all_topics]
    await _create_topics(settings, topics)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(_delete_topics, settings, [name for name, _ in topics])
        stack.callback(opa.close)

        observer = _Observer(settings, topology, namespace)
        await observer.start()
        stack.push_async_callback(observer.stop)

        relay = _Relay(settings, topology, namespace)
        await relay.start()
        stack.push_async_callback(relay.stop)

        identity_settings = IdentitySettings(
            issuer="http://identity.test", state_dir=workdir / "identity"
        )
        clients = register_agency_clients(workdir, ADAPTER_AGENCIES, suffix="rules")
        identity = identity_app(settings, identity_settings)
        await stack.enter_async_context(identity.router.lifespan_context(identity))
        identity_http = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=identity), base_url=identity_settings.issuer
            )
        )
        jwks = RemoteJwks(identity_settings.jwks_uri, client=identity_http)
        adapters_settings = adapter_settings(workdir, identity_settings)
        register_adapter_index_clients(workdir, ADAPTER_AGENCIES, adapters_settings)
        index = await start_child_index(settings, identity_settings, jwks, stack)
        outbound = await stack.enter_async_context(
            adapter_outbound(identity, identity_settings, index)
        )
        # The gateway asks the same child index for each child's context (R7, R8, R9, R12
        # use what any agency told the hub), as its own client.
        gateway = build_gateway(
            settings,
            GatewaySettings.model_validate(
                {"namespace": namespace, "kafka_principal": "admin", "http_port": 0}
            ),
            child_context=gateway_child_context(workdir, identity_settings, outbound),
        )
        running = asyncio.create_task(gateway.run())

        async def stop_gateway() -> None:
            gateway.stop()
            await running

        stack.push_async_callback(stop_gateway)

        adapters: dict[str, httpx.AsyncClient] = {}
        for agency in ADAPTER_AGENCIES:
            app = _ADAPTERS[agency](settings, adapters_settings, jwks=jwks, http=outbound)
            await stack.enter_async_context(app.router.lifespan_context(app))
            adapters[agency] = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url=f"http://{agency.lower()}.test",
                    timeout=60,
                )
            )

        # The console's way of sending a MASH decision: signed with the MASH's key and
        # produced to notices.mash.v1 as adapter-mash.
        mash = topology.agency("MASH")
        mash_producer = make_producer(settings, mash.principal)
        await mash_producer.start()
        stack.push_async_callback(mash_producer.stop)
        decisions = HubDecisionSender(
            NoticePublisher(
                producer=mash_producer,
                catalog=SchemaCatalog(settings.schemas_dir),
                agency=mash,
                signing_key=load_signing_key(settings.keys_dir, mash.principal),
            )
        )

        hub = RulesHub(
            settings=settings,
            topology=topology,
            namespace=namespace,
            opa=opa,
            adapters=adapters,
            tokens=await _tokens(identity_http, identity_settings, clients),
            relay=relay,
            observer=observer,
            decisions=decisions,
            gateway=running,
        )
        stack.push_async_callback(hub.close)
        yield hub
