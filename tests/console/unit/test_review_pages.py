"""The review queue ("same child?") and merged chronologies at the console's HTTP edge, with a
fake child index at the wiring point (no broker, no index; the client itself is tested over
HTTP in test_child_index_client.py): who may see and answer reviews, CSRF, what is sent to
the index, the LINKAGE_DECIDED audit record written before the person is answered, the
index's refusals, and a child merged from two keys shown as one chronology."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.domain.linkage import LinkageChange, LinkageKind
from services.console.domain.reviews import (
    DecisionRecorded,
    Review,
    ReviewStatus,
    review_from_json,
)
from services.console.errors import ChildIndexUnavailable, ReviewAlreadyDecided, ReviewNotFound
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.audit_trail import check_console_access
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import (
    PEOPLE,
    FakeSignIn,
    Sent,
    feed_projections,
    page_runtime,
)
from tests.console.factories import (
    CHILD,
    LEFT_CHILD,
    NOW,
    OTHER_CHILD,
    RIGHT_CHILD,
    entry,
    evidence_json,
    review_json,
)

NAVIGATOR = {
    "sub": "u-navigator",
    "name": "Nova",
    "roles": ["HEALTH_NAVIGATOR"],
    "organisation": "NHS-RXX00",
}
RATIONALE = "Same date of birth and school; Jodi is how the GP spells it."


class FakeIndex:
    """The child index's review queue, in memory, behaving as the contract says."""

    def __init__(self, *reviews: Review) -> None:
        self.stored = {r.review_id: r for r in reviews}
        self.decisions: list[dict[str, Any]] = []
        self.down = False
        self.down_on_decide = False
        self.lose_answer = False
        """Record the decision, then fail as if the answer were lost on its way back."""
        self.asked: list[tuple[bool, int]] = []

    def _check(self) -> None:
        if self.down:
            raise ChildIndexUnavailable("the child index did not answer")

    async def reviews(self, *, decided: bool, limit: int) -> list[Review]:
        self._check()
        self.asked.append((decided, limit))
        return [r for r in self.stored.values() if r.open != decided][:limit]

    async def review(self, review_id: str) -> Review:
        self._check()
        if review_id not in self.stored:
            raise ReviewNotFound("no such review")
        return self.stored[review_id]

    async def decide(
        self, review_id: str, *, same_child: bool, decided_by: str, rationale: str
    ) -> DecisionRecorded:
        self._check()
        if self.down_on_decide:
            raise ChildIndexUnavailable("the child index did not answer")
        found = await self.review(review_id)
        if not found.open:
            raise ReviewAlreadyDecided("decided before")
        status = ReviewStatus.SAME_CHILD if same_child else ReviewStatus.NOT_SAME_CHILD
        self.decide_as(review_id, status, decided_by, rationale)
        if self.lose_answer:
            raise ChildIndexUnavailable("the answer was lost")
        return DecisionRecorded(review_id, status, found.left.child_key)

    def decide_as(self, review_id: str, status: ReviewStatus, who: str, rationale: str) -> None:
        self.decisions.append(
            {"review_id": review_id, "status": status, "decided_by": who, "rationale": rationale}
        )
        self.stored[review_id] = dataclasses.replace(
            self.stored[review_id],
            status=status,
            decided_by=who,
            decided_at=NOW,
            rationale=rationale,
        )


class FailingRecorder(Sent):
    async def record(self, record: Mapping[str, Any]) -> None:
        raise TimeoutError("the broker did not acknowledge")


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    sent: Sent
    index: FakeIndex
    runtime: ConsoleRuntime
    ids: itertools.count[int] = field(default_factory=itertools.count)

    async def sign_in(self, who: str) -> httpx.Response:
        self.signin.next = NAVIGATOR if who == "navigator" else PEOPLE[who]
        await self.http.get("/login")
        return await self.http.get("/auth/callback")

    async def csrf(self, path: str = "/queue") -> str:
        page = await self.http.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    async def answer(self, review_id: str, **form: str) -> httpx.Response:
        data = {"csrf_token": await self.csrf(), **form}
        return await self.http.post(f"/reviews/{review_id}/decision", data=data)

    def link(self, kind: LinkageKind, child: str, *others: str) -> None:
        event_id = str(uuid.UUID(int=next(self.ids)))
        self.runtime.aliases.apply(LinkageChange(event_id, kind, child, others))

    def linkage_decisions(self) -> list[Mapping[str, Any]]:
        return [r for r in self.sent.refusals if r["event"] == "LINKAGE_DECIDED"]


