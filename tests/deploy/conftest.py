"""Every overlay rendered once per session, for the checks that read the output."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.hubkit.settings import HubSettings
from services.stack.artifacts import ensure_kustomize
from tests.factories import REPO


@pytest.fixture(scope="session")
def overlays() -> dict[str, list[dict[str, Any]]]:
    """Each overlay's rendered objects, by overlay name."""
    kustomize = ensure_kustomize(HubSettings())
    rendered: dict[str, list[dict[str, Any]]] = {}
    for overlay in sorted(Path(REPO / "deploy/k8s/overlays").iterdir()):
        out = subprocess.run(
            [str(kustomize), "build", str(overlay)], capture_output=True, text=True, check=True
        ).stdout
        rendered[overlay.name] = [doc for doc in yaml.safe_load_all(out) if doc]
    return rendered
