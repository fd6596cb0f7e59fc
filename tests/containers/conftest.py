"""Container images and `podman kube play` (issue 20 items 1 and 3).

Opt-in: these tests run only with SAFEHUB_CONTAINERS=1, because they need root, podman,
buildah and mmdebstrap (scripts/install-container-tools.sh) and a cold image build takes a
few minutes. Asked to run where the machine cannot, they fail and say what is missing; left
off, they skip with that reason (never a silent pass).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from services.hubkit.settings import HubSettings
from services.stack.image_builder import BuiltImage, ImageBuilder

OPT_IN = "SAFEHUB_CONTAINERS"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get(OPT_IN) == "1":
        return
    skip = pytest.mark.skip(
        reason=f"container tests are opt-in: set {OPT_IN}=1 (needs root, podman, buildah, "
        "mmdebstrap: bash scripts/install-container-tools.sh)"
    )
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def builder() -> ImageBuilder:
    missing = [tool for tool in ("podman", "buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{OPT_IN}=1 but {', '.join(missing)} not installed "
            "(bash scripts/install-container-tools.sh)"
        )
    if os.geteuid() != 0:
        pytest.fail(f"{OPT_IN}=1 but not root: the pods mount run-time files owned by uid 10001")
    return ImageBuilder(HubSettings())


@pytest.fixture(scope="session")
def images(builder: ImageBuilder) -> dict[str, BuiltImage]:
    """The three images, built or reused; printed with their ids, sizes and build times."""
    built = builder.build_all()
    for image in built:
        print(image.line())
    return {image.ref.split(":")[0].removeprefix("localhost/"): image for image in built}
