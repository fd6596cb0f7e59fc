"""Publishing signed bundles and OPA verifying them, against the real OPA v1.22.2.

A private OPA (tests/policy/integration/private_opa.py) is configured like the stack's:
bundles only from the bundle service, signature required (explicit keyid, ES256 IG key),
last activated bundle persisted. Every way of slipping it a bundle the IG key did not sign
must be refused with the previous revision still live and deciding exactly as before.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.hubkit.notice import to_json_value
from services.hubkit.policy_contract import Version, revision_from_provenance
from services.hubkit.settings import HubSettings
from services.policy.bundle import load_bundle_revision
from services.policy.publish import BundleStore
from services.policy.signing import provision_ig_signing_key
from services.stack import StackRunner
from services.stack.artifacts import ensure_opa
from tests.factories import POLICIES, notices
from tests.policy.integration.private_opa import PrivateOpa, bundle_members, pack_bundle

pytestmark = pytest.mark.opa

NOTICE = to_json_value(notices(seed=21).notice("DOMESTIC_ABUSE_INCIDENT"))


@pytest.fixture(scope="module")
def opa_binary() -> Path:
    return ensure_opa(HubSettings())


@pytest.fixture(scope="module")
def private_opa(opa_binary: Path) -> Iterator[PrivateOpa]:
    with tempfile.TemporaryDirectory(prefix="safehub-private-opa-") as tmp:
        server = PrivateOpa(opa=opa_binary, root=Path(tmp), policies=POLICIES)
        try:
            yield server
        finally:
            server.close()


def _copy_of_policies(into: Path) -> Path:
    shutil.copytree(POLICIES, into / "policies")
    return into / "policies"


def test_published_release_is_verified_loaded_and_named_in_every_decision(
    private_opa: PrivateOpa,
) -> None:
    release = private_opa.first.release
    assert release.version == "1.0.0"
    assert release.revision.startswith("1.0.0+sha256.")
    assert load_bundle_revision(private_opa.store.current) == release.revision
    assert private_opa.revision() == release.revision
    answer = private_opa.decide(NOTICE)
    # What the gateway reads for the audit record: the revision that decided.
    assert revision_from_provenance(answer) == release.revision
    assert set(answer["result"]) >= {"mash-manager", "school-dsl"}


def test_a_new_release_is_loaded_without_a_restart(private_opa: PrivateOpa, tmp_path: Path) -> None:
    before = private_opa.decide(NOTICE)["result"]
    changed = _copy_of_policies(tmp_path)
    rules = changed / "safehub" / "rules" / "data.json"
    data = json.loads(rules.read_text())
    for text in ("default_deny", "default_deny_triage"):
        data["texts"][text] = "(reworded) " + data["texts"][text]
    rules.write_text(json.dumps(data, indent=1))
    result = private_opa.publish(changed, version=Version(1, 1, 0))
    assert result.created
    assert result.release.revision.startswith("1.1.0+sha256.")
    private_opa.wait_until(lambda: private_opa.revision() == result.release.revision, "1.1.0")
    after = private_opa.decide(NOTICE)
    assert revision_from_provenance(after) == result.release.revision
    assert after["result"] != before
    assert [r.version for r in private_opa.store.releases()] == ["1.0.0", "1.1.0"]


def _with_manifest(members: dict[str, bytes], revision: str) -> dict[str, bytes]:
    manifest = json.loads(members["/.manifest"])
    manifest["revision"] = revision
    return {**members, "/.manifest": json.dumps(manifest).encode()}


def _tampered_rule(members: dict[str, bytes]) -> bytes:
    name = next(n for n in members if n.endswith("decisions.rego"))
    changed = members[name].replace(b'"Withheld because "', b'"Shared anyway because "')
    assert changed != members[name]
    return pack_bundle({**members, name: changed})


def _tampered_manifest(members: dict[str, bytes]) -> bytes:
    return pack_bundle(_with_manifest(members, "9.9.9+sha256.0000000000000000"))


def _stripped_signature(members: dict[str, bytes]) -> bytes:
    # GHSA-g2pf-6v5v-qcc8: a bundle with its signature file removed (fixed in v1.21.3).
    stripped = {n: c for n, c in members.items() if n != "/.signatures.json"}
    return pack_bundle(_with_manifest(stripped, "6.6.6+stripped"))


def _empty_signature_list(members: dict[str, bytes]) -> bytes:
    emptied = {**members, "/.signatures.json": b'{"signatures": []}'}
    return pack_bundle(_with_manifest(emptied, "6.6.7+empty"))


def _extra_policy_file(members: dict[str, bytes]) -> bytes:
    backdoor = b"package safehub.sharing\n\nbackdoor := true\n"
    return pack_bundle({**members, "/safehub/sharing/zz_backdoor.rego": backdoor})


def _rebuild(members: dict[str, bytes], opa: Path, *signing: str) -> bytes:
    unsigned = {n: c for n, c in members.items() if n != "/.signatures.json"}
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "stage"
        for name, content in _with_manifest(unsigned, "6.6.8+rebuilt").items():
            target = stage / name.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        out = Path(tmp) / "out.tar.gz"
        subprocess.run(
            [str(opa), "build", "--bundle", ".", *signing, "--output", str(out)],
            cwd=stage,
            check=True,
            capture_output=True,
        )
        return out.read_bytes()


ATTACKS: dict[str, tuple[Callable[..., bytes], str]] = {
    "a rule changed after signing": (_tampered_rule, "digest mismatch"),
    "the revision changed after signing": (_tampered_manifest, ".manifest: digest mismatch"),
    "the signature stripped": (_stripped_signature, "missing .signatures.json"),
    "an empty signature list": (_empty_signature_list, "missing JWT"),
    "a policy file added after signing": (_extra_policy_file, "not included in bundle signature"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_bundle_not_signed_as_published_is_refused_and_the_previous_stays_live(
    private_opa: PrivateOpa, attack: str
) -> None:
    make, reason = ATTACKS[attack]
    _assert_refused(
        private_opa, make(bundle_members(private_opa.store.current.read_bytes())), reason
    )


def test_an_unsigned_bundle_is_refused(private_opa: PrivateOpa) -> None:
    members = bundle_members(private_opa.store.current.read_bytes())
    unsigned = _rebuild(members, private_opa.opa)
    assert "/.signatures.json" not in bundle_members(unsigned)
    _assert_refused(private_opa, unsigned, "missing .signatures.json")


def test_a_bundle_signed_with_another_key_is_refused(
    private_opa: PrivateOpa, tmp_path: Path
) -> None:
    members = bundle_members(private_opa.store.current.read_bytes())
    other = provision_ig_signing_key(tmp_path / "attacker-keys")
    # Same key id as the IG key, so only the signature itself can tell them apart.
    forged = _rebuild(
        members,
        private_opa.opa,
        "--signing-key",
        str(other.private_key_path),
        "--signing-alg",
        "ES256",
        "--verification-key-id",
        private_opa.key.key_id,
    )
    _assert_refused(private_opa, forged, "invalid ECDSA signature")


def _assert_refused(private_opa: PrivateOpa, bad: bytes, reason: str) -> None:
    good = private_opa.store.current.read_bytes()
    live = private_opa.revision()
    decided = private_opa.decide(NOTICE)
    since = len(private_opa.log_text())
    try:
        private_opa.offer(bad)
        message = private_opa.wait_for_refusal(since)
        assert reason in message, message
        assert private_opa.revision() == live
        assert private_opa.decide(NOTICE) == decided
        assert private_opa.healthy()
    finally:
        private_opa.offer(good)


def test_after_a_restart_the_last_verified_bundle_is_live_even_while_a_bad_one_is_offered(
    private_opa: PrivateOpa,
) -> None:
    good = private_opa.store.current.read_bytes()
    live = private_opa.revision()
    decided = private_opa.decide(NOTICE)
    private_opa.offer(_tampered_rule(bundle_members(good)))
    try:
        private_opa.stop()
        since = len(private_opa.log_text())
        private_opa.start()  # waits for /health?bundles: the persisted bundle, verified again
        assert "digest mismatch" in private_opa.wait_for_refusal(since)
        assert private_opa.revision() == live
        assert private_opa.decide(NOTICE) == decided
    finally:
        private_opa.offer(good)


def test_the_stack_runs_the_signed_published_bundle(stack: HubSettings) -> None:
    runner = StackRunner(stack)
    store = BundleStore.under(stack.data_dir)
    published = store.current_revision()
    assert published is not None
    assert runner.served_revision() == published
    config = json.loads((stack.data_dir / "opa" / "config.json").read_text())
    ((name, bundle),) = config["bundles"].items()
    assert name == "safehub"
    assert bundle["signing"]["keyid"] in config["keys"]
    assert config["keys"][bundle["signing"]["keyid"]]["algorithm"] == "ES256"
