"""The thin edges without OPA: OPA's launch configuration, the bundle service, notice files,
durations and the explanation text."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.cli.policy import parse_duration
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import encode_notice, to_json_value
from services.policy.bundle_server import serve
from services.policy.errors import NoticeFileInvalid
from services.policy.notices_io import iter_notice_file, read_notice_file, write_notice_file
from services.policy.report import PolicyLabels, render_decisions
from services.stack import config
from services.stack.config import Endpoint
from services.stack.errors import StackConfigError
from tests.factories import FIXED_NOW, SCHEMAS, catalog, notices


def test_opa_runs_from_its_config_file_only() -> None:
    argv = config.opa_argv(
        opa=Path("/cache/opa"), addr=Endpoint("127.0.0.1", 18181), config_file=Path("/c.json")
    )
    assert argv == (
        "/cache/opa",
        "run",
        "--server",
        "--addr",
        "127.0.0.1:18181",
        "--config-file",
        "/c.json",
        "--log-level",
        "error",
    )
    assert "--bundle" not in argv
    assert "--watch" not in argv
    with pytest.raises(StackConfigError):
        config.opa_argv(opa=Path("/o"), addr=Endpoint("127.0.0.1", 1))


def test_opa_config_requires_a_signature_from_the_ig_key_only() -> None:
    body = json.loads(
        config.render_opa_bundle_config(
            bundle_service=Endpoint("127.0.0.1", 18182),
            bundle_name="safehub",
            key_id="safehub-ig-abc",
            public_key_pem="-----BEGIN PUBLIC KEY-----\n...",
            signing_algorithm="ES256",
            persistence_dir=Path("/var/opa/persist"),
        )
    )
    bundle = body["bundles"]["safehub"]
    # An explicit keyid: OPA then refuses unsigned and signature-stripped bundles
    # (GHSA-g2pf-6v5v-qcc8 concerned configurations without one).
    assert bundle["signing"] == {"keyid": "safehub-ig-abc"}
    assert body["keys"] == {
        "safehub-ig-abc": {"algorithm": "ES256", "key": "-----BEGIN PUBLIC KEY-----\n..."}
    }
    assert "PRIVATE" not in json.dumps(body)
    assert bundle["persist"] is True
    assert body["services"]["safehub-bundles"]["url"] == "http://127.0.0.1:18182"
    assert bundle["resource"] == "bundles/safehub.tar.gz"


@pytest.fixture
def bundle_service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    server = serve(tmp_path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()
    thread.join()


def test_bundle_service_serves_the_current_bundle_with_an_etag(
    bundle_service: tuple[str, Path],
) -> None:
    url, root = bundle_service
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/bundles/safehub.tar.gz").status_code == 404
    (root / "current").mkdir()
    (root / "current" / "safehub.tar.gz").write_bytes(b"bundle-bytes")
    first = httpx.get(f"{url}/bundles/safehub.tar.gz")
    assert (first.status_code, first.content) == (200, b"bundle-bytes")
    etag = first.headers["ETag"]
    again = httpx.get(f"{url}/bundles/safehub.tar.gz", headers={"If-None-Match": etag})
    assert again.status_code == 304
    (root / "current" / "safehub.tar.gz").write_bytes(b"new-bytes")
    changed = httpx.get(f"{url}/bundles/safehub.tar.gz", headers={"If-None-Match": etag})
    assert (changed.status_code, changed.content) == (200, b"new-bytes")


@pytest.mark.parametrize(
    "path", ["/bundles/../releases.json", "/bundles/..%2Fsecret.tar.gz", "/releases/x", "/"]
)
def test_bundle_service_serves_nothing_else(bundle_service: tuple[str, Path], path: str) -> None:
    url, root = bundle_service
    (root / "releases.json").write_text("[]")
    assert httpx.get(f"{url}{path}").status_code == 404


def _one_notice() -> dict[str, object]:
    return notices(seed=11).notice("VCS_UPDATE", kind="RETURN_INTERVIEW_OUTCOME")


def test_notice_files_in_every_accepted_form(tmp_path: Path) -> None:
    record = _one_notice()
    expected = to_json_value(record)
    cat = catalog()
    key = SigningKey.generate("adapter-voluntary-sector")
    keys = KeyDirectory.of([key])
    single = encode_notice(cat, record)
    forms = {
        "n.json": json.dumps(expected).encode(),
        "wrapped.json": json.dumps({"notice": expected}).encode(),
        "n.so": single,
        "n.env": seal(cat, single, key, FIXED_NOW),
    }
    for name, data in forms.items():
        (tmp_path / name).write_bytes(data)
        assert read_notice_file(tmp_path / name, cat, keys).notice == expected, name
    loaded = read_notice_file(tmp_path / "n.env", cat, keys)
    assert loaded.provenance.startswith("signed envelope, signature verified")


def test_a_tampered_envelope_is_refused(tmp_path: Path) -> None:
    cat = catalog()
    key = SigningKey.generate("adapter-voluntary-sector")
    sealed = bytearray(seal(cat, encode_notice(cat, _one_notice()), key, FIXED_NOW))
    sealed[-3] ^= 0x01
    (tmp_path / "bad.env").write_bytes(bytes(sealed))
    with pytest.raises(NoticeFileInvalid, match="BadSignature"):
        read_notice_file(tmp_path / "bad.env", cat, KeyDirectory.of([key]))
    untrusted = KeyDirectory.of([SigningKey.generate("someone-else")])
    good = seal(cat, encode_notice(cat, _one_notice()), key, FIXED_NOW)
    (tmp_path / "good.env").write_bytes(good)
    with pytest.raises(NoticeFileInvalid, match="UnknownSigningKey"):
        read_notice_file(tmp_path / "good.env", cat, untrusted)


def test_avro_files_round_trip_and_stream(tmp_path: Path) -> None:
    generator = notices(seed=12)
    records = [generator.notice(t) for t in ("MISSING_EPISODE", "VCS_UPDATE", "MASH_DECISION")]
    path = tmp_path / "week.avro"
    assert write_notice_file(path, iter(records), SCHEMAS) == 3
    assert list(iter_notice_file(path)) == [to_json_value(r) for r in records]
    raw = list(iter_notice_file(path, json_form=False))
    assert isinstance(raw[0]["created_at"], dt.datetime)
    picked = read_notice_file(path, catalog(), None, notice_id=str(records[2]["notice_id"]))
    assert picked.notice["notice_type"] == "MASH_DECISION"
    lines = tmp_path / "n.jsonl"
    lines.write_text("\n".join(json.dumps(to_json_value(r)) for r in records) + "\n")
    assert [n["notice_type"] for n in iter_notice_file(lines)] == [
        "MISSING_EPISODE",
        "VCS_UPDATE",
        "MASH_DECISION",
    ]


def test_something_else_is_not_a_notice(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": "world"}')
    with pytest.raises(NoticeFileInvalid, match="no notice_type"):
        read_notice_file(tmp_path / "x.json", catalog(), None)
    (tmp_path / "y.txt").write_text("not json at all {")
    with pytest.raises(NoticeFileInvalid, match="not JSON"):
        read_notice_file(tmp_path / "y.txt", catalog(), None)


def test_durations() -> None:
    assert parse_duration("7d") == dt.timedelta(days=7)
    assert parse_duration("36h") == dt.timedelta(hours=36)
    assert parse_duration("2w") == dt.timedelta(weeks=2)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("a week")


def test_explanation_text_names_rules_basis_and_fields_in_plain_words() -> None:
    notice = to_json_value(_one_notice())
    result = {
        "school-dsl": {
            "outcome": "DENY",
            "permitted_fields": [],
            "purpose": "OPERATION_ENCOMPASS",
            "lawful_basis": {
                "article6": "none: nothing disclosed",
                "statutory_gateway": "none: nothing disclosed",
            },
            "isa_clause": None,
            "rule_ids": ["R15", "R2"],
            "explanation": "Withheld because no sharing rule gives the school a need to know.",
        }
    }
    labels = PolicyLabels.from_data(
        {
            "safehub": {
                "isa": {
                    "rules": {"R2": "MASH decision-makers see full content."},
                    "notice_types": {"VCS_UPDATE": {"label": "voluntary sector update"}},
                },
                "fields": {"labels": {"notice_id": "the notice id"}},
            }
        }
    )
    text = "\n".join(
        render_decisions(notice, result, labels=labels, policy="1.0.0+sha256.x", read_from="f")
    )
    assert "VCS_UPDATE (voluntary sector update)" in text
    assert "Decision:      DENY: nothing is shared" in text
    assert "Lawful basis:  none: nothing disclosed" in text
    assert "statutory gateway" not in text
    assert "the notice id" in " ".join(text.split())  # wrapped over lines
    assert "R2   MASH decision-makers see full content." in text
    assert str(notice["subject"]["given_name"]) not in text
