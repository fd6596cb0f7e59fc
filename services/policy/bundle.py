"""Published policy bundles: their manifest, and reading a bundle file back.

What makes a bundle, how its data merges and how a revision is named are the policy
contract's (services/hubkit/policy_contract.py), shared with the gateway. A published
bundle's revision is `<semver>+sha256.<first 16 hex of the content digest>`, e.g.
`1.4.0+sha256.3f9c0d2a71b4e8c5`: the version says which release an IG officer approved,
the digest says exactly which rules and data it holds (the same files always give the same
digest). The revision is written into the bundle's `.manifest`, which the bundle signature
covers, so OPA reports only revisions that were signed.

How a decision's revision is read:
- from OPA: query the data API with `?provenance=true`; the answer carries
  `provenance.bundles.safehub.revision` (see `policy_contract.revision_from_provenance`);
- for an in-process engine: `load_bundle_revision` reads `.manifest` from a bundle
  directory or `.tar.gz` file.

Pure functions except `policy_bundle_files`, `load_manifest` and `load_bundle_revision`,
which only read files.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from services.hubkit.policy_contract import (
    BUNDLE_ROOTS,
    BundleFile,
    Version,
    manifest_revision,
    policy_folder_files,
    revision_for,
)
from services.policy.errors import PolicySourceInvalid

__all__ = [
    "load_bundle_revision",
    "load_manifest",
    "manifest_for",
    "member_path",
    "policy_bundle_files",
]


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


def policy_bundle_files(policies_dir: Path) -> tuple[BundleFile, ...]:
    """The files that make up a bundle of `policies_dir` (policy_contract.policy_folder_files:
    rules and data, never tests, documents or hidden files), refused unless it is a policy
    folder holding rules."""
    if not (policies_dir / "safehub").is_dir():
        raise PolicySourceInvalid(
            f"{policies_dir} is not a policy folder: it should contain safehub/ (like policies/)"
        )
    files = policy_folder_files(policies_dir)
    if not any(f.path.endswith(".rego") for f in files):
        raise PolicySourceInvalid(f"{policies_dir} holds no policy (.rego) files")
    return files


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
    return manifest_revision(load_manifest(path))
