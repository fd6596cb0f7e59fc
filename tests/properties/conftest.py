"""Session fixtures for the property suite: the working tree's policies evaluated by two
private OPA servers, one with the repository's subscribers and one with the extra
subscribers merged in (properties.EXTRA_SUBSCRIBERS), both serving a signed bundle built from
a snapshot of `policies/` taken when the session starts
(tests/policy/integration/private_opa.py).

SAFEHUB_TEST_POLICIES_DIR names another policies folder to snapshot instead of the
repository's `policies/` (e.g. a candidate copy, see policies/README.md).

Hypothesis profile "safehub-properties": 500 examples per property by default
(SAFEHUB_PROPERTY_EXAMPLES overrides it), no deadline (an OPA round trip varies with the
machine's load), failing examples kept in the project's .hypothesis database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from services.hubkit.settings import HubSettings
from services.stack.artifacts import ensure_opa
from tests.policy.integration.private_opa import PrivateOpa
from tests.properties.policies import SUBSCRIBERS_FILE, Policies, snapshot
from tests.properties.properties import EXTRA_SUBSCRIBERS

settings.register_profile(
    "safehub-properties",
    max_examples=int(os.environ.get("SAFEHUB_PROPERTY_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="session")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Policies]:
    hub = HubSettings()
    opa_binary = ensure_opa(hub)
    root = tmp_path_factory.mktemp("properties")
    source = Path(os.environ.get("SAFEHUB_TEST_POLICIES_DIR") or hub.policies_dir)
    original = snapshot(source, root / "original")
    extended = snapshot(original, root / "extended", EXTRA_SUBSCRIBERS)
    without_extras = PrivateOpa(opa=opa_binary, root=root / "opa-original", policies=original)
    try:
        with_extras = PrivateOpa(opa=opa_binary, root=root / "opa-extended", policies=extended)
    except BaseException:
        without_extras.close()
        raise
    subscribers = json.loads((extended / SUBSCRIBERS_FILE).read_text())
    try:
        with httpx.Client(timeout=120.0) as http, ThreadPoolExecutor(max_workers=2) as pool:
            yield Policies(
                extended_dir=extended,
                with_extras=with_extras,
                without_extras=without_extras,
                subscribers=subscribers,
                extras=dict(EXTRA_SUBSCRIBERS),
                http=http,
                pool=pool,
            )
    finally:
        with_extras.close()
        without_extras.close()


@pytest.fixture(scope="session")
def ceilings(policies: Policies) -> Any:
    """The IG ceilings of the policy under test (services/hubkit/ceilings.py)."""
    from services.hubkit.ceilings import Ceilings

    return Ceilings.load(policies.extended_dir)
