"""The policy contract the gateway and the IG policy tools share: entrypoints, which files
make a bundle, how data merges, how revisions are named and read back (no OPA needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.hubkit.errors import InProcessPolicyFailed, PolicyBundleInvalid
from services.hubkit.inprocess_policy import InProcessPolicy
from services.hubkit.notice import to_json_value
from services.hubkit.policy_contract import (
    BATCH_DECISIONS_ENTRYPOINT,
    DECISIONS_ENTRYPOINT,
    DECISIONS_QUERY,
    BundleFile,
    Version,
    bundle_revision,
    content_digest,
    entrypoint_query,
    is_bundle_member,
    manifest_revision,
    parse_revision,
    policy_data,
    policy_folder_files,
    revision_for,
    revision_from_provenance,
    unpublished_revision,
)
from tests.factories import POLICIES, notices


def test_the_entrypoints_are_the_policy_packages_rules() -> None:
    assert DECISIONS_QUERY == "data.safehub.sharing.decisions"
    assert entrypoint_query(BATCH_DECISIONS_ENTRYPOINT) == "data.safehub.sharing.batch_decisions"
    rules = (POLICIES / "safehub/sharing/decisions.rego").read_text()
    assert "package safehub.sharing" in rules
    assert DECISIONS_ENTRYPOINT.rsplit("/", 1)[1] in rules
    assert BATCH_DECISIONS_ENTRYPOINT.rsplit("/", 1)[1] in rules


@pytest.mark.parametrize(
    ("path", "member"),
    [
        ("safehub/sharing/decisions.rego", True),
        ("safehub/rules/data.json", True),
        ("safehub/rules/data.yaml", True),
        ("safehub/sharing/decisions_test.rego", False),
        ("README.md", False),
        ("safehub/notes.json", False),
        (".manifest", False),
        (".signatures.json", False),
        (".hidden/x.rego", False),
        ("", False),
    ],
)
def test_a_bundle_is_rules_and_data_never_tests_documents_or_hidden_files(
    path: str, member: bool
) -> None:
    assert is_bundle_member(path) is member


def test_a_policy_folder_bundles_its_rules_and_data_in_path_order(tmp_path: Path) -> None:
    (tmp_path / "safehub" / "a").mkdir(parents=True)
    (tmp_path / "safehub" / "a" / "rules.rego").write_text("package safehub.a")
    (tmp_path / "safehub" / "a" / "rules_test.rego").write_text("package safehub.a_test")
    (tmp_path / "safehub" / "a" / "data.json").write_text("{}")
    (tmp_path / "safehub" / "README.md").write_text("about")
    (tmp_path / ".manifest").write_text("{}")
    files = policy_folder_files(tmp_path)
    assert [f.path for f in files] == ["safehub/a/data.json", "safehub/a/rules.rego"]
    assert files[1].content == b"package safehub.a"


def test_data_files_merge_into_one_document_at_their_folder_paths() -> None:
    files = [
        BundleFile("safehub/rules.rego", b"package safehub"),
        BundleFile("safehub/fields/data.json", b'{"labels": {"a": "A"}}'),
        BundleFile("safehub/isa/data.json", b'{"clauses": []}'),
        BundleFile("safehub/isa/more/data.json", b'{"x": 1}'),
    ]
    assert policy_data(files) == {
        "safehub": {
            "fields": {"labels": {"a": "A"}},
            "isa": {"clauses": [], "more": {"x": 1}},
        }
    }


def test_the_real_policy_data_holds_every_data_json() -> None:
    data = policy_data(policy_folder_files(POLICIES))
    for path in POLICIES.rglob("data.json"):
        node = data
        for part in path.parent.relative_to(POLICIES).parts:
            node = node[part]
        assert json.loads(path.read_text()).items() <= node.items()


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        ("safehub/data.yaml", b"a: 1", "only data.json"),
        ("safehub/data.json", b"[1]", "must hold a JSON object"),
        ("safehub/data.json", b"{", "is not JSON"),
    ],
)
def test_data_the_contract_cannot_read_is_refused(path: str, content: bytes, message: str) -> None:
    with pytest.raises(PolicyBundleInvalid, match=message):
        policy_data([BundleFile(path, content)])


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


def test_a_folder_without_a_manifest_is_named_by_its_content(tmp_path: Path) -> None:
    (tmp_path / "safehub").mkdir()
    (tmp_path / "safehub" / "rules.rego").write_text("package safehub")
    digest = content_digest(policy_folder_files(tmp_path))
    assert bundle_revision(tmp_path) == unpublished_revision(digest) == f"sha256:{digest[:16]}"
    # A test or a document does not change what decides, so not the revision either.
    (tmp_path / "safehub" / "rules_test.rego").write_text("package safehub_test")
    assert bundle_revision(tmp_path) == unpublished_revision(digest)
    (tmp_path / "safehub" / "rules.rego").write_text("package safehub\n")
    assert bundle_revision(tmp_path) != unpublished_revision(digest)


def test_a_folder_with_a_manifest_is_named_by_it(tmp_path: Path) -> None:
    (tmp_path / ".manifest").write_text(json.dumps({"revision": "1.2.0+sha256.0123456789abcdef"}))
    assert bundle_revision(tmp_path) == "1.2.0+sha256.0123456789abcdef"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [({"revision": "r1"}, "r1"), ({"revision": ""}, None), ({}, None), (None, None), ([], None)],
)
def test_manifest_revision(manifest: object, expected: str | None) -> None:
    assert manifest_revision(manifest) == expected


def test_in_process_policy_decides_a_real_notice_and_names_its_revision() -> None:
    policy = InProcessPolicy(POLICIES)
    notice = to_json_value(notices(seed=5).notice("SAFEGUARDING_CONTACT"))
    decisions = policy.decisions({"notice": notice})
    assert decisions
    assert all(isinstance(entry, dict) for entry in decisions.values())
    assert policy.revision == bundle_revision(POLICIES)


def test_in_process_policy_refuses_an_undefined_result(tmp_path: Path) -> None:
    (tmp_path / "safehub" / "sharing").mkdir(parents=True)
    (tmp_path / "safehub" / "sharing" / "decisions.rego").write_text(
        'package safehub.sharing\n\ndecisions := {"a": 1} if input.notice.defined\n'
    )
    policy = InProcessPolicy(tmp_path)
    with pytest.raises(InProcessPolicyFailed) as caught:
        policy.decisions({"notice": {}})
    assert caught.value.kind == "undefined"
    assert policy.decisions({"notice": {"defined": True}}) == {"a": 1}
