"""Published bundles: manifests, the files a policy folder bundles, reading revisions back
(no OPA needed). Revision naming and digests: tests/hubkit/unit/test_policy_contract.py."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from services.hubkit.policy_contract import Version
from services.policy.bundle import load_bundle_revision, manifest_for, policy_bundle_files
from services.policy.errors import PolicySourceInvalid
from tests.factories import POLICIES


def test_manifest_roots_the_bundle_at_safehub_and_records_the_key() -> None:
    manifest = manifest_for(version=Version(1, 0, 0), digest="ab" * 32, key_id="safehub-ig-1")
    assert manifest["roots"] == ["safehub"]
    assert manifest["revision"] == "1.0.0+sha256." + "ab" * 8
    assert manifest["metadata"] == {
        "version": "1.0.0",
        "content_sha256": "ab" * 32,
        "signing_key_id": "safehub-ig-1",
    }


def test_bundle_files_are_rules_and_data_never_tests_or_hidden_files() -> None:
    files = {f.path for f in policy_bundle_files(POLICIES)}
    assert "safehub/sharing/decisions.rego" in files
    assert "safehub/rules/data.json" in files
    assert not any(p.endswith("_test.rego") for p in files)
    assert not any(p.startswith(".") or "/." in p or p.endswith(".md") for p in files)


def test_a_folder_without_safehub_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicySourceInvalid, match="should contain safehub/"):
        policy_bundle_files(tmp_path)


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


def test_load_bundle_revision_from_a_folder_and_a_tarball(tmp_path: Path) -> None:
    manifest = json.dumps({"revision": "1.2.0+sha256.0123456789abcdef"}).encode()
    (tmp_path / ".manifest").write_bytes(manifest)
    assert load_bundle_revision(tmp_path) == "1.2.0+sha256.0123456789abcdef"
    bundle = _tarball(tmp_path / "b.tar.gz", {"/data.json": b"{}", "/.manifest": manifest})
    assert load_bundle_revision(bundle) == "1.2.0+sha256.0123456789abcdef"
    plain = _tarball(tmp_path / "c.tar.gz", {"/manifest": manifest})
    assert load_bundle_revision(plain) is None


def test_an_unreadable_bundle_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "x.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(PolicySourceInvalid, match="not a readable bundle"):
        load_bundle_revision(broken)
