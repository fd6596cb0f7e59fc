"""Publishing a policy release: build, sign, verify, record, then make it current.

Store layout under `<data_dir>/policy-bundles/` (never in git):
    releases/<version>.tar.gz    every signed bundle ever published (immutable)
    releases.json                the release record: version, revision, digest, key, time
    current/safehub.tar.gz       what the bundle service offers OPA (replaced atomically)

`plan_release` (pure) decides the version; `publish_bundle` does the work with the pinned
`opa` binary: `opa build --bundle <staged> --signing-key <IG key> --signing-alg ES256`, then
verifies the result with the public key the same way OPA will (`opa build --bundle <built>
--verification-key ...`) before anything is installed. A failure leaves the store untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.hubkit.policy_contract import BUNDLE_NAME, Version, content_digest
from services.hubkit.private_files import exclusive_lock, write_atomically
from services.policy.bundle import load_manifest, manifest_for, policy_bundle_files
from services.policy.errors import PublishFailed
from services.policy.signing import SIGNING_ALGORITHM, IgSigningKey, provision_ig_signing_key

__all__ = [
    "FIRST_VERSION",
    "BundleStore",
    "PlannedRelease",
    "PublishResult",
    "Release",
    "build_signed_bundle",
    "plan_release",
    "publish_bundle",
]

FIRST_VERSION = Version(1, 0, 0)
_OPA_TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    revision: str
    content_sha256: str
    signing_key_id: str
    published_at: str
    source: str

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)


@dataclass(frozen=True, slots=True)
class BundleStore:
    root: Path

    @staticmethod
    def under(data_dir: Path) -> BundleStore:
        return BundleStore(data_dir / "policy-bundles")

    @property
    def releases_dir(self) -> Path:
        return self.root / "releases"

    @property
    def record(self) -> Path:
        return self.root / "releases.json"

    @property
    def current(self) -> Path:
        return self.root / "current" / f"{BUNDLE_NAME}.tar.gz"

    @property
    def lock(self) -> Path:
        return self.root / ".publish.lock"

    def release_file(self, version: str) -> Path:
        return self.releases_dir / f"{version}.tar.gz"

    def releases(self) -> tuple[Release, ...]:
        try:
            rows = json.loads(self.record.read_text())
        except FileNotFoundError:
            return ()
        return tuple(Release(**row) for row in rows)

    def latest(self) -> Release | None:
        releases = self.releases()
        return releases[-1] if releases else None

    def current_revision(self) -> str | None:
        """The revision of the bundle the service offers now (read, not verified)."""
        if not self.current.is_file():
            return None
        manifest = load_manifest(self.current)
        revision = (manifest or {}).get("revision")
        return revision if isinstance(revision, str) else None


@dataclass(frozen=True, slots=True)
class PlannedRelease:
    version: Version
    existing: Release | None
    """Set when the content is already published as the latest release: nothing to build."""


def plan_release(
    releases: Sequence[Release], digest: str, requested: Version | None
) -> PlannedRelease:
    """Which version this content gets. Pure.

    No version asked: the latest release if it holds exactly this content, else the next
    patch (1.0.0 first). A version asked for must be new and higher than the latest, except
    asking again for the latest with the same content, which changes nothing.
    """
    latest = releases[-1] if releases else None
    if requested is None:
        if latest is not None and latest.content_sha256 == digest:
            return PlannedRelease(latest.semver, latest)
        return PlannedRelease(latest.semver.next_patch() if latest else FIRST_VERSION, None)
    if latest is not None and requested == latest.semver and latest.content_sha256 == digest:
        return PlannedRelease(requested, latest)
    if any(release.semver == requested for release in releases):
        raise ValueError(f"version {requested} is already published; choose a higher version")
    if latest is not None and requested < latest.semver:
        raise ValueError(
            f"version {requested} is lower than the latest release {latest.version}; "
            "versions only go up"
        )
    return PlannedRelease(requested, None)


@dataclass(frozen=True, slots=True)
class PublishResult:
    release: Release
    bundle: Path
    created: bool
    """False when the content was already the latest release (re-installed as current)."""


def _run_opa(argv: Sequence[str], what: str, *, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=_OPA_TIMEOUT_S,
            check=False,
            cwd=cwd,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PublishFailed(f"{what}: {error}") from error
    if done.returncode != 0:
        raise PublishFailed(f"{what} failed:\n{(done.stdout + done.stderr).strip()}")


def build_signed_bundle(
    *,
    opa: Path,
    policies_dir: Path,
    version: Version,
    key: IgSigningKey,
    out: Path,
) -> str:
    """Stage, sign and verify a bundle of `policies_dir` at `out`; returns its revision."""
    files = policy_bundle_files(policies_dir)
    digest = content_digest(files)
    manifest = manifest_for(version=version, digest=digest, key_id=key.key_id)
    with tempfile.TemporaryDirectory(prefix="safehub-bundle-") as tmp:
        stage = Path(tmp) / "bundle"
        for item in files:
            target = stage / item.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.content)
        (stage / ".manifest").write_text(json.dumps(manifest, indent=1) + "\n")
        _run_opa(
            [
                str(opa),
                "build",
                "--bundle",
                ".",
                "--signing-key",
                str(key.private_key_path),
                "--signing-alg",
                SIGNING_ALGORITHM,
                # Becomes the `kid` of the signature, which OPA matches to its configured key.
                "--verification-key-id",
                key.key_id,
                "--output",
                str(out),
            ],
            "opa build (signing the bundle)",
            # Built from inside the staging folder, module paths in the bundle read
            # `safehub/sharing/...`, not a temporary directory's name.
            cwd=stage,
        )
        # Verify exactly as OPA will, with the public key only, before anyone can load it.
        _run_opa(
            [
                str(opa),
                "build",
                "--bundle",
                str(out),
                "--verification-key",
                str(key.public_key_path),
                "--verification-key-id",
                key.key_id,
                "--signing-alg",
                SIGNING_ALGORITHM,
                "--output",
                str(Path(tmp) / "verified.tar.gz"),
            ],
            "opa build (verifying the signed bundle)",
        )
    built = load_manifest(out) or {}
    if built.get("revision") != manifest["revision"]:
        raise PublishFailed(f"the built bundle names revision {built.get('revision')!r}")
    return str(manifest["revision"])


def _install_current(store: BundleStore, release_file: Path) -> None:
    data = release_file.read_bytes()
    if not store.current.is_file() or store.current.read_bytes() != data:
        # One rename: the bundle service never serves half a file.
        write_atomically(store.current, data)


def publish_bundle(
    *,
    opa: Path,
    policies_dir: Path,
    store: BundleStore,
    keys_dir: Path,
    now: dt.datetime,
    version: Version | None = None,
) -> PublishResult:
    """Publish `policies_dir` as a signed release and make it current (see module doc)."""
    store.root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(store.lock):
        digest = content_digest(policy_bundle_files(policies_dir))
        releases = store.releases()
        try:
            plan = plan_release(releases, digest, version)
        except ValueError as error:
            raise PublishFailed(str(error)) from None
        if plan.existing is not None:
            release_file = store.release_file(plan.existing.version)
            _install_current(store, release_file)
            return PublishResult(plan.existing, release_file, created=False)
        key = provision_ig_signing_key(keys_dir)
        release_file = store.release_file(str(plan.version))
        if release_file.exists():
            raise PublishFailed(f"{release_file} exists but is not in {store.record}")
        with tempfile.TemporaryDirectory(prefix="safehub-publish-") as tmp:
            built = Path(tmp) / "bundle.tar.gz"
            revision = build_signed_bundle(
                opa=opa, policies_dir=policies_dir, version=plan.version, key=key, out=built
            )
            release_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(built, release_file)
        release = Release(
            version=str(plan.version),
            revision=revision,
            content_sha256=digest,
            signing_key_id=key.key_id,
            published_at=now.astimezone(dt.UTC).isoformat(timespec="seconds"),
            source=str(policies_dir),
        )
        rows: list[dict[str, Any]] = [asdict(r) for r in (*releases, release)]
        write_atomically(store.record, (json.dumps(rows, indent=1) + "\n").encode())
        _install_current(store, release_file)
        return PublishResult(release, release_file, created=True)
