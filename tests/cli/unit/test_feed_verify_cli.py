"""`safehub feed verify --file`: one line per item (checked fields and signer, resting on the
hub alone, or the failure and the field path), a summary, exit 1 when any item fails; a
compromised hub that alters or moves a field and re-seals the item with its own key is
caught by the agency's signature, never by the seal."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from services.cli.feed import FeedRecord, read_record_file, record_line
from services.hubkit.envelope import SigningKey
from tests.provenance_feed import (
    HUB,
    POLICE,
    SOURCE_WITHHELD,
    altered,
    item_for,
    moved,
    notice_json,
    sealed,
)

REPO = Path(__file__).resolve().parents[3]

GOOD = item_for(notice_json(seed=3))
CAVEAT = item_for(notice_json(seed=8, classification="OFFICIAL"), caveat="OFFICIAL_SENSITIVE")
TAMPERED = altered(item_for(notice_json(seed=4)), "subject.given_name", "Mallory")
MOVED = moved(item_for(notice_json(seed=5)), item_for(notice_json(seed=6)), "risk.level")
WITHHELD = item_for(notice_json(seed=7), permitted=SOURCE_WITHHELD)


def _trust(directory: Path, *keys: SigningKey) -> Path:
    directory.mkdir()
    for key in keys:
        raw = key.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        public = base64.b64encode(raw).decode()
        entry = {"key_id": key.key_id, "owner": key.owner, "public_key": public}
        (directory / f"{key.owner}.json").write_text(json.dumps(entry))
    return directory


def _records(path: Path, *values: bytes) -> Path:
    path.write_text(
        "".join(
            record_line(FeedRecord(v, "feed.mash-manager.v1", 0, offset)) + "\n"
            for offset, v in enumerate(values)
        )
    )
    return path


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.feed", "verify", *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _line(stdout: str, notice: dict[str, Any]) -> str:
    (line,) = [x for x in stdout.splitlines() if notice["notice_id"] in x]
    return line


def test_good_raised_and_withheld_items_pass(tmp_path: Path) -> None:
    keys = _trust(tmp_path / "trusted", HUB, POLICE)
    feed = _records(tmp_path / "feed.jsonl", sealed(GOOD), sealed(CAVEAT), sealed(WITHHELD))
    result = _verify("--file", str(feed), "--keys", str(keys), "--subscriber", "mash-manager")
    assert result.returncode == 0, result.stdout + result.stderr
    good = _line(result.stdout, GOOD)
    assert good.startswith("OK ")
    assert f"checked against adapter-police's signature ({POLICE.key_id})" in good
    assert "raised by the hub: classification" in _line(result.stdout, CAVEAT)
    assert _line(result.stdout, WITHHELD).startswith("NONE ")
    assert result.stdout.splitlines()[-1].startswith("3 items: 2 checked")


def test_a_compromised_hub_re_sealing_altered_or_moved_fields_fails(tmp_path: Path) -> None:
    keys = _trust(tmp_path / "trusted", HUB, POLICE)
    feed = _records(
        tmp_path / "feed.jsonl",
        sealed(GOOD),
        sealed(TAMPERED),  # re-sealed with the hub's own key: the seal holds
        sealed(MOVED),
        sealed(WITHHELD),
        sealed(GOOD, POLICE),  # not the hub's seal at all
    )
    result = _verify("--file", str(feed), "--keys", str(keys))
    assert result.returncode == 1, result.stderr
    assert _line(result.stdout, TAMPERED).endswith("altered: subject.given_name")
    assert _line(result.stdout, MOVED).endswith("not_signed: risk.level")
    assert "FAIL  feed.mash-manager.v1/0@4  seal not_signed_by_hub: " in result.stdout
    assert "Mallory" not in result.stdout
    assert result.stdout.splitlines()[-1].startswith(
        "5 items: 1 checked against the agency's signature"
    )
    assert "3 failed (1 the hub's seal, 2 a field)" in result.stdout.splitlines()[-1]


def test_an_agency_key_not_in_the_directory_fails(tmp_path: Path) -> None:
    keys = _trust(tmp_path / "trusted", HUB)
    result = _verify("--file", str(_records(tmp_path / "f", sealed(GOOD))), "--keys", str(keys))
    assert result.returncode == 1
    assert "unknown_signer" in _line(result.stdout, GOOD)


def test_a_file_that_is_not_feed_records_names_the_line(tmp_path: Path) -> None:
    keys = _trust(tmp_path / "trusted", HUB, POLICE)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(record_line(FeedRecord(sealed(GOOD))) + "\n{not json\n")
    result = _verify("--file", str(bad), "--keys", str(keys))
    assert result.returncode == 2
    assert f"{bad}:2: not a feed record line" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_record_file_round_trips(tmp_path: Path) -> None:
    records = [FeedRecord(b"\x00\x01value", "feed.x.v1", 2, 9), FeedRecord(b"v")]
    path = tmp_path / "f.jsonl"
    path.write_text("".join(record_line(r) + "\n" for r in records))
    assert list(read_record_file(path)) == records
