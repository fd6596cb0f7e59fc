"""Builds the images `images.py` describes, with mmdebstrap, podman and buildah (the thin edge).

ImageBuilder(settings).build_all() -> [BuiltImage]: each image is rebuilt only when the digest
of its inputs (root filesystem packages, the repository's runtime tree, the Kafka pom, the OPA
version) differs from the label on the image already in podman's store. Root filesystem
tarballs are cached under <cache_dir>/images/, keyed by their packages; a missing cache only
costs time.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.hubkit.private_files import exclusive_lock, write_atomically
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.stack import images
from services.stack.artifacts import (
    KAFKA_VERSION,
    OPA,
    ensure_acl_batch_runner,
    ensure_kafka_libs,
    ensure_opa,
    log_tail,
)
from services.stack.errors import StackError
from services.stack.images import (
    ACL_BATCH_DIR,
    APP_DIR,
    APP_PATHS,
    INPUTS_LABEL,
    JAVA_ROOTFS,
    KAFKA_LIBS_DIR,
    OPA_BINARY,
    PATH_IN_IMAGE,
    PYTHON_ROOTFS,
    VENV_DIR,
    ImageConfig,
    RootfsSpec,
)

__all__ = [
    "BuiltImage",
    "ImageBuildFailed",
    "ImageBuilder",
    "ImageToolMissing",
    "container_env",
    "project_version",
]

Progress = Callable[[str], None]

_HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
_STEP_TIMEOUT_S = 30 * 60
_INSTALL_TOOLS = "bash scripts/install-container-tools.sh"


class ImageBuildFailed(StackError):
    """A build step exited non-zero; the message names the step and the log to read."""

    def __init__(self, step: str, log_path: Path) -> None:
        self.step = step
        self.log_path = log_path
        tail = "\n".join(f"    {line}" for line in log_tail(log_path).splitlines())
        super().__init__(f"images: {step} failed\n  log: {log_path}\n  last lines:\n{tail}")


class ImageToolMissing(StackError):
    """podman, buildah or mmdebstrap is not installed."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        super().__init__(
            f"images: {tool} not found; install the container tools ({_INSTALL_TOOLS})"
        )


@dataclass(frozen=True, slots=True)
class BuiltImage:
    ref: str
    image_id: str
    size_bytes: int
    seconds: float
    reused: bool

    def line(self) -> str:
        how = "reused" if self.reused else f"built in {self.seconds:.0f}s"
        return f"{self.ref:<40} {self.image_id[:12]}  {self.size_bytes / 1e6:7.1f} MB  ({how})"


def project_version() -> str:
    import tomllib

    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def _project_dependencies() -> list[str]:
    import tomllib

    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    # What the project needs at run time, and what installing it (without build isolation,
    # in the layer above) needs: its build backend, and wheel for an editable install.
    wanted = [*data["project"]["dependencies"], *data["build-system"]["requires"], "wheel"]
    return sorted(str(requirement) for requirement in wanted)


def container_env(conf: Path) -> dict[str, str]:
    """The environment podman and buildah run with: this project's containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def _runtime_tree() -> list[tuple[str, bytes]]:
    """The repository's runtime files as the working tree has them (tracked and new, not
    ignored), so an image built from a checkout with local edits runs those edits."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *APP_PATHS],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    files = []
    for relative in sorted(set(filter(None, listed.split("\0")))):
        path = REPO_ROOT / relative
        if "__pycache__" in path.parts or not path.is_file():
            continue  # deleted in the working tree but still in the index
        files.append((relative, path.read_bytes()))
    return files


def _tar_of(files: Sequence[tuple[str, bytes]], out: Path) -> None:
    with tarfile.open(out, "w") as tar:
        for relative, content in files:
            info = tarfile.TarInfo(relative)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))


