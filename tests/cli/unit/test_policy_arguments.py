"""`safehub policy` refuses nonsense arguments with one line and exit 2, never a traceback."""

from pathlib import Path

import pytest

from services.cli.main import main


@pytest.mark.parametrize("count", ["-5", "0", "many"])
def test_sample_notices_needs_a_positive_count(
    count: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["policy", "sample-notices", str(tmp_path / "week.avro"), "--count", count])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "argument --count" in error
    assert "Traceback" not in error
    assert not (tmp_path / "week.avro").exists()