LIKELY = review_from_json(review_json("rev-0002", probability=0.91))
UNSURE = review_from_json(
    review_json(
        "rev-0001",
        probability=0.62,
        left=[evidence_json("POLICE", nhs_number=None)],
        right=[
            evidence_json("HEALTH", given_name="Jodi", postcode="ZZ9 9ZZ", nhs_number="9434765919")
        ],
    )
)
CONTACT = entry(risk="HIGH", given_name="Avery", family_name="Dunmore")
LATER = entry(linkage_key=OTHER_CHILD, given_name="Avery", family_name="Dunmoore", risk="LOW")


async def _console(recorder: Sent | None = None) -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent, index = FakeSignIn(), recorder or Sent(), FakeIndex(UNSURE, LIKELY)
    projections = feed_projections(settings, (CONTACT, LATER))
    built: list[ConsoleRuntime] = []

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        built.append(
            page_runtime(
                settings,
                sessions,
                projections=projections,
                signin=signin,
                sent=sent,
                child_index=index,
            )
        )
        yield built[0]

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, sent, index, built[0])


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async for running in _console():
        yield running


# Who may see and answer the review queue.


async def test_the_queue_page_counts_open_reviews_for_those_who_may_answer(
    console: Console,
) -> None:
    await console.sign_in("manager")
    page = (await console.http.get("/queue")).text
    assert re.search(r'href="/reviews"[^>]*>Same child\? <span class="count"[^>]*>2</span>', page)
    await console.http.get("/queue")
    assert len(console.index.asked) == 1  # the count is reused, not asked for every page


async def test_roles_that_may_not_decide_linkage_are_refused_and_audited(
    console: Console,
) -> None:
    await console.sign_in("social")
    assert "Same child?" not in (await console.http.get("/queue")).text
    for path in ("/reviews", "/reviews/rev-0001"):
        answer = await console.http.get(path)
        assert answer.status_code == 403
        assert "the same child" in answer.text
        assert console.sent.refusals[-1]["refusal_reason"] == "ROLE_MAY_NOT_REVIEW_LINKAGE"
    posted = await console.answer("rev-0001", answer="same", rationale=RATIONALE)
    assert posted.status_code == 403
    assert console.sent.refusals[-1]["refusal_reason"] == "ROLE_MAY_NOT_REVIEW_LINKAGE"
    assert console.index.decisions == []
    assert console.index.asked == []  # nothing was even read from the index for them


async def test_another_mash_role_is_refused_too(console: Console) -> None:
    await console.sign_in("navigator")
    assert (await console.http.get("/reviews")).status_code == 403


async def test_every_answer_needs_the_csrf_token(console: Console) -> None:
    await console.sign_in("manager")
    forged = await console.http.post(
        "/reviews/rev-0001/decision",
        data={"csrf_token": "forged", "answer": "same", "rationale": RATIONALE},
    )
    assert forged.status_code == 403
    assert console.index.decisions == []
    assert console.linkage_decisions() == []


# What the pages show.


async def test_open_reviews_are_listed_most_likely_first(console: Console) -> None:
    await console.sign_in("manager")
    page = await console.http.get("/reviews")
    assert page.status_code == 200
    assert page.text.index("rev-0002") < page.text.index("rev-0001")  # 91% before 62%
    assert "Jodie Example" in page.text
    assert "Health (Synthetic NHS Trust)" in page.text
    assert LEFT_CHILD not in page.text  # keys never reach the browser
    assert "Jodie" not in re.search(r"<title>(.*?)</title>", page.text, re.S).group(1)  # type: ignore[union-attr]


