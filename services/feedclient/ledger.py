"""The feed client's files, written so that a crash neither loses nor repeats a line (edge).

Three files per feed: the output (JSON Lines, file mode only), the rejects file (one JSON
line per record not written as an item, with its reason) and the position file
(services.feedclient.position). A write appends to the output and rejects, flushes and
fsyncs them, and only then replaces the position file in one step (written beside it,
fsynced, renamed). On open, the output and rejects are truncated to the lengths the
position recorded, dropping whatever a crash left after the last commit.

The output holds safeguarding information about children: it is created owner-only (0600).
One client at a time per position file (an exclusive lock, refused at once if held).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from services.feedclient.errors import OutputChanged, PositionUnusable
from services.feedclient.position import (
    FollowPosition,
    parse_position,
    position_json,
    recovery,
)
from services.hubkit.private_files import write_private

__all__ = ["Ledger"]


class Ledger:
    def __init__(
        self,
        *,
        position_file: Path,
        rejects_file: Path,
        output_file: Path | None,
        subscriber_id: str,
        topic: str,
    ) -> None:
        self.position_file = position_file
        self.rejects_file = rejects_file
        self.output_file = output_file
        self._subscriber_id = subscriber_id
        self._topic = topic
        self._position: FollowPosition | None = None
        self._output: BinaryIO | None = None
        self._rejects: BinaryIO | None = None
        self._lock: BinaryIO | None = None

    @property
    def exists(self) -> bool:
        """A position was committed before (the client resumes from it)."""
        return self.position_file.exists()

    @property
    def position(self) -> FollowPosition:
        if self._position is None:
            raise RuntimeError("the ledger is not open")
        return self._position

    def open(self) -> Mapping[int, int]:
        """Lock, read the committed position (none: every partition from its beginning),
        truncate the output and rejects to its recorded lengths; the offsets to resume at.
        Called again after a reconnect, it recovers again from the committed position."""
        try:
            return self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> Mapping[int, int]:
        self._close_files()
        if self._lock is None:
            self._lock = _locked(self.position_file.with_name(self.position_file.name + ".lock"))
        if self.position_file.exists():
            position = parse_position(
                self.position_file.read_text(encoding="utf-8"),
                where=str(self.position_file),
                subscriber_id=self._subscriber_id,
                topic=self._topic,
            )
        else:
            position = FollowPosition(self._subscriber_id, self._topic)
            for path in (self.output_file, self.rejects_file):
                if path is not None and path.exists() and path.stat().st_size > 0:
                    raise OutputChanged(
                        f"{path} already holds data but {self.position_file} does not exist: "
                        "it was not written by this client, or its position file was removed. "
                        "Choose other files, or restore the position file"
                    )
        self._rejects = _open_at(self.rejects_file, position.rejects_bytes)
        if self.output_file is not None:
            self._output = _open_at(self.output_file, position.output_bytes)
        self._position = position
        return position.offsets

    def start_at(self, offsets: Mapping[int, int]) -> None:
        """Commit a first position (a new follower that starts at the feed's current end)."""
        self._position = FollowPosition(self._subscriber_id, self._topic, dict(offsets))
        write_private(self.position_file, position_json(self._position))

    def append(self, *, lines: Sequence[str] = (), rejects: Sequence[str] = ()) -> None:
        """Append and fsync; nothing is committed until `commit`."""
        for handle, texts in ((self._output, lines), (self._rejects, rejects)):
            if not texts:
                continue
            if handle is None:
                raise RuntimeError("the ledger has no output file (webhook mode)")
            handle.write("".join(t + "\n" for t in texts).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def commit(self, partition: int, next_offset: int) -> None:
        """Record that everything before `next_offset` on `partition` is written, with the
        files' current lengths; the position file is replaced in one step."""
        assert self._rejects is not None
        self._position = self.position.advanced(
            partition,
            next_offset,
            output_bytes=self._output.tell() if self._output is not None else 0,
            rejects_bytes=self._rejects.tell(),
        )
        write_private(self.position_file, position_json(self._position))

    def close(self) -> None:
        self._close_files()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _close_files(self) -> None:
        for handle in (self._output, self._rejects):
            if handle is not None:
                handle.close()
        self._output = self._rejects = None


def _open_at(path: Path, committed: int) -> BinaryIO:
    """`path` open for appending, truncated to the committed length (created 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+b")
    try:
        size = os.fstat(fd).st_size
        handle.truncate(recovery(committed, size, where=str(path)))
        handle.seek(0, os.SEEK_END)
        os.fsync(fd)
    except BaseException:
        handle.close()
        raise
    return handle


def _locked(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise PositionUnusable(
            f"another feed client is following with {path.with_suffix('')}; one at a time"
        ) from None
    return handle
