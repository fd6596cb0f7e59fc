"""Which version a release gets (pure), and the IG signing key on disk."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.hubkit.policy_contract import Version
from services.policy.publish import FIRST_VERSION, Release, plan_release
from services.policy.signing import ig_signing_key, provision_ig_signing_key


def _release(version: str, digest: str) -> Release:
    return Release(
        version=version,
        revision=f"{version}+sha256.{digest[:16]}",
        content_sha256=digest,
        signing_key_id="safehub-ig-test",
        published_at="2026-11-20T12:00:00+00:00",
        source="policies",
    )


RELEASES = (_release("1.0.0", "a" * 64), _release("1.1.0", "b" * 64))


def test_first_release_is_1_0_0() -> None:
    plan = plan_release((), "c" * 64, None)
    assert (plan.version, plan.existing) == (FIRST_VERSION, None)


def test_new_content_gets_the_next_patch() -> None:
    assert plan_release(RELEASES, "c" * 64, None).version == Version(1, 1, 1)


def test_unchanged_content_is_the_latest_release_again() -> None:
    plan = plan_release(RELEASES, "b" * 64, None)
    assert plan.existing == RELEASES[-1]


def test_an_asked_for_version_must_be_new_and_higher() -> None:
    assert plan_release(RELEASES, "c" * 64, Version(2, 0, 0)).version == Version(2, 0, 0)
    with pytest.raises(ValueError, match="already published"):
        plan_release(RELEASES, "c" * 64, Version(1, 1, 0))
    with pytest.raises(ValueError, match="lower than the latest"):
        plan_release(RELEASES, "c" * 64, Version(1, 0, 5))


def test_asking_again_for_the_latest_with_its_content_changes_nothing() -> None:
    assert plan_release(RELEASES, "b" * 64, Version(1, 1, 0)).existing == RELEASES[-1]


def test_the_signing_key_is_made_once_private_and_named_by_fingerprint(tmp_path: Path) -> None:
    assert ig_signing_key(tmp_path) is None
    key = provision_ig_signing_key(tmp_path)
    assert provision_ig_signing_key(tmp_path) == key
    assert key.key_id.startswith("safehub-ig-")
    assert len(key.key_id) == len("safehub-ig-") + 12
    assert stat.S_IMODE(key.private_key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.private_key_path.parent.stat().st_mode) == 0o700
    assert "PRIVATE" not in key.public_key_pem
    other = provision_ig_signing_key(tmp_path / "elsewhere")
    assert other.key_id != key.key_id
