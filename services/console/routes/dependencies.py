"""Who is asking, as FastAPI dependencies (declared in a route's signature, resolved before
it runs): the runtime, the person the session holds if any, and a signed-in `Viewer`.

A route that needs someone signed in says what a signed-out request gets, by the dependency
it declares: a page (`SignedIn`) redirects to the start page, which signs the person in and
then returns them to the page they asked for (`?next=`, same-origin paths only); a fragment
the live page re-fetches (`SignedInFragment`) is an empty 401, so the script stops; the event
stream (`SignedInStream`) is a JSON 401, also for a person without a feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Annotated, cast
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.console.domain.feed import FeedEntry
from services.console.domain.links import safe_return_path
from services.console.domain.people import Person
from services.console.domain.projection import Projection
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SIGNED_IN_KEY

__all__ = [
    "MaybePerson",
    "NoFeed",
    "NotSignedIn",
    "Runtime",
    "SignedIn",
    "SignedInFragment",
    "SignedInStream",
    "SignedOutAnswer",
    "Viewer",
    "not_signed_in_response",
    "runtime_of",
]


def runtime_of(request: Request) -> ConsoleRuntime:
    return cast(ConsoleRuntime, request.app.state.runtime)


Runtime = Annotated[ConsoleRuntime, Depends(runtime_of)]


def _session_person(request: Request) -> Person | None:
    data = request.session.get(SIGNED_IN_KEY)
    return Person.from_session(data) if isinstance(data, dict) else None


MaybePerson = Annotated[Person | None, Depends(_session_person)]
"""The signed-in person, or None: for the routes anyone may open."""


@dataclass(frozen=True)
class Viewer:
    """A signed-in person's request, and what their pages read: their feed, whether they may
    decide, and the session's key for child handles."""

    request: Request
    runtime: ConsoleRuntime
    person: Person

    @property
    def projection(self) -> Projection:
        assert self.person.subscriber_id is not None  # sign-in refuses people without a feed
        return self.runtime.projections[self.person.subscriber_id]

    @property
    def may_decide(self) -> bool:
        return bool(set(self.person.roles) & self.runtime.decision_roles)

    @property
    def may_decide_linkage(self) -> bool:
        """May answer the child index's reviews ('same child?')."""
        return bool(set(self.person.roles) & self.runtime.linkage_roles)

    def child_key(self, handle: str) -> str | None:
        """The child a child link stands for (its surviving key: the key the child index
        shows it under), if the child has a notice in this person's feed under any of its
        keys; None for anything else (a made-up or altered link, a child outside the feed).
        Checked on every request: a link is the same for everyone, and authorises nothing.
        A link made for any key of a merged child leads to the merged child. A child whose
        notices in the feed were all withdrawn still opens, on the tombstones (issue 18): the
        person held the link, and must see that what it showed was withdrawn."""
        key = self.runtime.child_links.child_key(handle)
        if key is None:
            return None
        aliases = self.runtime.aliases
        surviving = aliases.surviving_key(key)
        group = aliases.group_of(surviving)
        if not self.projection.for_keys(group) and not self.projection.withdrawals_for_keys(group):
            return None
        return surviving

    def child_entries(self, child_key: str) -> list[FeedEntry]:
        """The person's notices about the child: under every key merged into it."""
        return self.projection.for_keys(self.runtime.aliases.group_of(child_key))

    def handle_for(self, linkage_key: str) -> str:
        """The child link (domain/links.py) of the child a notice's key belongs to: the same
        for everyone, in every session."""
        return self.runtime.child_links.link_for(self.runtime.aliases.surviving_key(linkage_key))


class SignedOutAnswer(Enum):
    PAGE = "page"
    FRAGMENT = "fragment"
    STREAM = "stream"


class NotSignedIn(Exception):
    """Raised by a dependency; `not_signed_in_response` answers it (registered in app.py)."""

    def __init__(self, answer: SignedOutAnswer) -> None:
        super().__init__(answer.value)
        self.answer = answer


def not_signed_in_response(request: Request, error: Exception) -> Response:
    assert isinstance(error, NotSignedIn)
    if error.answer is SignedOutAnswer.FRAGMENT:
        return HTMLResponse("", status_code=401)
    if error.answer is SignedOutAnswer.STREAM:
        return JSONResponse({"error": "not signed in"}, status_code=401)
    # The page asked for comes back after signing in (a GET only: a form cannot be replayed).
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = safe_return_path(wanted) if request.method == "GET" else None
    if back is None or back == "/":
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/?{urlencode({'next': back})}", status_code=303)


class NoFeed(Exception):
    """A signed-in person whose role reads no feed (the IG officer: settings.oversight_roles)
    asked for a page or fragment that shows a feed. Answered by the audited NO_FEED_FOR_ROLE
    refusal (routes/governance.py `no_feed_response`, registered in app.py)."""

    def __init__(self, person: Person, answer: SignedOutAnswer) -> None:
        super().__init__(answer.value)
        self.person = person
        self.answer = answer


def _viewer(request: Request, person: Person | None, answer: SignedOutAnswer) -> Viewer:
    if person is None:
        raise NotSignedIn(answer)
    if person.subscriber_id is None:
        raise NoFeed(person, answer)
    return Viewer(request, runtime_of(request), person)


def _page_viewer(request: Request, person: MaybePerson) -> Viewer:
    return _viewer(request, person, SignedOutAnswer.PAGE)


def _fragment_viewer(request: Request, person: MaybePerson) -> Viewer:
    return _viewer(request, person, SignedOutAnswer.FRAGMENT)


def _stream_viewer(request: Request, person: MaybePerson) -> Viewer:
    if person is None or person.subscriber_id is None:
        raise NotSignedIn(SignedOutAnswer.STREAM)
    return Viewer(request, runtime_of(request), person)


SignedIn = Annotated[Viewer, Depends(_page_viewer)]
SignedInFragment = Annotated[Viewer, Depends(_fragment_viewer)]
SignedInStream = Annotated[Viewer, Depends(_stream_viewer)]
"""A signed-in person with a feed (the stream follows it)."""
