"""Session fixtures for the sharing-rule tests: one running hub (see harness.py).

SAFEHUB_TEST_POLICIES_DIR names another policies folder to snapshot instead of the
repository's `policies/` (e.g. a candidate copy, see policies/README.md); the shared stack
is never given it.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.hubkit.settings import HubSettings
from tests.rules.harness import RulesHub, running_hub
from tests.rules.natives import Natives


# Package scope: the gateway, relay and feed readers run on the session's event loop, which
# stands still during synchronous tests; the hub is stopped as soon as the rule tests are done,
# before any other package's tests run.
@pytest.fixture(scope="package")
async def rules_hub(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RulesHub]:
    source = os.environ.get("SAFEHUB_TEST_POLICIES_DIR")
    base = stack.model_copy(update={"policies_dir": Path(source)}) if source else stack
    async with running_hub(base, tmp_path_factory.mktemp("rules")) as hub:
        yield hub


@pytest.fixture
def natives(request: pytest.FixtureRequest) -> Natives:
    """Native records from a stream seeded by the test's id (repeatable per test)."""
    return Natives(seed=zlib.crc32(request.node.nodeid.encode()))
