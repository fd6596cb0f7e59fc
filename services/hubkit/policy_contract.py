"""The policy contract: what the gateway and the IG policy tools agree on about a policy.

- where decisions are asked for: the OPA entrypoints, and the same place as a Rego query;
- which files make a bundle of a policy folder: rules and data, never tests or hidden files;
- how the data files merge into the one document the rules read as `data`;
- how a revision is named: a published bundle's `<semver>+sha256.<16 hex>`, written into its
  signed `.manifest`; an unpublished folder's `sha256:<16 hex>`; both from one content
  digest, so the same files always carry the same digest. OPA reports the revision it
  evaluated in an answer asked for with `?provenance=true`.

Pure, except `policy_folder_files` and `bundle_revision`, which only read files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from services.hubkit.errors import PolicyBundleInvalid

__all__ = [
    "BATCH_DECISIONS_ENTRYPOINT",
    "BUNDLE_NAME",
    "BUNDLE_ROOTS",
    "DECISIONS_ENTRYPOINT",
    "DECISIONS_QUERY",
    "BundleFile",
    "Version",
    "bundle_revision",
    "content_digest",
    "entrypoint_query",
    "is_bundle_member",
    "manifest_revision",
    "parse_revision",
    "policy_data",
    "policy_folder_files",
    "revision_for",
    "revision_from_provenance",
    "unpublished_revision",
]

DECISIONS_ENTRYPOINT = "safehub/sharing/decisions"
"""Input {"notice": ...}: one object keyed by subscriber id (services.hubkit.sharing_decisions)."""
BATCH_DECISIONS_ENTRYPOINT = "safehub/sharing/batch_decisions"
"""Input {"notices": [...]}: one `decisions` object per notice, in input order."""


def entrypoint_query(entrypoint: str) -> str:
    """An entrypoint as a Rego query: `safehub/sharing/decisions` is
    `data.safehub.sharing.decisions`."""
    return "data." + entrypoint.replace("/", ".")


DECISIONS_QUERY = entrypoint_query(DECISIONS_ENTRYPOINT)

# The name OPA knows the bundle by (`bundles.safehub` in its configuration), and the one data
# root it owns: everything under data.safehub comes from this bundle and nothing else.
BUNDLE_NAME = "safehub"
BUNDLE_ROOTS = ("safehub",)

_DATA_FILES = frozenset({"data.json", "data.yaml", "data.yml"})
_DIGEST_CHARS = 16
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
_REVISION = re.compile(r"(?P<version>[0-9.]+)\+sha256\.(?P<digest>[0-9a-f]{16})")


@dataclass(frozen=True, slots=True)
class BundleFile:
    """One file of a bundle: its path inside the bundle (posix, relative) and its bytes."""

    path: str
    content: bytes


def is_bundle_member(path: str) -> bool:
    """Whether a file at `path` (posix, relative to the policy folder or bundle root) belongs
    in a bundle: a rule (`.rego`, not a `_test.rego`) or a data file, outside hidden folders.

    Hidden files (an old `.manifest` or `.signatures.json`), tests and documents are left
    out: tests stay in the repository, the bundle carries only what decides.
    """
    parts = PurePosixPath(path).parts
    if not parts or any(part.startswith(".") for part in parts):
        return False
    name = parts[-1]
    rule = name.endswith(".rego") and not name.endswith("_test.rego")
    return rule or name in _DATA_FILES


def policy_folder_files(policies_dir: Path) -> tuple[BundleFile, ...]:
    """The files of `policies_dir` that make up its bundle, in path order."""
    files: list[BundleFile] = []
    for path in sorted(policies_dir.rglob("*")):
        relative = path.relative_to(policies_dir).as_posix()
        if path.is_file() and is_bundle_member(relative):
            files.append(BundleFile(relative, path.read_bytes()))
    return tuple(files)


def policy_data(files: Iterable[BundleFile]) -> dict[str, Any]:
    """Every `data.json` of a bundle merged into one document, each at its folder's path.

    One document, not one per file: regopy 1.5.2 cannot merge several documents under a
    shared top-level key (it keeps the first, then crashes the process on the first query).
    Only JSON is read; a YAML data file or a document that is not an object is
    PolicyBundleInvalid, rather than a policy evaluated without data OPA would have.
    """
    merged: dict[str, Any] = {}
    for item in files:
        path = PurePosixPath(item.path)
        if path.name not in _DATA_FILES:
            continue
        if path.name != "data.json":
            raise PolicyBundleInvalid(f"{item.path}: only data.json data files are read")
        try:
            document = json.loads(item.content)
        except ValueError as error:
            raise PolicyBundleInvalid(f"{item.path} is not JSON") from error
        if not isinstance(document, dict):
            raise PolicyBundleInvalid(f"{item.path} must hold a JSON object")
        node = merged
        for part in path.parent.parts:
            node = node.setdefault(part, {})
        node.update(document)
    return merged


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


def revision_for(version: Version, digest: str) -> str:
    """A published bundle's revision: the release an IG officer approved, and its content."""
    return f"{version}+sha256.{digest[:_DIGEST_CHARS]}"


def parse_revision(revision: str) -> tuple[Version, str] | None:
    """(version, digest prefix) of a revision `revision_for` made, else None."""
    match = _REVISION.fullmatch(revision)
    if match is None:
        return None
    try:
        return Version.parse(match["version"]), match["digest"]
    except ValueError:
        return None


def unpublished_revision(digest: str) -> str:
    """The revision of a policy folder that carries no `.manifest`: its content alone."""
    return f"sha256:{digest[:_DIGEST_CHARS]}"


def manifest_revision(manifest: Any) -> str | None:
    """The revision a `.manifest` document names, None when it names none."""
    if not isinstance(manifest, Mapping):
        return None
    revision = manifest.get("revision")
    return revision if isinstance(revision, str) and revision else None


def bundle_revision(policies_dir: Path) -> str:
    """Revision of a policy folder: its `.manifest`'s revision, else `unpublished_revision`."""
    manifest = policies_dir / ".manifest"
    if manifest.exists():
        revision = manifest_revision(json.loads(manifest.read_text()))
        if revision is not None:
            return revision
    return unpublished_revision(content_digest(policy_folder_files(policies_dir)))


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
