"""The console's one wiring point: settings in, a running runtime out (FastAPI lifespan).

What the runtime holds, and as whom it talks to the broker:
- one FeedFollower + StoredProjection per served feed (kept in `database` with the offsets
  it reflects), as that feed's principal;
- the decision publisher, as `adapter-mash` with the MASH's signing key;
- the refusal recorder, as `console` (write-only on `audit.access.v1`), sealing each event
  with the console's signing key (`<keys_dir>/private/console.pem`);
- the OIDC client, with the console's private key;
- the linkage follower, as `console` (read-only on `childindex.linkage.v1`), into the alias
  map that groups a child's keys;
- the child index client (the review queue and search), with the console's own client
  credentials (`console-childindex`, `<data_dir>/console/console-childindex.pem`);
- the child links' key (`<data_dir>/console/child-links.key`, created once): stable child
  URLs (domain/links.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from services.console.acknowledgements import DangerAcknowledgements
from services.console.break_glass import BreakGlassGrants
from services.console.child_index import (
    ChildSearch,
    HttpReviewIndex,
    NoChildSearch,
    NoReviewIndex,
    OpenReviewCount,
    ReviewIndex,
)
from services.console.colleagues import Colleagues, MemoryColleagues, SqliteColleagues
from services.console.domain.deadlines import Timescales
from services.console.domain.decisions import DecisionOrigin, EarlyHelpChoice, early_help_choices
from services.console.domain.linkage import ChildAliases
from services.console.domain.links import LINK_KEY_BYTES, ChildLinks
from services.console.domain.projection import Applied, Change, Projection
from services.console.domain.urgency import (
    EmergencyDutyTeam,
    MashHours,
    Urgency,
    mash_hours_from_policy,
)
from services.console.domain.views.alerts import DangerCandidates
from services.console.erasure import ChildErased, child_readable, erase_child
from services.console.feeds import ChangeHub, FeedFollower
from services.console.linkage_feed import LinkageFollower
from services.console.outbound import (
    AuditRefusalRecorder,
    BreakGlassSender,
    DecisionSender,
    HubBreakGlassSender,
    HubDecisionSender,
    KeptAccessEvents,
    RefusalRecorder,
)
from services.console.projection_store import StoredProjection
from services.console.research import ResearchLedger
from services.console.screening import MemoryLedger, ScreeningLedger, SqliteLedger
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.console.signin import OidcSignIn, SignIn
from services.hubkit.auth import RemoteJwks, TokenValidator
from services.hubkit.break_glass import BreakGlassRules
from services.hubkit.bus import make_producer
from services.hubkit.child_keys import KEY_BYTES, ChildKeys, StoreKeyFile
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.jwt_keys import load_key
from services.hubkit.private_files import ensure_private
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from services.hubkit.tls import http_client, http_verify
from services.hubkit.topology import CONSOLE_PRINCIPAL, LINKAGE_TOPIC, Topology, load_topology

__all__ = [
    "MASH_AGENCY",
    "ConsoleRuntime",
    "decision_maker_roles",
    "early_help_roles",
    "mash_hours",
    "running_console",
]

MASH_AGENCY = "MASH"

log = logging.getLogger("safehub.console.runtime")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ConsoleRuntime:
    settings: ConsoleSettings
    topology: Topology
    timescales: Timescales
    agencies: Mapping[str, str]
    """Agency code -> organisation name, for 'Police (Synthetic Constabulary)'."""
    projections: Mapping[str, Projection]
    changes: ChangeHub
    sessions: SessionStore
    signin: SignIn
    decisions: DecisionSender
    refusals: RefusalRecorder
    decision_roles: frozenset[str]
    origin: DecisionOrigin
    clock: Callable[[], dt.datetime] = _utc_now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    followers: dict[str, FeedFollower] = field(default_factory=dict)
    early_help: tuple[EarlyHelpChoice, ...] = ()
    """Organisations early help can be routed to; none: the decision form asks for a code."""
    aliases: ChildAliases = field(default_factory=ChildAliases)
    """Which linkage keys are one child (the child index's merges and splits)."""
    linkage: LinkageFollower | None = None
    child_index: ReviewIndex = field(default_factory=NoReviewIndex)
    child_search: ChildSearch = field(default_factory=NoChildSearch)
    """Finding a child from typed identifiers (the same child index client, in production)."""
    child_links: ChildLinks = field(default_factory=ChildLinks.random)
    """Child page URLs: stable ids under the console's link key (domain/links.py); a key of
    its own when built without the key file (unit tests)."""
    database: PrivateSqlite | None = None
    """The console's own state on disk (settings.store_path): what must survive a restart.
    Each feature keeps its tables in its own module (PrivateSqlite.ensure_schema)."""
    child_keys: ChildKeys | None = None
    """The console store's child keys (the projections' own), which the ledgers in
    `database` seal a child's free text under; None: a random one (runtimes built without
    the store key file, unit tests)."""
    mash_hours: MashHours | None = None
    """When the MASH is staffed (the policy's mash_hours); None: Monday to Friday 09:00-17:00
    (runtimes built without the policy bundle)."""
    open_reviews: OpenReviewCount = field(init=False)
    """The open-review count the navigation shows, asked of `child_index` now and then."""
    urgency: Urgency = field(init=False)
    """The MASH's hours and the emergency duty team who acts on immediate danger outside them."""
    danger_candidates: DangerCandidates = field(default_factory=DangerCandidates)
    """Each in-memory feed's immediate-danger items, for the alert every MASH page shows."""
    acknowledgements: DangerAcknowledgements = field(init=False)
    """Who has acknowledged which immediate-danger alert (in `database` when there is one)."""
    consultations: RefusalRecorder = field(default_factory=KeptAccessEvents)
    """The consultation log (DPA 2018 s62): every successful view, acknowledged alert and
    amended decision, written before the page is returned (domain/consultations.py). The
    same audit topic as `refusals` in `running_console`; kept in memory when built without."""
    screening: ScreeningLedger = field(init=False)
    """Who is screening each contact and who decided it (in `database`: one decision per
    contact, across restarts); in memory only for runtimes built without a database."""
    colleagues: Colleagues = field(init=False)
    """The people who have signed in here, by name and role: whom a manager can give a
    contact to (colleagues.py)."""
    research: ResearchLedger = field(init=False)
    """Agency checks asked of MASH partners and their findings (in `database`; a private
    in-memory SQLite for runtimes built without one): never published (the MASH firewall)."""
    break_glass_rules: BreakGlassRules | None = None
    """The IG officers' emergency access rules (policies/safehub/breakglass); None: the
    console offers no emergency access."""
    break_glass: BreakGlassSender | None = None
    """Where emergency access requests go (the gateway, through breakglass.requests.v1)."""
    grants: BreakGlassGrants | None = None
    """Emergency access grants, kept apart from the desk's items (break_glass.py); built on
    `database` when not given."""
    service_tokens: TokenValidator | None = None
    """Checks the hub's own jobs' client-credentials tokens (the erasure job's, scope
    children:erase: routes/erasure.py); None: those routes answer 503."""

    def __post_init__(self) -> None:
        self.urgency = Urgency(
            hours=self.mash_hours or _WEEKDAY_HOURS,
            duty_team=EmergencyDutyTeam(
                self.settings.emergency_duty_team_name,
                self.settings.emergency_duty_team_telephone,
            ),
        )
        self.acknowledgements = DangerAcknowledgements(self.database)
        if self.database is not None:
            # Signed-in sessions survive a restart (sessions.py): the store was made before
            # the runtime (the app's middleware holds it), so it is handed the database here.
            self.sessions.keep_in(self.database)
        keys = self.child_keys or ChildKeys(secrets.token_bytes(KEY_BYTES), store="console")
        self.screening = (
            MemoryLedger() if self.database is None else SqliteLedger(self.database, keys)
        )
        self.colleagues = (
            MemoryColleagues() if self.database is None else SqliteColleagues(self.database)
        )
        self.research = ResearchLedger(self.database, keys)
        if self.grants is None:
            self.grants = BreakGlassGrants(self.database, keys)
        self.open_reviews = OpenReviewCount(
            self.child_index,
            ttl_s=self.settings.review_count_ttl_s,
            limit=self.settings.review_list_limit,
        )

    def erase_child(self, linkage_key: str) -> ChildErased:
        """Erase one of a child's linkage keys from every store the console keeps
        (erasure.py): the feed projections and the research and screening ledgers."""
        return erase_child(
            linkage_key,
            projections=self.projections.values(),
            research=self.research,
            screening=self.screening,
            grants=self.grants,
        )

    def child_readable(self, linkage_key: str) -> bool:
        """Whether any store `erase_child` erases still holds the child's key or rows."""
        return child_readable(
            linkage_key,
            projections=self.projections.values(),
            research=self.research,
            screening=self.screening,
            grants=self.grants,
        )

    @property
    def access_events(self) -> RefusalRecorder:
        """Where console access events go: refusals and linkage decisions alike."""
        return self.refusals

    @property
    def linkage_roles(self) -> frozenset[str]:
        """Roles that may decide whether two records are the same child: the MASH decision
        makers (R2) and the roles the settings add (the MASH manager)."""
        return self.decision_roles | frozenset(self.settings.linkage_decision_roles)

    def linkage_ready(self) -> bool:
        return self.linkage is None or self.linkage.caught_up.is_set()

    def ready(self) -> bool:
        feeds = all(f.caught_up.is_set() for f in self.followers.values())
        return feeds and self.linkage_ready()

    def feed_ready(self, subscriber_id: str) -> bool:
        follower = self.followers.get(subscriber_id)
        return follower is None or follower.caught_up.is_set()


async def _expire_grants(grants: BreakGlassGrants, *, every_s: float = 30.0) -> None:
    """Delete emergency access content at its expiry even when nobody opens the page (reads
    delete it too, so a page never shows it late)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            grants.expire(_utc_now())
        except sqlite3.Error as error:  # busy, disk full: the next sweep (or read) retries
            log.warning(
                "emergency access expiry sweep failed", extra={"error": type(error).__name__}
            )


_WEEKDAY_HOURS = MashHours({day: (dt.time(9, 0), dt.time(17, 0)) for day in range(5)})


def mash_hours(hub: HubSettings) -> MashHours:
    """When the MASH is staffed: the policy's own `mash_hours` (rule R1 sends immediate danger
    to the emergency duty team outside them), so the screen and the routing agree."""
    rules = json.loads((hub.policies_dir / "safehub" / "rules" / "data.json").read_text())
    return mash_hours_from_policy(rules["mash_hours"])


def decision_maker_roles(hub: HubSettings) -> frozenset[str]:
    """Roles that may record MASH decisions: rule R2's data in the policy bundle, so the IG
    officer who owns the rules owns this too."""
    rules = json.loads((hub.policies_dir / "safehub" / "rules" / "data.json").read_text())
    return frozenset(str(r) for r in rules["R2"]["decision_maker_roles"])


def early_help_roles(hub: HubSettings) -> frozenset[str]:
    """Roles of early help lead professionals: rule R10's data, the same list the policy
    routes early help by, so the form offers exactly the organisations the hub can reach."""
    rules = json.loads((hub.policies_dir / "safehub" / "rules" / "data.json").read_text())
    roles = rules.get("R10", {}).get("early_help_roles", ["EARLY_HELP_WORKER"])
    return frozenset(str(r) for r in roles)


def decision_origin(topology: Topology, settings: ConsoleSettings) -> DecisionOrigin:
    mash = topology.agency(MASH_AGENCY)
    return DecisionOrigin(
        agency=mash.code,
        organisation_code=mash.organisation,
        contact_role=settings.decision_contact_role,
        contact_organisation=mash.name,
        contact_telephone=settings.decision_contact_telephone,
    )


@contextlib.asynccontextmanager
async def running_console(
    hub: HubSettings,
    settings: ConsoleSettings,
    *,
    sessions: SessionStore,
    signin: SignIn | None = None,
) -> AsyncIterator[ConsoleRuntime]:
    topology = load_topology(hub.policies_dir)
    catalog = SchemaCatalog(hub.schemas_dir)
    hub_keys = KeyDirectory.load(hub.keys_dir / "trusted")
    changes = ChangeHub()
    served = [s for s in topology.subscribers if s.role in settings.console_roles]
    # The console's own state on disk, opened first: the feed projections live there, with
    # the offsets they reflect, so a restart resumes each feed instead of replaying it.
    database = PrivateSqlite(settings.resolved_store_path(hub.data_dir))
    # Each stored item sealed under its child's data key (issue 18: erasing a child is
    # deleting its key); a deployment passes a KMS-backed StoreKeySource here instead.
    store_key = StoreKeyFile(settings.resolved_store_key_path(hub.keys_dir))
    child_keys = ChildKeys(store_key.store_key(), store="console")
    grants = BreakGlassGrants(database, child_keys)
    staffed = mash_hours(hub)
    # Deadlines run in the hours the MASH is open (the policy's), the same hours that decide
    # whether the screen names the emergency duty team.
    timescales = settings.timescales(staffed)
    projections: dict[str, Projection] = {
        s.subscriber_id: StoredProjection(
            database, s.subscriber_id, topic=s.feed_topic, timescales=timescales, keys=child_keys
        )
        for s in served
    }
    followers = {
        s.subscriber_id: FeedFollower(
            hub=hub,
            subscriber=s,
            partitions=topology.partitions(s.feed_topic),
            catalog=catalog,
            hub_keys=hub_keys,
            projection=projections[s.subscriber_id],
            on_change=changes.publish,
            grants=grants,
            clock=_utc_now,
        )
        for s in served
    }
    aliases = ChildAliases()

    def regrouped(keys: frozenset[str]) -> None:
        # Every open page whose child a merge or split touched re-fetches its chronology.
        for key in keys:
            changes.publish_everyone(Change(Applied.LINKED, "", key))

    linkage = LinkageFollower(
        hub=hub,
        catalog=catalog,
        aliases=aliases,
        partitions=topology.partitions(LINKAGE_TOPIC),
        on_change=regrouped,
    )
    mash = topology.agency(MASH_AGENCY)
    # Loaded before anything starts: a console that cannot sign its access events must not
    # serve pages whose refusals would go unlogged.
    console_key = load_signing_key(hub.keys_dir, CONSOLE_PRINCIPAL)
    mash_producer = make_producer(hub, mash.principal)
    audit_producer = make_producer(hub, CONSOLE_PRINCIPAL)
    if signin is None:
        key_path = settings.resolved_client_key_path(hub.data_dir)
        if not key_path.exists():
            raise RuntimeError(
                f"the console's OIDC client key is missing ({key_path}): register the console "
                "with the identity provider first (`safehub console serve` does this for the "
                "local provider)"
            )
        signin = OidcSignIn(
            issuer=settings.issuer,
            reached_at=settings.resolved_identity_url(),
            client_id=settings.client_id,
            client_key=load_key(key_path),
            verify=http_verify(hub),
        )
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(database.close)
        index_http = http_client(hub)
        stack.push_async_callback(index_http.aclose)
        child_index = HttpReviewIndex(
            base_url=settings.child_index_url,
            http=index_http,
            credentials=ClientCredentials(
                http=index_http,
                token_endpoint=settings.resolved_token_endpoint(),
                client_id=settings.child_index_client_id,
                private_key_path=settings.resolved_child_index_client_key(hub.data_dir),
                scope=" ".join(settings.child_index_scopes),
                timeout_s=settings.child_index_timeout_s,
            ),
            timeout_s=settings.child_index_timeout_s,
        )
        await mash_producer.start()
        stack.push_async_callback(mash_producer.stop)
        await audit_producer.start()
        stack.push_async_callback(audit_producer.stop)
        tasks = [asyncio.create_task(f.run(), name=f"feed-{sid}") for sid, f in followers.items()]
        tasks.append(asyncio.create_task(linkage.run(), name="linkage"))
        sweeper = asyncio.create_task(_expire_grants(grants), name="break-glass-expiry")
        tasks.append(sweeper)

        async def stop_followers() -> None:
            for follower in followers.values():
                follower.stop()
            linkage.stop()
            sweeper.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        stack.push_async_callback(stop_followers)
        # Refusals and consultations alike: sealed with the console's key, on audit.access.v1.
        access_log = AuditRefusalRecorder(audit_producer, catalog, console_key, clock=_utc_now)
        yield ConsoleRuntime(
            settings=settings,
            topology=topology,
            timescales=timescales,
            agencies={a.code: a.name for a in topology.agencies},
            projections=projections,
            changes=changes,
            sessions=sessions,
            signin=signin,
            decisions=HubDecisionSender(
                NoticePublisher(
                    producer=mash_producer,
                    catalog=catalog,
                    agency=mash,
                    signing_key=load_signing_key(hub.keys_dir, mash.principal),
                )
            ),
            refusals=access_log,
            consultations=access_log,
            decision_roles=decision_maker_roles(hub),
            origin=decision_origin(topology, settings),
            followers=followers,
            early_help=early_help_choices(topology.subscribers, early_help_roles(hub)),
            aliases=aliases,
            linkage=linkage,
            child_index=child_index,
            child_search=child_index,
            child_links=ChildLinks(
                ensure_private(
                    settings.resolved_child_link_key_path(hub.data_dir),
                    lambda: secrets.token_bytes(LINK_KEY_BYTES),
                )
            ),
            database=database,
            child_keys=child_keys,
            mash_hours=staffed,
            break_glass_rules=BreakGlassRules.load(hub.policies_dir),
            break_glass=HubBreakGlassSender(audit_producer, catalog, console_key, clock=_utc_now),
            grants=grants,
            # The erasure job's tokens (client credentials), checked against the issuer's JWKS.
            service_tokens=TokenValidator(
                jwks=RemoteJwks(settings.resolved_jwks_url(), client=index_http),
                issuer=settings.issuer,
                audience=settings.service_token_audience,
            ),
        )