async def test_a_review_shows_both_childrens_records_with_differences_marked(
    console: Console,
) -> None:
    await console.sign_in("manager")
    page = await console.http.get("/reviews/rev-0001")
    assert page.status_code == 200
    text = page.text
    left, right = text.index('id="left-title"'), text.index('id="right-title"')
    assert left < text.index("Police (Synthetic Constabulary)") < right
    assert text.index("Health (Synthetic NHS Trust)") > right
    assert "<mark>Jodie</mark>" in text
    assert "<mark>Jodi</mark>" in text
    assert "<mark>ZZ9 9ZZ</mark>" in text
    assert "943 476 5919" in text
    assert "<mark>943 476 5919</mark>" not in text  # police held none: not a difference
    assert "Where they differ</dt><dd>Given name, Postcode" in text
    for label in ("Sex", "Date of birth", "UPN", "LA child id", "Received"):
        assert label in text
    assert 'action="/reviews/rev-0001/decision"' in text
    assert LEFT_CHILD not in text
    assert RIGHT_CHILD not in text


async def test_a_review_that_does_not_exist_is_not_found(console: Console) -> None:
    await console.sign_in("manager")
    assert (await console.http.get("/reviews/rev-9999")).status_code == 404
    assert (await console.http.get("/reviews/..%2Fv1")).status_code == 404


# Answering.


async def test_an_answer_is_sent_as_the_person_and_audited_before_they_are_told(
    console: Console,
) -> None:
    await console.sign_in("manager")
    done = await console.answer("rev-0001", answer="same", rationale=RATIONALE)
    assert (done.status_code, done.headers["location"]) == (303, "/reviews")
    (decision,) = console.index.decisions
    assert decision == {
        "review_id": "rev-0001",
        "status": ReviewStatus.SAME_CHILD,
        "decided_by": "u-manager",
        "rationale": RATIONALE,
    }
    (audited,) = console.linkage_decisions()
    check_console_access(audited)
    assert audited["actor"] == "u-manager"
    assert audited["feed"]["subscriber_id"] == "mash-manager"
    linkage = audited["linkage"]
    assert (linkage["review_id"], linkage["outcome"]) == ("rev-0001", "SAME_CHILD")
    assert (linkage["left_child_key"], linkage["right_child_key"]) == (LEFT_CHILD, RIGHT_CHILD)
    assert linkage["surviving_child_key"] == LEFT_CHILD
    assert RATIONALE not in str(audited)  # only its digest
    listing = (await console.http.get("/reviews")).text
    assert "Decision recorded: the same child" in listing
    assert "rev-0001" not in listing  # no longer open


async def test_an_answer_needs_a_choice_and_a_rationale(console: Console) -> None:
    await console.sign_in("manager")
    refused = await console.answer("rev-0001", rationale="short")
    assert refused.status_code == 400
    assert "Select whether these records are the same child" in refused.text
    assert "at least 10 characters" in refused.text
    assert 'href="#answer-same"' in refused.text
    assert "<mark>Jodie</mark>" in refused.text  # the evidence is shown again
    assert console.index.decisions == []
    assert console.linkage_decisions() == []


async def test_a_review_decided_by_someone_else_first_changes_nothing(console: Console) -> None:
    await console.sign_in("manager")
    page = await console.http.get("/reviews/rev-0001")  # open when the page was shown...
    assert "Record decision" in page.text
    console.index.decide_as("rev-0001", ReviewStatus.NOT_SAME_CHILD, "u-colleague", "Not her.")
    late = await console.answer("rev-0001", answer="same", rationale=RATIONALE)
    assert late.status_code == 409
    assert "Already decided by someone else" in late.text
    assert "not the same child" in late.text
    assert len(console.index.decisions) == 1  # only the colleague's
    assert console.linkage_decisions() == []


async def test_a_race_lost_at_the_index_is_the_same_answer(console: Console) -> None:
    await console.sign_in("manager")
    original = console.index.decide

    async def colleague_first(review_id: str, **answer: Any) -> DecisionRecorded:
        console.index.decide_as(review_id, ReviewStatus.SAME_CHILD, "u-colleague", "Same.")
        return await original(review_id, **answer)

    console.index.decide = colleague_first  # type: ignore[method-assign]
    late = await console.answer("rev-0001", answer="same", rationale=RATIONALE)
    assert late.status_code == 409
    assert "Someone else decided this review" in late.text
    assert console.linkage_decisions() == []


