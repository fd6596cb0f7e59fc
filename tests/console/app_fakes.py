"""One way to build the console's HTTP app for page tests: fakes for the identity provider
and the bus (`FakeSignIn`, `Sent`), the synthetic people who sign in, every console feed as an
in-memory projection, and `page_runtime`, the ConsoleRuntime every page test starts from
(each test overrides only what it is about: a clock, a child index, a database).

The browser tests run the real thing (tests/console/browser); these are for the HTTP edge."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.console.domain.decisions import DecisionOrigin
from services.console.domain.feed import FeedEntry
from services.console.domain.projection import FeedProjection
from services.console.feeds import ChangeHub
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import load_topology
from tests.console.factories import AGENCIES, NOW

__all__ = [
    "MASH_ORIGIN",
    "PEOPLE",
    "TOPOLOGY",
    "FakeSignIn",
    "Sent",
    "feed_projections",
    "page_runtime",
]

TOPOLOGY = load_topology(REPO_ROOT / "policies")
MASH_ORIGIN = DecisionOrigin("MASH", "MASH-E09000099", "MASH manager", "MASH", "0300")


def _person(sub: str, name: str, role: str, organisation: str) -> dict[str, Any]:
    return {"sub": sub, "name": name, "roles": [role], "organisation": organisation}


# ID token claims of the synthetic people page tests sign in as.
PEOPLE: dict[str, dict[str, Any]] = {
    "manager": _person("u-manager", "Morgan", "MASH_MANAGER", "LA-E09000099"),
    "morgan": _person("u-morgan", "Morgan Ashby", "MASH_MANAGER", "LA-E09000099"),
    "dana": _person("u-dana", "Dana Okafor", "MASH_MANAGER", "LA-E09000099"),
    "social": _person("u-social", "Sol", "SOCIAL_WORKER", "LA-E09000099"),
    "ig": _person("u-ig", "Iris", "IG_OFFICER", "LA-E09000099"),
    "navigator": _person("u-navigator", "Nova", "HEALTH_NAVIGATOR", "NHS-RXX00"),
    "researcher": _person("u-researcher", "Parry", "POLICE_RESEARCHER", "POL-XX01"),
}


class FakeSignIn:
    """The identity provider: whoever `next` names is signed in at the callback."""

    def __init__(self) -> None:
        self.next: Mapping[str, Any] = {}

    async def redirect(self, request: Request, redirect_uri: str) -> Response:
        request.session["_state"] = "pending"  # as authlib does: an anonymous session
        return RedirectResponse("/auth/callback", status_code=302)

    async def complete(self, request: Request) -> Mapping[str, Any]:
        return self.next


@dataclass
class Sent:
    """The bus: MASH decisions the console published, access events it recorded and
    emergency access requests it sent (issue 18)."""

    decisions: list[Mapping[str, Any]] = field(default_factory=list)
    refusals: list[Mapping[str, Any]] = field(default_factory=list)
    break_glass_requests: list[Mapping[str, Any]] = field(default_factory=list)

    async def send(self, notice: Mapping[str, Any]) -> str:
        self.decisions.append(notice)
        return str(notice["notice_id"])

    async def record(self, record: Mapping[str, Any]) -> None:
        self.refusals.append(record)

    async def request_break_glass(self, request: Mapping[str, Any]) -> None:
        self.break_glass_requests.append(request)


def feed_projections(
    settings: ConsoleSettings, items: Iterable[FeedEntry] = ()
) -> dict[str, FeedProjection]:
    """An empty projection for every feed the console serves, then `items` applied, each to
    the feed it names (its subscriber id)."""
    projections = {
        s.subscriber_id: FeedProjection(s.subscriber_id)
        for s in TOPOLOGY.subscribers
        if s.role in settings.console_roles
    }
    for item in items:
        projections[item.subscriber_id].apply(item)
    return projections


def page_runtime(
    settings: ConsoleSettings,
    sessions: SessionStore,
    *,
    projections: Mapping[str, FeedProjection],
    signin: FakeSignIn,
    sent: Sent,
    clock: Callable[[], dt.datetime] = lambda: NOW,
    **overrides: Any,
) -> ConsoleRuntime:
    """The runtime a page test runs: the MASH manager decides, `sent` is the bus."""
    return ConsoleRuntime(
        settings=settings,
        topology=TOPOLOGY,
        timescales=settings.timescales(),
        agencies=AGENCIES,
        projections=projections,
        changes=ChangeHub(),
        sessions=sessions,
        signin=signin,
        decisions=sent,
        refusals=sent,
        decision_roles=frozenset({"MASH_MANAGER"}),
        origin=MASH_ORIGIN,
        clock=clock,
        **overrides,
    )
