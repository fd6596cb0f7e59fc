"""The feed client's files: a crash after writing but before committing leaves lines that
are dropped on the next start (and written again from the committed offsets), so nothing is
lost or repeated; a file changed outside the client, another feed's position file or a second
client on the same files is refused with a reason; the files are owner-only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from services.feedclient.errors import OutputChanged, PositionUnusable
from services.feedclient.ledger import Ledger

TOPIC = "feed.mash-manager.v1"


def _ledger(tmp_path: Path, subscriber_id: str = "mash-manager") -> Ledger:
    return Ledger(
        position_file=tmp_path / "out.jsonl.position.json",
        rejects_file=tmp_path / "out.jsonl.rejects.jsonl",
        output_file=tmp_path / "out.jsonl",
        subscriber_id=subscriber_id,
        topic=TOPIC,
    )


def _lines(tmp_path: Path) -> list[str]:
    return (tmp_path / "out.jsonl").read_text().splitlines()


def test_lines_written_after_the_last_commit_are_dropped_on_restart(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    assert ledger.open() == {}
    ledger.append(lines=['{"n":0}', '{"n":1}'], rejects=['{"r":0}'])
    ledger.commit(0, 2)
    ledger.append(lines=['{"n":2}'])  # the process dies here: never committed
    ledger.close()
    assert len(_lines(tmp_path)) == 3

    again = _ledger(tmp_path)
    assert again.open() == {0: 2}  # offsets 0 and 1 committed: read again from 2
    assert _lines(tmp_path) == ['{"n":0}', '{"n":1}']
    again.append(lines=['{"n":2}'])
    again.commit(0, 3)
    again.close()
    assert _lines(tmp_path) == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert (tmp_path / "out.jsonl.rejects.jsonl").read_text() == '{"r":0}\n'
    position = json.loads((tmp_path / "out.jsonl.position.json").read_text())
    assert position["offsets"] == {"0": 3}
    assert position["output_bytes"] == (tmp_path / "out.jsonl").stat().st_size


def test_an_output_shorter_than_committed_is_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.open()
    ledger.append(lines=['{"n":0}', '{"n":1}'])
    ledger.commit(1, 7)
    ledger.close()
    (tmp_path / "out.jsonl").write_text('{"n":0}\n')
    with pytest.raises(OutputChanged, match="truncated or edited outside the client"):
        _ledger(tmp_path).open()


def test_an_existing_output_without_a_position_file_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "out.jsonl").write_text("someone else's file\n")
    with pytest.raises(OutputChanged, match="already holds data"):
        _ledger(tmp_path).open()
    assert (tmp_path / "out.jsonl").read_text() == "someone else's file\n"


def test_another_feeds_position_file_is_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.open()
    ledger.commit(0, 1)
    ledger.close()
    with pytest.raises(PositionUnusable, match="mash-manager's feed"):
        _ledger(tmp_path, subscriber_id="school-dsl").open()
    (tmp_path / "out.jsonl.position.json").write_text("{not json")
    with pytest.raises(PositionUnusable, match="not a feed client position file"):
        _ledger(tmp_path).open()


def test_one_client_at_a_time(tmp_path: Path) -> None:
    first = _ledger(tmp_path)
    first.open()
    with pytest.raises(PositionUnusable, match="one at a time"):
        _ledger(tmp_path).open()
    first.close()
    second = _ledger(tmp_path)
    second.open()
    second.close()


def test_a_first_position_is_committed_before_anything_is_read(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.open()
    ledger.start_at({0: 10, 1: 0, 2: 5})
    ledger.close()
    again = _ledger(tmp_path)
    assert again.open() == {0: 10, 1: 0, 2: 5}
    again.close()


def test_the_files_are_owner_only(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.open()
    ledger.append(lines=["{}"])
    ledger.commit(0, 1)
    ledger.close()
    for name in ("out.jsonl", "out.jsonl.rejects.jsonl", "out.jsonl.position.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
