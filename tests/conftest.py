"""Session fixtures for integration tests: the real local stack (Kafka + OPA).

Tests marked `kafka` or `opa` get a running stack from `safehub stack up` (idempotent:
reused when already healthy). They never skip: a missing prerequisite fails loudly.
"""

from __future__ import annotations

import contextlib
import warnings

import pytest

from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology, load_topology

# When a hypothesis test fails, hypothesis's pytest plugin imports its patch writer (and so
# libcst, which warns DeprecationWarning on import) inside pytest's report hook; with the
# project's filterwarnings = error that turns every property failure into an INTERNALERROR
# instead of a readable failure. Importing it here, with that one warning ignored, avoids it.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401


@pytest.fixture(scope="session")
def hub_settings() -> HubSettings:
    return HubSettings()


@pytest.fixture(scope="session")
def topology(hub_settings: HubSettings) -> Topology:
    return load_topology(hub_settings.policies_dir)


@pytest.fixture(scope="session")
def stack(hub_settings: HubSettings) -> HubSettings:
    """The real broker and OPA, started by the project's own runner."""
    from services.stack.runner import StackRunner

    StackRunner(hub_settings).up()
    return hub_settings
