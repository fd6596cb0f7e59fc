"""Pinned third-party artifacts, fetched once into the cache and reused.

Kafka's jars come from Maven Central through `scripts/kafka/pom.xml`; OPA and regal are built
from the Go module proxy. Each `ensure_*` returns at once when the cache is complete, builds
into a staging path and renames it into place, so an interrupted download never leaves a
half-filled cache behind, and holds a lock so two `safehub` processes do not build twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.hubkit.private_files import exclusive_lock
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.stack.config import ACL_BATCH_CLASS, ACL_BATCH_SOURCE
from services.stack.errors import ArtifactFetchFailed, PrerequisiteMissing

__all__ = [
    "KAFKA_POM",
    "KAFKA_VERSION",
    "OPA",
    "REGAL",
    "GoTool",
    "ensure_acl_batch_runner",
    "ensure_kafka_libs",
    "ensure_kustomize",
    "ensure_opa",
    "ensure_regal",
    "kafka_libs_dir",
    "log_tail",
    "require_tool",
    "tool_binary",
]

KAFKA_VERSION = "4.1.2"
KAFKA_POM = REPO_ROOT / "scripts" / "kafka" / "pom.xml"
_MVN_TIMEOUT_S = 15 * 60
_GO_TIMEOUT_S = 30 * 60

_INSTALL_HINTS: Mapping[str, str] = {
    "java": "Debian: apt-get install default-jre-headless",
    "mvn": "Debian: apt-get install maven",
    # OPA v1.22.2's go.mod says `go 1.26.0`; Go >= 1.21 fetches that toolchain by itself
    # through the module proxy, bookworm's golang-go (1.19) cannot.
    "go": (
        "Debian: apt-get install golang-go from bookworm-backports, or Go >= 1.21 from "
        "go.dev/dl; bookworm's own golang-go 1.19 is too old for OPA v1.22.2"
    ),
}

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class GoTool:
    name: str
    module: str
    version: str
    # A line `<binary> version` prints when the right build is installed; None: trust the path.
    version_line: str | None = None


# At or after v1.21.3: earlier releases could accept a bundle whose signature was stripped
# (GHSA-g2pf-6v5v-qcc8).
OPA = GoTool("opa", "github.com/open-policy-agent/opa", "v1.22.2", "Version: 1.22.2")
# The newer path github.com/open-policy-agent/regal is refused by the module proxy here.
REGAL = GoTool("regal", "github.com/styrainc/regal", "v0.35.1")
# v5.8.x needs Go 1.27; v5.7.1 builds with the Go this machine has.
KUSTOMIZE = GoTool("kustomize", "sigs.k8s.io/kustomize/kustomize/v5", "v5.7.1")


def require_tool(name: str) -> str:
    """Absolute path of a prerequisite on PATH, or a one-line error saying how to install it."""
    found = shutil.which(name)
    if found is None:
        raise PrerequisiteMissing(name, _INSTALL_HINTS.get(name, "see ARCHITECTURE.md"))
    return found


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _run_logged(
    argv: Sequence[str],
    *,
    log_path: Path,
    timeout_s: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> bool:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=None if env is None else dict(env),
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            log.write(f"timed out after {timeout_s:.0f}s\n".encode())
            return False
    return done.returncode == 0


# --- Kafka -----------------------------------------------------------------------------------


def kafka_libs_dir(cache_dir: Path) -> Path:
    return cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def _libs_complete(libs: Path, stamp: Path, digest: str) -> bool:
    # The stamp records which pom filled the directory, so editing the pom refreshes the cache.
    return libs.is_dir() and stamp.is_file() and stamp.read_text().strip() == digest


def ensure_kafka_libs(settings: HubSettings, progress: Progress = _quiet) -> Path:
    """Kafka's runtime classpath (broker + tools + slf4j-simple) under the cache; download once."""
    libs = kafka_libs_dir(settings.cache_dir)
    stamp = libs.parent / "libs.complete"
    digest = _pom_digest()
    if _libs_complete(libs, stamp, digest):
        return libs
    with exclusive_lock(settings.cache_dir / "locks" / f"kafka-{KAFKA_VERSION}.lock"):
        if _libs_complete(libs, stamp, digest):
            return libs
        mvn = require_tool("mvn")
        progress(f"kafka: fetching Kafka {KAFKA_VERSION} jars from Maven Central")
        staging = libs.parent / f"libs.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        log_path = libs.parent / "mvn.log"
        argv = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        fetched = _run_logged(argv, log_path=log_path, timeout_s=_MVN_TIMEOUT_S)
        needed = (f"kafka_2.13-{KAFKA_VERSION}.jar", f"kafka-tools-{KAFKA_VERSION}.jar")
        if not fetched or not all((staging / jar).is_file() for jar in needed):
            shutil.rmtree(staging, ignore_errors=True)
            raise ArtifactFetchFailed(
                f"Kafka {KAFKA_VERSION} jars (mvn, Maven Central)", log_path, log_tail(log_path)
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        stamp.write_text(digest + "\n")
    return libs


def ensure_acl_batch_runner(
    settings: HubSettings, libs: Path, progress: Progress = _quiet
) -> Path | None:
    """A class directory holding the single-JVM AclCommand batch runner, compiled once.

    None when there is no `javac` (a JRE-only machine): the caller then launches AclCommand
    once per batch instead, which gives the same ACLs, only slower.
    """
    digest = hashlib.sha256(ACL_BATCH_SOURCE.encode()).hexdigest()[:12]
    classes = libs.parent / f"acl-batch-{digest}"
    compiled = classes / f"{ACL_BATCH_CLASS}.class"
    if compiled.is_file():
        return classes
    javac = shutil.which("javac")
    if javac is None:
        return None
    with exclusive_lock(settings.cache_dir / "locks" / f"kafka-{KAFKA_VERSION}.lock"):
        if compiled.is_file():
            return classes
        progress("acls: compiling the one-JVM AclCommand batch runner (once)")
        staging = libs.parent / f".acl-batch-{digest}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        source = staging / f"{ACL_BATCH_CLASS}.java"
        source.write_text(ACL_BATCH_SOURCE)
        log_path = libs.parent / "acl-batch.build.log"
        argv = [javac, "--release", "17", "-cp", f"{libs}/*", "-d", str(staging), str(source)]
        if not _run_logged(argv, log_path=log_path, timeout_s=300):
            shutil.rmtree(staging, ignore_errors=True)
            raise ArtifactFetchFailed(
                "the AclCommand batch runner (javac)", log_path, log_tail(log_path)
            )
        source.unlink()
        shutil.rmtree(classes, ignore_errors=True)
        staging.rename(classes)
    return classes


# --- Go tools ----------------------------------------------------------------------------------


def tool_binary(cache_dir: Path, tool: GoTool) -> Path:
    return cache_dir / "tools" / f"{tool.name}-{tool.version}" / tool.name


def _tool_ok(binary: Path, tool: GoTool) -> bool:
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return False
    if tool.version_line is None:
        return True
    try:
        out = subprocess.run(
            [str(binary), "version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return tool.version_line in out.stdout.splitlines()


def _go_build_from_module_cache(
    go: str, tool: GoTool, out: Path, env: Mapping[str, str], log_path: Path
) -> bool:
    """Build from the module's own directory in the module cache.

    `go install mod@version` asks the proxy for `@v/list` to look for a deprecation notice, and
    the proxy here answers 403 for some modules (regal). `go mod download` fetches only the
    version itself and still verifies it against the checksum database, and building inside
    the module uses its own go.sum, so verification is unchanged.
    """
    target = f"{tool.module}@{tool.version}"
    download = subprocess.run(
        [go, "mod", "download", "-json", target],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=_GO_TIMEOUT_S,
        check=False,
    )
    with log_path.open("a") as log:
        log.write(f"$ go mod download -json {target}\n{download.stderr}")
    if download.returncode != 0:
        return False
    module_dir = Path(json.loads(download.stdout)["Dir"])
    argv = [go, "build", "-trimpath", "-o", str(out), "."]
    return _run_logged(argv, log_path=log_path, timeout_s=_GO_TIMEOUT_S, cwd=module_dir, env=env)


def _ensure_go_tool(settings: HubSettings, tool: GoTool, progress: Progress) -> Path:
    binary = tool_binary(settings.cache_dir, tool)
    if _tool_ok(binary, tool):
        return binary
    with exclusive_lock(settings.cache_dir / "locks" / f"{tool.name}-{tool.version}.lock"):
        if _tool_ok(binary, tool):
            return binary
        go = require_tool("go")
        progress(f"{tool.name}: building {tool.module}@{tool.version} (a few minutes, once)")
        staging = binary.parent.parent / f".{tool.name}-{tool.version}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        log_path = binary.parent.parent / f"{tool.name}-{tool.version}.build.log"
        env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(staging)}
        argv = [go, "install", f"{tool.module}@{tool.version}"]
        built = _run_logged(argv, log_path=log_path, timeout_s=_GO_TIMEOUT_S, env=env)
        if not built and "/@v/list" in log_tail(log_path, 5):
            built = _go_build_from_module_cache(go, tool, staging / tool.name, env, log_path)
        staged = staging / tool.name
        if not built or not _tool_ok(staged, tool):
            shutil.rmtree(staging, ignore_errors=True)
            raise ArtifactFetchFailed(
                f"{tool.name} {tool.version} (go, module proxy)", log_path, log_tail(log_path)
            )
        binary.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(binary)
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def ensure_opa(settings: HubSettings, progress: Progress = _quiet) -> Path:
    """The pinned OPA binary, built once with `go install` into the cache."""
    return _ensure_go_tool(settings, OPA, progress)


def ensure_regal(settings: HubSettings, progress: Progress = _quiet) -> Path:
    """The pinned regal linter binary, built once into the cache."""
    return _ensure_go_tool(settings, REGAL, progress)


def ensure_kustomize(settings: HubSettings, progress: Progress = _quiet) -> Path:
    """The pinned kustomize binary, for rendering deploy/k8s overlays in CI."""
    return _ensure_go_tool(settings, KUSTOMIZE, progress)
