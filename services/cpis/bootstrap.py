"""The CP-IS lookup's one wiring point: settings in, a running runtime out (FastAPI lifespan).

As whom it talks to the broker, and what it holds:
- the register follower reads feed.cpis-register.v1 as `feed-cpis-register` (that feed only);
- the access notifier publishes to notices.cpis.v1 as `adapter-cpis` with the CPIS agency's
  signing key (policies/safehub/agencies/data.json; `safehub stack up` provisions both
  principals, their ACLs and the key, from services/hubkit/topology.py);
- the register, a SQLite file under the data directory, sealed with a key under the key
  directory (created on first start);
- the token validator, with the identity provider's JWKS;
- emergency access (issue 18): the IG officers' break-glass rules and the field labels from
  the policy bundle; requests to breakglass.requests.v1 and view events to audit.access.v1,
  produced as `adapter-cpis` with the same CPIS key (emergency_sender.py); a sweep deleting
  expired grants' content.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from services.cpis.api import create_app
from services.cpis.consumer import RegisterFollower
from services.cpis.domain.notification import NotificationOrigin
from services.cpis.emergency_sender import EmergencySender, HubEmergencySender
from services.cpis.errors import CpisError, StoreKeyInvalid
from services.cpis.notifier import AccessNotifier, NoticeSink
from services.cpis.service import UK_TIME, CpisRuntime, PersonValidator
from services.cpis.settings import CpisSettings
from services.cpis.store import RegisterStore, SqliteRegisterStore
from services.hubkit.auth import PersonTokenValidator, RemoteJwks
from services.hubkit.break_glass import BreakGlassRules
from services.hubkit.bus import make_producer
from services.hubkit.child_keys import ChildKeys, StoreKeyFile
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.errors import SealingError
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client
from services.hubkit.topology import load_topology

__all__ = ["CPIS_AGENCY", "cpis_app", "running_cpis"]

CPIS_AGENCY = "CPIS"
log = logging.getLogger("safehub.cpis")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


async def _purge_periodically(
    store: RegisterStore,
    settings: CpisSettings,
    clock: Callable[[], dt.datetime],
    stopping: asyncio.Event,
) -> None:
    while not stopping.is_set():
        try:
            today = clock().astimezone(UK_TIME).date()
            gone = await asyncio.to_thread(store.purge, today=today, held_days=settings.held_days)
            if gone:
                log.info("ended plans past the holding period erased", extra={"plans": gone})
        except CpisError as error:
            log.error("register purge failed", extra={"error": type(error).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=settings.purge_interval_s)


async def _sweep_emergency_grants(
    store: RegisterStore,
    settings: CpisSettings,
    clock: Callable[[], dt.datetime],
    stopping: asyncio.Event,
) -> None:
    while not stopping.is_set():
        try:
            gone = await asyncio.to_thread(store.expire_grants, clock())
            if gone:
                log.info("expired emergency access content deleted", extra={"grants": gone})
        except CpisError as error:
            log.error("emergency access sweep failed", extra={"error": type(error).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=settings.emergency_sweep_s)


def _field_labels(hub: HubSettings) -> dict[str, str]:
    """Field path -> words, from the policy bundle's field data (IG-owned)."""
    path = hub.policies_dir / "safehub" / "fields" / "data.json"
    try:
        labels = json.loads(path.read_text(encoding="utf-8")).get("labels") or {}
    except (OSError, ValueError, AttributeError) as error:
        raise CpisError(f"{path}: field labels cannot be read ({error})") from None
    return {str(k): str(v) for k, v in labels.items()}


