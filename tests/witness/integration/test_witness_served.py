"""The witness under real uvicorn: a growing log's checkpoints with consistency proofs, the 409
exchange, a forked checkpoint refused, and state (only origin, size, root) across a restart."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from services.hubkit.cosignature import verify_cosignature
from services.hubkit.settings import HubSettings
from services.hubkit.signed_note import decode_note, decode_signature_lines, decode_verifier_key
from services.hubkit.tlog_witness import SIZE_CONTENT_TYPE, decode_size
from services.witness.app import create_app, witness_verifier_key
from services.witness.settings import WitnessSettings
from tests.audit.serve import serve
from tests.witness.logs import GrowingLog

NAME = "witness.council.example/safehub"


def _settings(tmp_path: Path, log: GrowingLog) -> tuple[WitnessSettings, HubSettings]:
    logs_file = tmp_path / "logs.vkeys"
    logs_file.write_text(f"# the hub's audit log\n{log.vkey().encode()}\n")
    settings = WitnessSettings(name=NAME, data_dir=tmp_path / "witness", logs_file=logs_file)
    return settings, HubSettings(data_dir=tmp_path / "hub")


def test_growing_log_409_exchange_fork_and_restart(tmp_path: Path) -> None:
    log = GrowingLog()
    settings, hub = _settings(tmp_path, log)
    # What a partner publishes (`safehub witness key`) and the hub would configure.
    vkey = decode_verifier_key(witness_verifier_key(settings, hub).encode())
    cosigned: list[tuple[int, int]] = []

    with serve(create_app(settings, hub, clock=lambda: 1_765_000_000.5)) as client:
        for grow in (3, 1, 4, 8, 5):
            old = len(log.leaves)
            log.append(grow)
            answer = client.post("/add-checkpoint", content=log.request(old))
            assert answer.status_code == 200, answer.text
            (line,) = decode_signature_lines(answer.content)
            text = decode_note(log.note()).text
            cosigned.append((len(log.leaves), verify_cosignature(text, line, vkey).timestamp))
        assert cosigned[-1] == (21, 1_765_000_000)

        # A client that lost track sends old size 0: 409 with the size, then it resubmits.
        log.append(2)
        conflict = client.post("/add-checkpoint", content=log.request(0))
        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == SIZE_CONTENT_TYPE
        current = decode_size(conflict.content)
        assert current == 21
        assert client.post("/add-checkpoint", content=log.request(current)).status_code == 200

        # Another history of the same log, shown to someone else: refused, state unchanged.
        fork = GrowingLog(key=log.key, leaves=log.leaves[:20])
        fork.append(5, tag="other-view")
        refused = client.post("/add-checkpoint", content=fork.request(23))
        assert refused.status_code == 422
        assert "not proven to extend" in refused.text

        stranger = GrowingLog(origin="another.log.example/x")
        stranger.append(1)
        assert client.post("/add-checkpoint", content=stranger.request(0)).status_code == 404
        assert client.post("/add-checkpoint", content=b"old 0\n").status_code == 400
        too_big = b"old 0\n" + b"A" * (settings.max_request_bytes + 1)
        assert client.post("/add-checkpoint", content=too_big).status_code == 413

    # Only origin, size and root are kept, atomically, in one file per origin.
    (state_file,) = (tmp_path / "witness" / "state").glob("*.json")
    assert set(json.loads(state_file.read_text())) == {"origin", "root", "size"}
    key_file = settings.key_path(hub)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # Restarted: the same key, the same state (so the old size is 23, and 21 is refused).
    with serve(create_app(settings, hub)) as client:
        assert witness_verifier_key(settings, hub) == vkey
        stale = client.post("/add-checkpoint", content=log.request(21))
        assert stale.status_code == 409
        assert decode_size(stale.content) == 23
        log.append(1)
        again = client.post("/add-checkpoint", content=log.request(23))
        assert again.status_code == 200
        (line,) = decode_signature_lines(again.content)
        verify_cosignature(decode_note(log.note()).text, line, vkey)
