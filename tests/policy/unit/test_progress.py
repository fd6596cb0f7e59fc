"""Progress of a replay: elapsed and ETA lines for logs; tqdm only on a terminal."""

from __future__ import annotations

import io
from collections.abc import Iterator

from services.policy.progress import progress_line, tracked


def test_line_with_a_known_total_gives_the_time_left() -> None:
    line = progress_line(25_000, 100_000, 30.0)
    assert line == (
        "simulate: 25,000 of 100,000 notices read (25%), 0m30s elapsed, about 1m30s left"
    )


def test_line_without_a_total_gives_no_eta() -> None:
    assert progress_line(7, None, 3_725.0) == "simulate: 7 notices read, 1h02m05s elapsed"


def test_line_at_the_end_has_nothing_left() -> None:
    assert "left" not in progress_line(10, 10, 4.0)


def _ticks() -> Iterator[float]:
    second = 0.0
    while True:
        yield second
        second += 1.0


def test_plain_lines_every_n_and_at_the_end_when_not_a_terminal() -> None:
    stream = io.StringIO()  # isatty() is False, as in CI
    clock = _ticks()
    items = list(tracked(range(25), total=25, stream=stream, every=10, clock=lambda: next(clock)))
    assert items == list(range(25))
    lines = stream.getvalue().splitlines()
    assert [line.split(" notices")[0] for line in lines] == [
        "simulate: 10 of 25",
        "simulate: 20 of 25",
        "simulate: 25 of 25",
    ]
    assert lines[0].endswith("0m01s elapsed, about 0m02s left")


def test_no_line_twice_when_the_count_is_a_multiple() -> None:
    stream = io.StringIO()
    list(tracked(range(20), total=20, stream=stream, every=10))
    assert len(stream.getvalue().splitlines()) == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_rate_and_eta() -> None:
    stream = _Terminal()
    assert list(tracked(range(3), total=3, stream=stream)) == [0, 1, 2]
    shown = stream.getvalue()
    assert "simulate" in shown
    assert "3/3" in shown