class ImageBuilder:
    """Runs the recipes in `images.py`; one instance per build."""

    def __init__(self, settings: HubSettings, progress: Progress | None = None) -> None:
        self._settings = settings
        self._progress: Progress = progress or (lambda _: None)
        self._dir = settings.cache_dir / "images"
        self._log = self._dir / "build.log"
        self._tools = {name: self._tool(name) for name in ("podman", "buildah", "mmdebstrap")}
        self._dir.mkdir(parents=True, exist_ok=True)
        self.containers_conf = self._dir / "containers.conf"
        if not (
            self.containers_conf.is_file()
            and self.containers_conf.read_text() == images.CONTAINERS_CONF
        ):
            write_atomically(self.containers_conf, images.CONTAINERS_CONF)
        self._env = container_env(self.containers_conf)

    @staticmethod
    def _tool(name: str) -> str:
        found = shutil.which(name)
        if found is None:
            raise ImageToolMissing(name)
        return found

    # --- public API ------------------------------------------------------------------------

    def build_all(self) -> list[BuiltImage]:
        with exclusive_lock(self._settings.cache_dir / "locks" / "images.lock"):
            deps = self._python_dependencies()
            return [deps, self.safehub(deps), self.kafka(), self.opa()]

    def safehub(self, deps: BuiltImage | None = None) -> BuiltImage:
        deps = deps or self._python_dependencies()
        tree = _runtime_tree()
        ref = images.image_ref("safehub", project_version())
        digest = images.inputs_digest(
            "safehub-2", {"deps": deps.image_id, "tree": images.tree_digest(tree)}
        )

        def build(container: str) -> None:
            with tempfile.TemporaryDirectory(prefix="safehub-image-") as scratch:
                archive = Path(scratch) / "app.tar"
                _tar_of(tree, archive)
                self._run(
                    "copy the runtime tree", ["buildah", "add", container, str(archive), APP_DIR]
                )
            passwd, group = images.account_lines()
            script = " && ".join(
                (
                    # Editable: the package runs from APP_DIR, whose policies/ and schemas/
                    # it finds through REPO_ROOT. Its dependencies are in the layer below.
                    f"{VENV_DIR}/bin/pip install --quiet --no-cache-dir --no-deps "
                    f"--no-build-isolation --editable {APP_DIR}",
                    # Byte code now: at run time the root filesystem is read-only.
                    f"{VENV_DIR}/bin/python -m compileall -q -j 0 {APP_DIR}/services",
                    f"echo '{passwd}' >> /etc/passwd",
                    f"echo '{group}' >> /etc/group",
                    f"{VENV_DIR}/bin/safehub --help > /dev/null",
                )
            )
            # As root: the layer below is configured to run as the image's user.
            self._run(
                "install the project",
                ["buildah", "run", "--user", "0:0", container, "--", "sh", "-c", script],
            )
            self._configure(
                container,
                {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "HOME": "/tmp"},
                ["safehub", "--help"],
                digest,
            )

        return self._image(ref, deps.ref, digest, build)

    def _python_dependencies(self) -> BuiltImage:
        """The virtualenv with the project's dependencies from PyPI, an image of its own keyed
        by pyproject's dependency list: a change to the code alone reuses it."""
        base = self._base_image(PYTHON_ROOTFS)
        requirements = _project_dependencies()
        digest = images.inputs_digest("deps-1", {"base": base, "deps": json.dumps(requirements)})
        ref = images.image_ref("safehub-deps", digest[:16])

        def build(container: str) -> None:
            script = " && ".join(
                (
                    f"python3 -m venv {VENV_DIR}",
                    f"{VENV_DIR}/bin/pip install --quiet --no-cache-dir "
                    + " ".join(shlex.quote(r) for r in requirements),
                    f"{VENV_DIR}/bin/python -m compileall -q -j 0 {VENV_DIR}/lib",
                )
            )
            self._run(
                "install the dependencies from PyPI",
                [
                    "buildah",
                    "run",
                    "--network",
                    "host",
                    # The host's CA bundle, for a machine behind a TLS-inspecting proxy.
                    "--volume",
                    f"{_HOST_CA}:{_HOST_CA}:ro",
                    "--env",
                    f"PIP_CERT={_HOST_CA}",
                    container,
                    "--",
                    "sh",
                    "-c",
                    script,
                ],
            )
            self._configure(container, {}, ["python3"], digest)

        built = self._image(ref, base, digest, build)
        if not built.reused:
            self._remove_other_tags("localhost/safehub-deps", keep=ref)
        return built

    def _remove_other_tags(self, repository: str, *, keep: str) -> None:
        """Earlier dependency layers (another dependency list); kept if an image uses them."""
        listed = self._run(
            f"list {repository}",
            ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
        )
        for tagged in listed.splitlines():
            if tagged != keep:
                subprocess.run(
                    [self._tools["podman"], "rmi", tagged],
                    capture_output=True,
                    env=self._env,
                    timeout=120,
                    check=False,
                )

    def kafka(self) -> BuiltImage:
        base = self._base_image(JAVA_ROOTFS)
        libs = ensure_kafka_libs(self._settings, self._progress)
        jars = sorted(p.name for p in libs.iterdir())
        # The one-JVM AclCommand batch runner the stack compiles with the host's javac (None
        # without a JDK: ACLs are then applied with one AclCommand launch per batch).
        batch = ensure_acl_batch_runner(self._settings, libs, self._progress)
        ref = images.image_ref("safehub-kafka", KAFKA_VERSION)
        digest = images.inputs_digest(
            "kafka-2",
            {"base": base, "jars": json.dumps(jars), "acl-batch": batch.name if batch else ""},
        )

        def build(container: str) -> None:
            self._run(
                "copy the Kafka jars", ["buildah", "copy", container, str(libs), KAFKA_LIBS_DIR]
            )
            if batch is not None:
                self._run(
                    "copy the ACL batch runner",
                    ["buildah", "copy", container, str(batch), ACL_BATCH_DIR],
                )
            self._account(container)
            self._configure(container, {}, ["java", "-version"], digest)

        return self._image(ref, base, digest, build)

    def opa(self) -> BuiltImage:
        binary = ensure_opa(self._settings, self._progress)
        ref = images.image_ref("safehub-opa", OPA.version.removeprefix("v"))
        digest = images.inputs_digest("opa-1", {"opa": OPA.version})

        def build(container: str) -> None:
            # A static binary (CGO_ENABLED=0) on an empty root filesystem.
            self._run(
                "copy the OPA binary",
                ["buildah", "copy", "--chmod", "0755", container, str(binary), OPA_BINARY],
            )
            self._configure(container, {}, [OPA_BINARY, "version"], digest)

        return self._image(ref, "scratch", digest, build)

    # --- steps ---------------------------------------------------------------------------------

    def _run(self, step: str, argv: Sequence[str], *, cwd: Path | None = None) -> str:
        argv = [self._tools.get(argv[0], argv[0]), *argv[1:]]
        with self._log.open("ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            try:
                done = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    cwd=cwd,
                    env=self._env,
                    timeout=_STEP_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                log.write(f"timed out after {_STEP_TIMEOUT_S}s\n".encode())
                raise ImageBuildFailed(step, self._log) from None
            log.write(done.stderr)
        if done.returncode != 0:
            raise ImageBuildFailed(step, self._log)
        return done.stdout.decode().strip()

    def _inspect(self, ref: str) -> dict[str, object] | None:
        done = subprocess.run(
            [self._tools["podman"], "image", "inspect", ref],
            capture_output=True,
            env=self._env,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            return None
        found: list[dict[str, object]] = json.loads(done.stdout)
        return found[0] if found else None

    def _rootfs(self, spec: RootfsSpec) -> Path:
        tarball = self._dir / f"{images.rootfs_key(spec)}.tar"
        if tarball.is_file():
            return tarball
        self._progress(f"images: debian {spec.suite} root filesystem ({spec.name}) with mmdebstrap")
        partial = tarball.with_suffix(f".partial-{os.getpid()}.tar")
        try:
            self._run(
                f"mmdebstrap ({spec.name} root filesystem)",
                images.mmdebstrap_argv(self._tools["mmdebstrap"], spec, partial),
            )
            partial.rename(tarball)
        finally:
            partial.unlink(missing_ok=True)
        return tarball

    def _base_image(self, spec: RootfsSpec) -> str:
        key = images.rootfs_key(spec)
        ref = images.image_ref("safehub-rootfs", key)
        if self._inspect(ref) is None:
            tarball = self._rootfs(spec)
            self._run(
                f"podman import ({spec.name} root filesystem)",
                ["podman", "import", "--change", f"ENV=PATH={PATH_IN_IMAGE}", str(tarball), ref],
            )
        return ref

    def _account(self, container: str) -> None:
        passwd, group = images.account_lines()
        self._run(
            "add the image's user",
            [
                "buildah",
                "run",
                container,
                "--",
                "sh",
                "-c",
                f"echo '{passwd}' >> /etc/passwd && echo '{group}' >> /etc/group",
            ],
        )

    def _configure(
        self, container: str, env: Mapping[str, str], cmd: Sequence[str], digest: str
    ) -> None:
        config = ImageConfig(
            env={"PATH": PATH_IN_IMAGE, **env}, cmd=cmd, labels={INPUTS_LABEL: digest}
        )
        self._run("configure the image", images.buildah_config_argv("buildah", container, config))

    def _image(self, ref: str, base: str, digest: str, build: Callable[[str], None]) -> BuiltImage:
        started = time.monotonic()
        found = self._inspect(ref)
        labels = (found or {}).get("Labels") or {}
        if found is not None and isinstance(labels, dict) and labels.get(INPUTS_LABEL) == digest:
            return self._built(ref, found, 0.0, reused=True)
        superseded = str(found.get("Id", "")) if found is not None else ""
        self._progress(f"images: building {ref}")
        container = self._run(f"buildah from {base}", ["buildah", "from", "--pull=never", base])
        try:
            build(container)
            self._run(f"commit {ref}", ["buildah", "commit", "--quiet", container, ref])
        finally:
            subprocess.run(
                [self._tools["buildah"], "rm", container],
                capture_output=True,
                env=self._env,
                timeout=120,
                check=False,
            )
        inspected = self._inspect(ref)
        if inspected is None:
            raise ImageBuildFailed(f"inspect {ref} after commit", self._log)
        if superseded and superseded != inspected.get("Id"):
            # The image this one replaces, now untagged; kept if a container still uses it.
            subprocess.run(
                [self._tools["podman"], "rmi", superseded],
                capture_output=True,
                env=self._env,
                timeout=120,
                check=False,
            )
        return self._built(ref, inspected, time.monotonic() - started, reused=False)

    @staticmethod
    def _built(
        ref: str, inspected: Mapping[str, object], seconds: float, *, reused: bool
    ) -> BuiltImage:
        size = inspected.get("Size", 0)
        return BuiltImage(
            ref=ref,
            image_id=str(inspected.get("Id", "")),
            size_bytes=int(size) if isinstance(size, int | float) else 0,
            seconds=seconds,
            reused=reused,
        )
