"""Progress of a long replay, for `safehub policy simulate`: notices read, elapsed, ETA.

On a terminal a tqdm bar on stderr; otherwise (CI logs, a file) one plain line every so many
notices, so logs stay readable. `progress_line` is pure: the clock is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

from tqdm import tqdm

__all__ = ["PLAIN_EVERY", "progress_line", "tracked"]

T = TypeVar("T")

PLAIN_EVERY = 10_000
"""Without a terminal: a line every this many notices (and one at the end)."""


def _span(seconds: float) -> str:
    whole = max(0, round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def progress_line(done: int, total: int | None, elapsed: float) -> str:
    """`simulate: 20,000 of 100,000 notices read (20%), 0m12s elapsed, about 0m48s left`."""
    if total is None or total <= 0:
        return f"simulate: {done:,} notices read, {_span(elapsed)} elapsed"
    line = f"simulate: {done:,} of {total:,} notices read ({done / total:.0%}), "
    line += f"{_span(elapsed)} elapsed"
    if 0 < done < total:
        line += f", about {_span(elapsed * (total - done) / done)} left"
    return line


def tracked(
    items: Iterable[T],
    *,
    total: int | None,
    stream: IO[str],
    every: int = PLAIN_EVERY,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Yield `items` unchanged, reporting progress on `stream` as they are taken.

    Reading and grouping run alongside OPA (see services.policy.simulation), so notices read
    is a fair measure of the work done; the last stretch, OPA answering the final chunks, comes
    after the bar reaches its end.
    """
    if stream.isatty():
        with tqdm(items, total=total, file=stream, unit=" notices", desc="simulate") as bar:
            yield from bar
        return
    started = clock()
    done = 0
    for item in items:
        yield item
        done += 1
        if done % every == 0:
            print(progress_line(done, total, clock() - started), file=stream, flush=True)
    if done % every:
        print(progress_line(done, total, clock() - started), file=stream, flush=True)
