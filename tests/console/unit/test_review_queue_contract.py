"""The console's review-queue client against the real child index and identity provider,
both in process (ASGI, no network, no broker): the console's own client as
`safehub console serve` registers it gets a token the index accepts, and the review queue
reads, decides and refuses a second decision as the contract says."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.childindex.secret import provision_linkage_secret
from services.cli.console import register_local_client
from services.console.child_index import HttpReviewIndex
from services.console.domain.reviews import ReviewStatus
from services.console.errors import ReviewAlreadyDecided, ReviewNotFound
from services.console.settings import ConsoleSettings
from services.hubkit.auth import RESOLVE_CHILDREN_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.settings import HubSettings
from services.identity.clients import ensure_service_client
from services.identity.settings import IdentitySettings
from tests.childindex.inprocess import index_and_identity

INDEX = "http://childindex.test"
NHS = "9434765919"  # modulus-11 valid, synthetic


@dataclass
class Running:
    console: HttpReviewIndex
    health: ClientCredentials
    http: httpx.AsyncClient


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    for name in ("SAFEHUB_IDENTITY_ISSUER", "SAFEHUB_IDENTITY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSettings(data_dir=tmp_path)
    provision_linkage_secret(hub.keys_dir / "linkage.secret")
    identity_settings = IdentitySettings()
    console = ConsoleSettings(child_index_url=INDEX)
    register_local_client(hub, console)  # as `safehub console serve` does
    health_key = tmp_path / "adapters" / "adapter-health.pem"
    ensure_service_client(
        state_dir=identity_settings.resolved_state_dir(tmp_path),
        private_key_path=health_key,
        client_id="adapter-health",
        agency="HEALTH",
        scopes=(RESOLVE_CHILDREN_SCOPE,),
    )
    async with index_and_identity(
        hub, store_path=tmp_path / "index.sqlite", index_url=INDEX
    ) as http:

        def credentials(client_id: str, key: Path, scope: str) -> ClientCredentials:
            return ClientCredentials(
                http=http,
                token_endpoint=console.resolved_token_endpoint(),
                client_id=client_id,
                private_key_path=key,
                scope=scope,
            )

        yield Running(
            console=HttpReviewIndex(
                base_url=console.child_index_url,
                http=http,
                credentials=credentials(
                    console.child_index_client_id,
                    console.resolved_child_index_client_key(tmp_path),
                    " ".join(console.child_index_scopes),
                ),
            ),
            health=credentials("adapter-health", health_key, RESOLVE_CHILDREN_SCOPE),
            http=http,
        )


async def _resolve(running: Running, given_name: str) -> str:
    token = await running.health.token()
    answer = await running.http.post(
        f"{INDEX}/v1/children/resolve",
        json={
            "nhs_number": NHS,
            "given_name": given_name,
            "family_name": "Testfield",
            "date_of_birth": dt.date(2012, 5, 17).isoformat(),
            "postcode": "ZZ1 1AA",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    key: str = answer.json()["child_key"]
    return key


async def test_the_console_reads_and_answers_the_real_review_queue(running: Running) -> None:
    assert await running.console.reviews(decided=False, limit=50) == []
    # The same NHS number with another given name (a sibling's number?): the index asks.
    robin = await _resolve(running, "Robin")
    kim = await _resolve(running, "Kim")
    assert robin != kim
    (review,) = await running.console.reviews(decided=False, limit=50)
    assert (review.left.child_key, review.right.child_key) == (robin, kim)
    assert review.right.records[0].given_name == "Kim"
    assert (await running.console.review(review.review_id)) == review

    recorded = await running.console.decide(
        review.review_id, same_child=False, decided_by="u-manager", rationale="Twins: two DOBs."
    )
    assert (recorded.status, recorded.child_key) == (ReviewStatus.NOT_SAME_CHILD, robin)
    with pytest.raises(ReviewAlreadyDecided):
        await running.console.decide(
            review.review_id, same_child=True, decided_by="u-other", rationale="Same child."
        )
    decided = await running.console.review(review.review_id)
    assert (decided.status, decided.decided_by) == (ReviewStatus.NOT_SAME_CHILD, "u-manager")
    assert [r.review_id for r in await running.console.reviews(decided=True, limit=5)] == [
        review.review_id
    ]
    with pytest.raises(ReviewNotFound):
        await running.console.review("rev-does-not-exist")


async def test_the_console_searches_the_real_index(running: Running) -> None:
    from services.console.domain.search import SearchPurpose, SearchQuery
    from services.console.errors import SearchNotSpecific

    robin = await _resolve(running, "Robin")
    query = SearchQuery(
        purpose=SearchPurpose.SCREENING_CONTACT,
        given_name="robin",
        family_name="TESTFIELD",
        date_of_birth=dt.date(2012, 5, 17),
    )
    (match,) = await running.console.search(query, limit=5)
    assert (match.child_key, match.keys, match.strength) == (robin, (robin,), "strong")
    by_number = SearchQuery(purpose=SearchPurpose.AGENCY_CHECK, nhs_number="943 476 5919")
    assert [m.child_key for m in await running.console.search(by_number, limit=5)] == [robin]
    with pytest.raises(SearchNotSpecific):
        await running.console.search(
            SearchQuery(purpose=SearchPurpose.AGENCY_CHECK, family_name="Testfield"), limit=5
        )
