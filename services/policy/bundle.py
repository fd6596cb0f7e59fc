"""Policy bundles: what goes in, how a revision is named, and how to read it back.

A published bundle's revision is `<semver>+sha256.<first 16 hex of the content digest>`,
e.g. `1.4.0+sha256.3f9c0d2a71b4e8c5`: the version says which release an IG officer approved,
the digest says exactly which rules and data it holds (the same files always give the same
digest). The revision is written into the bundle's `.manifest`, which the bundle signature
covers, so OPA reports only revisions that were signed.

How a decision's revision is read:
- from OPA: query the data API with `?provenance=true`; the answer carries
  `provenance.bundles.safehub.revision` (see `revision_from_provenance`);
- for an in-process engine: `load_bundle_revision` reads `.manifest` from a bundle
  directory or `.tar.gz` file.

Pure functions except `policy_bundle_files`, `load_manifest` and `load_bundle_revision`,
which only read files.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.policy.errors import PolicySourceInvalid

__all__ = [
    "BUNDLE_NAME",
    "BUNDLE_ROOTS",
    "BundleFile",
    "Version",
    "content_digest",
    "load_bundle_revision",
    "load_manifest",
    "manifest_for",
    "member_path",
    "parse_revision",
    "policy_bundle_files",
    "revision_for",
    "revision_from_provenance",
]

# The name OPA knows the bundle by (`bundles.safehub` in its configuration), and the one data
# root it owns: everything under data.safehub comes from this bundle and nothing else.
BUNDLE_NAME = "safehub"
BUNDLE_ROOTS = ("safehub",)
_DIGEST_CHARS = 16
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
_REVISION = re.compile(r"(?P<version>[0-9.]+)\+sha256\.(?P<digest>[0-9a-f]{16})")
_DATA_FILES = frozenset({"data.json", "data.yaml", "data.yml"})


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """A release number MAJOR.MINOR.PATCH (semantic versioning, no pre-release tags)."""

    major: int
    minor: int
    patch: int

    @staticmethod
    def parse(text: str) -> Version:
        match = _SEMVER.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a version like 1.2.0")
        return Version(*(int(part) for part in match.groups()))

    def next_patch(self) -> Version:
        return Version(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True, slots=True)
class BundleFile:
    """One file of a bundle: its path inside the bundle (posix, relative) and its bytes."""

    path: str
    content: bytes


def content_digest(files: Iterable[BundleFile]) -> str:
    """SHA-256 over every file's path and bytes, in path order (hex).

    Lengths are framed so that moving bytes between a name and a body changes the digest.
    """
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        name = item.path.encode()
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(len(item.content).to_bytes(8, "big") + item.content)
    return digest.hexdigest()


def revision_for(version: Version, digest: str) -> str:
    return f"{version}+sha256.{digest[:_DIGEST_CHARS]}"


def parse_revision(revision: str) -> tuple[Version, str] | None:
    """(version, digest prefix) of a revision this module made, else None."""
    match = _REVISION.fullmatch(revision)
    if match is None:
        return None
    try:
        return Version.parse(match["version"]), match["digest"]
    except ValueError:
        return None


def manifest_for(*, version: Version, digest: str, key_id: str) -> dict[str, Any]:
    """The `.manifest` of a published bundle.

    `roots` makes OPA refuse anything in the bundle outside data.safehub, and stops any other
    source from writing under it. `metadata` repeats the full digest and the signing key id
    so an auditor can tie a revision back to its release record.
    """
    return {
        "revision": revision_for(version, digest),
        "roots": list(BUNDLE_ROOTS),
        "metadata": {"version": str(version), "content_sha256": digest, "signing_key_id": key_id},
    }


def revision_from_provenance(body: Any, bundle: str = BUNDLE_NAME) -> str | None:
    """The bundle revision in an OPA data API answer requested with `?provenance=true`.

    OPA answers `{"result": ..., "provenance": {"bundles": {"safehub": {"revision": "..."}}}}`.
    None when the answer carries no revision for `bundle` (OPA started without that bundle,
    or no provenance was asked for): the caller must then not claim any revision.
    """
    if not isinstance(body, Mapping):
        return None
    provenance = body.get("provenance")
    if not isinstance(provenance, Mapping):
        return None
    bundles = provenance.get("bundles")
    if not isinstance(bundles, Mapping):
        return None
    entry = bundles.get(bundle)
    if not isinstance(entry, Mapping):
        return None
    revision = entry.get("revision")
    return revision if isinstance(revision, str) and revision else None


def policy_bundle_files(policies_dir: Path) -> tuple[BundleFile, ...]:
    """The files that make up a bundle of `policies_dir`: rules and data, never tests.

    Hidden files (an old `.manifest` or `.signatures.json`), tests (`*_test.rego`) and
    documents are left out: tests stay in the repository, the bundle carries only what
    decides.
    """
    if not (policies_dir / "safehub").is_dir():
        raise PolicySourceInvalid(
            f"{policies_dir} is not a policy folder: it should contain safehub/ (like policies/)"
        )
    files: list[BundleFile] = []
    for path in sorted(policies_dir.rglob("*")):
        relative = path.relative_to(policies_dir)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        rego = path.suffix == ".rego" and not path.name.endswith("_test.rego")
        if rego or path.name in _DATA_FILES:
            files.append(BundleFile(relative.as_posix(), path.read_bytes()))
    if not any(f.path.endswith(".rego") for f in files):
        raise PolicySourceInvalid(f"{policies_dir} holds no policy (.rego) files")
    return tuple(files)


def member_path(name: str) -> str:
    """A tar member's path inside the bundle: `/.manifest` and `./.manifest` are `.manifest`."""
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _manifest_bytes(path: Path) -> bytes | None:
    if path.is_dir():
        manifest = path / ".manifest"
        return manifest.read_bytes() if manifest.is_file() else None
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile() and member_path(member.name) == ".manifest":
                    extracted = archive.extractfile(member)
                    return extracted.read() if extracted is not None else None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise PolicySourceInvalid(f"{path} is not a readable bundle: {error}") from error
    return None


def load_manifest(path: Path) -> dict[str, Any] | None:
    """The `.manifest` of a bundle directory or `.tar.gz` file; None when it has none."""
    raw = _manifest_bytes(path)
    if raw is None:
        return None
    try:
        manifest = json.load(io.BytesIO(raw))
    except ValueError as error:
        raise PolicySourceInvalid(f"{path}: .manifest is not JSON") from error
    return manifest if isinstance(manifest, dict) else None


def load_bundle_revision(path: Path) -> str | None:
    """The revision in a bundle's `.manifest` (directory or `.tar.gz`), None if it names none.

    For an in-process engine (regopy) that loads a published bundle: the revision it records
    in every decision. Note this reads the file as it is; it does not verify the signature.
    """
    manifest = load_manifest(path)
    if manifest is None:
        return None
    revision = manifest.get("revision")
    return revision if isinstance(revision, str) and revision else None
