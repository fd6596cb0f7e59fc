"""Dependency floors sit above the published advisories for the libraries that parse what
attackers send (issue 13, defect 8): the declared floor and the installed version both."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

import pytest
from packaging.version import Version

from services.hubkit.settings import REPO_ROOT

# package -> (first fixed version, the advisories it fixes)
ADVISORY_FLOORS = {
    "starlette": ("1.3.1", "CVE-2025-62727 (Range header DoS); 2026 request.url and form() limits"),
    "authlib": ("1.6.9", "CVE-2026-27962 (JWK header injection)"),
    "python-multipart": ("0.0.32", "CVE-2026-42561, CVE-2026-53538/53539/53540"),
}


def _declared_floors() -> dict[str, Version]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    floors: dict[str, Version] = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.\[\]-]+?)(?:\[.*\])?>=([0-9][^,;\s]*).*", requirement)
        if match:
            floors[match.group(1).lower()] = Version(match.group(2))
    return floors


@pytest.mark.parametrize("package", sorted(ADVISORY_FLOORS))
def test_declared_floor_is_above_the_advisories(package: str) -> None:
    fixed, advisories = ADVISORY_FLOORS[package]
    declared = _declared_floors().get(package)
    assert declared is not None, f"{package} has no floor in pyproject.toml"
    assert declared >= Version(fixed), f"{package}>={declared} admits {advisories}"


@pytest.mark.parametrize("package", sorted(ADVISORY_FLOORS))
def test_installed_version_is_above_the_advisories(package: str) -> None:
    fixed, advisories = ADVISORY_FLOORS[package]
    assert Version(version(package)) >= Version(fixed), f"installed {package} has {advisories}"
