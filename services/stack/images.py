"""Container images built from Debian packages, PyPI, Maven Central and the Go proxy: pure recipes.

No registry is reachable from CI, so no image starts `FROM` one. Each image starts from a
Debian bookworm root filesystem made with `mmdebstrap` (Debian's mirror only), is imported
with `podman import` and finished with `buildah`:

- `localhost/safehub:<version>`: python3 (3.11 on bookworm) and the shared libraries the
  wheels load, a virtualenv at /opt/safehub/venv filled from PyPI, this repository's runtime
  tree at /opt/safehub/app (installed editable: `REPO_ROOT` is where policies/ and schemas/
  are), user 10001, `safehub` on PATH, byte code compiled at build time so nothing is written
  at run time (works with a read-only root filesystem);
- `localhost/safehub-kafka:<KAFKA_VERSION>`: Debian's openjdk-17-jre-headless and the jars the
  stack already fetches from Maven Central (`artifacts.ensure_kafka_libs`) in /opt/kafka/libs;
- `localhost/safehub-opa:<OPA version>`: the static OPA binary the stack builds with
  `go install` (`artifacts.ensure_opa`) on an empty root filesystem.

This module only says what to run and with which inputs (every image is labelled with the
digest of its inputs, so a rebuild happens only when an input changed); `image_builder.py`
runs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ACL_BATCH_DIR",
    "APP_DIR",
    "APP_PATHS",
    "CONTAINERS_CONF",
    "DEBIAN_MIRROR",
    "IMAGE_GID",
    "IMAGE_UID",
    "INPUTS_LABEL",
    "JAVA_ROOTFS",
    "KAFKA_LIBS_DIR",
    "OPA_BINARY",
    "PATH_IN_IMAGE",
    "PYTHON_ROOTFS",
    "VENV_DIR",
    "ImageConfig",
    "RootfsSpec",
    "account_lines",
    "buildah_config_argv",
    "image_ref",
    "inputs_digest",
    "mmdebstrap_argv",
    "rootfs_key",
    "tree_digest",
]

IMAGE_UID = 10001
IMAGE_GID = 10001
DEBIAN_MIRROR = "http://deb.debian.org/debian"
APP_DIR = "/opt/safehub/app"
VENV_DIR = "/opt/safehub/venv"
KAFKA_LIBS_DIR = "/opt/kafka/libs"
ACL_BATCH_DIR = "/opt/kafka/acl-batch"
OPA_BINARY = "/usr/local/bin/opa"
PATH_IN_IMAGE = f"{VENV_DIR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INPUTS_LABEL = "io.safehub.image-inputs"

# What of the repository the running services read: the package, the Avro schemas and the
# policies (topology, retention, ceilings) they load through REPO_ROOT, and what pip needs to
# install it. Tests, bench and docs stay out.
APP_PATHS: tuple[str, ...] = ("services", "schemas", "policies", "pyproject.toml", "README.md")

# Podman and buildah read this instead of the machine's containers.conf (CONTAINERS_CONF):
# crun refuses cgroups v1 hosts such as CI's, runc does not; the default nproc limit
# (1048576) is above what runc accepts for a container here (32768).
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""


@dataclass(frozen=True, slots=True)
class RootfsSpec:
    """A Debian root filesystem: `mmdebstrap --variant=<variant> --include=<packages>`."""

    name: str
    packages: tuple[str, ...]
    suite: str = "bookworm"
    # `essential`: Essential:yes packages only (no apt, no init) plus what `packages` pulls in.
    variant: str = "essential"
    mirror: str = DEBIAN_MIRROR


PYTHON_ROOTFS = RootfsSpec(
    "python",
    (
        "python3",
        "python3-venv",
        "ca-certificates",
        # Loaded by wheels: regopy (libatomic), duckdb and others (libstdc++).
        "libatomic1",
        "libstdc++6",
        # WeasyPrint (the family's subject access report) needs Pango.
        "libpango-1.0-0",
        "libpangoft2-1.0-0",
    ),
)
JAVA_ROOTFS = RootfsSpec("java", ("openjdk-17-jre-headless",))


def rootfs_key(spec: RootfsSpec) -> str:
    """The cache key of a root filesystem tarball: a digest of everything that shapes it."""
    text = json.dumps(
        [spec.suite, spec.variant, sorted(spec.packages), spec.mirror], separators=(",", ":")
    )
    return f"{spec.name}-{spec.suite}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def mmdebstrap_argv(mmdebstrap: str, spec: RootfsSpec, out: Path) -> list[str]:
    return [
        mmdebstrap,
        "--quiet",
        f"--variant={spec.variant}",
        f"--include={','.join(spec.packages)}",
        # Nothing the image never reads: manual pages, documentation, translations.
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        # openjdk's post-install registers its man pages with update-alternatives and fails
        # when their directory is missing.
        '--essential-hook=mkdir -p "$1/usr/share/man/man1"',
        spec.suite,
        str(out),
        spec.mirror,
    ]


def tree_digest(files: Iterable[tuple[str, bytes]]) -> str:
    """A digest over (relative path, content) pairs, independent of their order."""
    digest = hashlib.sha256()
    for path, content in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def inputs_digest(recipe: str, inputs: Mapping[str, str]) -> str:
    """The label value that says which inputs an image was built from."""
    text = json.dumps({"recipe": recipe, **inputs}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def image_ref(name: str, tag: str) -> str:
    return f"localhost/{name}:{tag}"


def account_lines(user: str = "safehub") -> tuple[str, str]:
    """The /etc/passwd and /etc/group lines for the image's non-root user (uid/gid 10001);
    the `essential` variant has no useradd, and a home under /tmp is the only writable one."""
    return (
        f"{user}:x:{IMAGE_UID}:{IMAGE_GID}:safehub:/tmp:/usr/sbin/nologin",
        f"{user}:x:{IMAGE_GID}:",
    )


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """What `buildah config` sets on a finished image."""

    env: Mapping[str, str]
    cmd: Sequence[str]
    labels: Mapping[str, str]
    workdir: str = "/tmp"


def buildah_config_argv(buildah: str, container: str, config: ImageConfig) -> list[str]:
    argv = [buildah, "config", "--user", f"{IMAGE_UID}:{IMAGE_GID}", "--workingdir"]
    argv.append(config.workdir)
    for key, value in config.env.items():
        argv += ["--env", f"{key}={value}"]
    for key, value in config.labels.items():
        argv += ["--label", f"{key}={value}"]
    argv += ["--cmd", json.dumps(list(config.cmd)), "--entrypoint", "[]", container]
    return argv
