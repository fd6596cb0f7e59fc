"""`safehub images`: the container images, built without any registry.

safehub images build
    Builds localhost/safehub:<version>, localhost/safehub-kafka:<Kafka version> and
    localhost/safehub-opa:<OPA version> from Debian packages (mmdebstrap), PyPI, Maven Central
    and the Go proxy (services/stack/images.py); rebuilds only an image whose inputs changed.
    Needs podman, buildah and mmdebstrap (scripts/install-container-tools.sh) and root.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    command = subparsers.add_parser("images", help="build the container images (no registry)")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "build",
        help="build (or reuse) the safehub, Kafka and OPA images",
        description="Builds the images from Debian packages, PyPI, Maven Central and the "
        "Go proxy; an image whose inputs did not change is reused.",
    )
    command.set_defaults(handler=_build)


def _build(args: argparse.Namespace) -> int:
    from services.hubkit.settings import HubSettings
    from services.stack.errors import StackError
    from services.stack.image_builder import ImageBuilder

    started = time.monotonic()
    try:
        builder = ImageBuilder(HubSettings(), progress=lambda line: print(line, file=sys.stderr))
        built = builder.build_all()
    except StackError as error:
        print(str(error), file=sys.stderr)
        return 1
    for image in built:
        print(image.line())
    print(f"images ready in {time.monotonic() - started:.0f}s")
    return 0