async def test_a_resubmitted_answer_is_recorded_once_and_audited(console: Console) -> None:
    await console.sign_in("manager")
    console.index.lose_answer = True  # recorded, but the console never hears back
    lost = await console.answer("rev-0001", answer="same", rationale=RATIONALE)
    assert lost.status_code == 503
    assert "Your decision was not recorded" in lost.text
    assert RATIONALE in lost.text  # what was typed is kept, to send again
    assert console.linkage_decisions() == []
    console.index.lose_answer = False
    again = await console.answer("rev-0001", answer="same", rationale=RATIONALE)
    assert (again.status_code, again.headers["location"]) == (303, "/reviews")
    assert "already recorded" in (await console.http.get("/reviews")).text
    assert len(console.index.decisions) == 1
    (audited,) = console.linkage_decisions()
    assert audited["linkage"]["surviving_child_key"] is None


async def test_the_index_unreachable_loses_nothing(console: Console) -> None:
    await console.sign_in("manager")
    console.index.down_on_decide = True
    down = await console.answer("rev-0001", answer="not-same", rationale=RATIONALE)
    assert down.status_code == 503
    assert "The child index did not answer" in down.text
    assert 'name="answer" value="not-same"' in down.text
    assert f">{RATIONALE}</textarea>" in down.text
    assert console.index.decisions == []
    assert console.linkage_decisions() == []
    console.index.down = True
    listing = await console.http.get("/reviews")
    assert listing.status_code == 503
    assert "The child index is not available" in listing.text
    queue = await console.http.get("/queue")  # the rest of the console carries on
    assert queue.status_code == 200


async def test_an_answer_whose_audit_record_cannot_be_written_is_not_reported_done() -> None:
    async for console in _console(FailingRecorder()):
        await console.sign_in("manager")
        answer = await console.answer("rev-0001", answer="same", rationale=RATIONALE)
        assert answer.status_code == 500
        assert "audit record not written" in answer.text
        assert "Submit again" in answer.text
        assert len(console.index.decisions) == 1


# Merged chronologies.


async def _child_link(console: Console, notice_id: str) -> str:
    queue = (await console.http.get("/queue?show=all")).text
    link = re.search(rf'id="child-{notice_id}" href="(/children/[^"]+)"', queue)
    assert link is not None
    return link.group(1)


async def test_a_merged_child_is_one_chronology_under_either_key(console: Console) -> None:
    await console.sign_in("manager")
    before = await _child_link(console, LATER.notice_id)  # a handle for the other key
    page = (await console.http.get(before)).text
    assert "Came under record" not in page
    assert CONTACT.notice_id not in page

    console.link(LinkageKind.MERGE, CHILD, OTHER_CHILD)
    merged = await _child_link(console, CONTACT.notice_id)
    assert merged == await _child_link(console, LATER.notice_id)  # one child in the queue
    for handle in (merged, before):  # the old handle opens the merged child too
        page = (await console.http.get(handle)).text
        assert CONTACT.notice_id in page
        assert LATER.notice_id in page
        assert "One child from 2 records (A, B)" in page
        assert "Came under record A" in page
        assert "Came under record B" in page
        assert "Dunmoore" in page  # the other spelling, as that agency recorded it
        assert CHILD not in page
        assert OTHER_CHILD not in page

    console.link(LinkageKind.SPLIT, CHILD, OTHER_CHILD)
    page = (await console.http.get(await _child_link(console, CONTACT.notice_id))).text
    assert LATER.notice_id not in page
    assert "Came under record" not in page


async def test_a_decision_on_a_merged_child_is_keyed_by_the_surviving_key(
    console: Console,
) -> None:
    console.link(LinkageKind.MERGE, OTHER_CHILD, CHILD)  # the index kept the other key
    await console.sign_in("manager")
    child = await _child_link(console, CONTACT.notice_id)
    page = (await console.http.get(child)).text
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]+)"', page))
    form = {
        **hidden,
        "related": CONTACT.notice_id,
        "rag": "RED",
        "outcome": "S47_STRATEGY_DISCUSSION",
        "rationale": "Synthetic rationale long enough to record.",
        "family_informed": "yes",
    }
    done = await console.http.post(f"{child}/decisions", data=form)
    assert done.status_code == 303
    (notice,) = console.sent.decisions
    assert notice["subject"]["linkage_key"] == OTHER_CHILD