@contextlib.asynccontextmanager
async def running_cpis(
    hub: HubSettings,
    settings: CpisSettings,
    *,
    validator: PersonValidator | None = None,
    sink: NoticeSink | None = None,
    emergency: EmergencySender | None = None,
    follow: bool = True,
    clock: Callable[[], dt.datetime] = _utc_now,
    new_id: Callable[[], str] = _new_id,
) -> AsyncIterator[CpisRuntime]:
    """Build everything from settings; `validator`, `sink` and `emergency` replace the real
    token check and publishers (tests; a `sink` without `emergency` leaves emergency access
    unwired: it answers 503), `follow=False` leaves the register feed unread."""
    topology = load_topology(hub.policies_dir)
    register = topology.subscriber(settings.subscriber_id)
    agency = topology.agency(CPIS_AGENCY)
    catalog = SchemaCatalog(hub.schemas_dir)
    break_glass = BreakGlassRules.load(hub.policies_dir)
    field_labels = _field_labels(hub)
    store_key = StoreKeyFile(settings.resolved_store_key_path(hub.keys_dir))
    try:
        keys = ChildKeys(store_key.store_key(), store="cpis")
    except SealingError as error:
        raise StoreKeyInvalid(str(error)) from None
    async with contextlib.AsyncExitStack() as stack:
        store = SqliteRegisterStore(settings.resolved_database_path(hub.data_dir), keys)
        stack.callback(store.close)
        if validator is None:
            client = http_client(hub)
            stack.push_async_callback(client.aclose)
            validator = PersonTokenValidator(
                jwks=RemoteJwks(settings.resolved_jwks_url(), client=client),
                issuer=settings.token_issuer,
                audience=settings.token_audience,
                roles_claim=settings.roles_claim,
                organisation_claim=settings.organisation_claim,
            )
        if sink is None:
            key_path = hub.keys_dir / "private" / f"{agency.principal}.pem"
            if not key_path.exists():
                raise CpisError(
                    f"no signing key for {agency.principal} at {key_path}: run `safehub stack "
                    "up` (it provisions a key for every agency in the policy data)"
                )
            producer = make_producer(hub, agency.principal)
            await producer.start()
            stack.push_async_callback(producer.stop)
            signing_key = load_signing_key(hub.keys_dir, agency.principal)
            sink = NoticePublisher(
                producer=producer, catalog=catalog, agency=agency, signing_key=signing_key
            )
            if emergency is None:
                emergency = HubEmergencySender(producer, catalog, signing_key, clock=clock)
        notifier = AccessNotifier(
            sink=sink,
            store=store,
            catalog=catalog,
            timeout_s=settings.notify_timeout_s,
            retry_s=settings.outbox_retry_s,
        )
        follower = None
        if follow:
            follower = RegisterFollower(
                hub=hub,
                subscriber=register,
                partitions=topology.partitions(register.feed_topic),
                catalog=catalog,
                hub_keys=KeyDirectory.load(hub.keys_dir / "trusted"),
                store=store,
                clock=clock,
            )
        stopping = asyncio.Event()
        tasks = [
            asyncio.create_task(notifier.run(), name="cpis-notifier"),
            asyncio.create_task(
                _purge_periodically(store, settings, clock, stopping), name="cpis-purge"
            ),
            asyncio.create_task(
                _sweep_emergency_grants(store, settings, clock, stopping),
                name="cpis-emergency-sweep",
            ),
        ]
        if follower is not None:
            tasks.append(asyncio.create_task(follower.run(), name="cpis-register-feed"))

        async def stop_tasks() -> None:
            stopping.set()
            notifier.stop()
            if follower is not None:
                follower.stop()
            await asyncio.gather(*tasks, return_exceptions=True)

        stack.push_async_callback(stop_tasks)
        yield CpisRuntime(
            store=store,
            notifier=notifier,
            validator=validator,
            catalog=catalog,
            origin=NotificationOrigin(agency=agency.code, organisation_code=agency.organisation),
            subscribers=topology.subscribers,
            register=register,
            organisation_names={a.organisation: a.name for a in topology.agencies},
            clinician_role=settings.clinician_role,
            held_days=settings.held_days,
            clock=clock,
            new_id=new_id,
            ready=(lambda: follower.caught_up.is_set()) if follower is not None else lambda: True,
            break_glass=break_glass if emergency is not None else None,
            emergency=emergency,
            emergency_signer=agency.principal,
            field_labels=field_labels,
        )


def cpis_app(hub: HubSettings | None = None, settings: CpisSettings | None = None) -> FastAPI:
    """The CP-IS lookup app wired from settings (the environment when not given); for
    `uvicorn --factory services.cpis.bootstrap:cpis_app` and `safehub cpis serve`."""
    hub = hub or HubSettings()
    settings = settings or CpisSettings()
    return create_app(lambda: running_cpis(hub, settings))
