"""One real hub for the feed client's tests: the rules tests' harness (adapters, child index,
private OPA, a real gateway on namespaced topics), started for this package only."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import pytest

from services.hubkit.settings import HubSettings
from tests.rules.harness import RulesHub, running_hub
from tests.rules.natives import Natives


@pytest.fixture(scope="package")
async def feed_hub(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RulesHub]:
    async with running_hub(stack, tmp_path_factory.mktemp("feedclient")) as hub:
        yield hub


@pytest.fixture
def natives(request: pytest.FixtureRequest) -> Natives:
    """Native records from a stream seeded by the test's id (as tests/rules does)."""
    return Natives(seed=zlib.crc32(request.node.nodeid.encode()))
