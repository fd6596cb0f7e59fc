"""Bundle naming, digests, manifests and reading revisions back (no OPA needed)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from services.policy.bundle import (
    BundleFile,
    Version,
    content_digest,
    load_bundle_revision,
    manifest_for,
    parse_revision,
    policy_bundle_files,
    revision_for,
    revision_from_provenance,
)
from services.policy.errors import PolicySourceInvalid
from tests.factories import POLICIES


def test_versions_parse_compare_and_bump() -> None:
    assert Version.parse("1.2.3") == Version(1, 2, 3)
    assert Version.parse("1.2.3").next_patch() == Version(1, 2, 4)
    assert Version(1, 10, 0) > Version(1, 9, 9)
    assert str(Version(2, 0, 1)) == "2.0.1"
    for bad in ("1.2", "v1.2.3", "01.2.3", "1.2.3-rc1", ""):
        with pytest.raises(ValueError, match="not a version"):
            Version.parse(bad)


def test_revision_is_semver_plus_content_hash_and_parses_back() -> None:
    digest = "3f9c0d2a71b4e8c5" + "0" * 48
    revision = revision_for(Version(1, 4, 0), digest)
    assert revision == "1.4.0+sha256.3f9c0d2a71b4e8c5"
    assert parse_revision(revision) == (Version(1, 4, 0), "3f9c0d2a71b4e8c5")
    assert parse_revision("sha256:3f9c0d2a71b4e8c5") is None


def test_content_digest_depends_on_every_name_and_byte_but_not_on_order() -> None:
    a, b = BundleFile("x/a.rego", b"package x"), BundleFile("x/data.json", b"{}")
    assert content_digest([a, b]) == content_digest([b, a])
    assert content_digest([a, b]) != content_digest([a, BundleFile("x/data.json", b"{ }")])
    assert content_digest([a]) != content_digest([BundleFile("x/b.rego", b"package x")])
    # Framing: moving a byte from the name to the body is a different bundle.
    assert content_digest([BundleFile("ab", b"c")]) != content_digest([BundleFile("a", b"bc")])


def test_manifest_roots_the_bundle_at_safehub_and_records_the_key() -> None:
    manifest = manifest_for(version=Version(1, 0, 0), digest="ab" * 32, key_id="safehub-ig-1")
    assert manifest["roots"] == ["safehub"]
    assert manifest["revision"] == "1.0.0+sha256." + "ab" * 8
    assert manifest["metadata"] == {
        "version": "1.0.0",
        "content_sha256": "ab" * 32,
        "signing_key_id": "safehub-ig-1",
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"result": {}, "provenance": {"bundles": {"safehub": {"revision": "1.0+x"}}}}, "1.0+x"),
        ({"result": {}}, None),
        ({"result": {}, "provenance": {"version": "1.22.2"}}, None),
        ({"provenance": {"bundles": {"other": {"revision": "9"}}}}, None),
        ({"provenance": {"bundles": {"safehub": {"revision": ""}}}}, None),
        ({"provenance": {"bundles": {"safehub": {"revision": 7}}}}, None),
        ([], None),
        (None, None),
    ],
)
def test_revision_from_provenance(body: object, expected: str | None) -> None:
    assert revision_from_provenance(body) == expected


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
