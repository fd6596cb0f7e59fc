"""The witness's state on disk: per origin, only its origin, size and root hash (tlog-witness
asks no more, and the issue asks that a partner's witness keep nothing else).

One JSON file per origin, `<state_dir>/<sha256(origin) hex>.json`, replaced atomically (temporary
file, fsync, rename, fsync of the directory) so a crash leaves the old state or the new one,
never half. `locked(origin)` serialises check-and-update for one origin across threads and
processes (an flock per open file), closing the race tlog-witness describes (a slow request
for size N must not roll back a stored N+K).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from services.hubkit.errors import NoteMalformed
from services.hubkit.private_files import exclusive_lock, private_dir, write_atomically
from services.witness.domain import LogState

__all__ = ["StateFiles"]


class StateFiles:
    """Latest cosigned state per origin, kept in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = private_dir(directory)

    def _stem(self, origin: str) -> str:
        # Hashed: an origin is free text chosen by the log, never a path.
        return hashlib.sha256(origin.encode()).hexdigest()

    @contextlib.contextmanager
    def locked(self, origin: str) -> Iterator[None]:
        with exclusive_lock(self.directory / f"{self._stem(origin)}.lock"):
            yield

    def load(self, origin: str) -> LogState | None:
        path = self.directory / f"{self._stem(origin)}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        if data.get("origin") != origin:
            raise NoteMalformed(f"state file {path} is not for origin {origin!r}; restore it")
        return LogState(
            origin=origin, size=int(data["size"]), root_hash=base64.b64decode(data["root"])
        )

    def save(self, state: LogState) -> None:
        """Persist before the cosignature is returned (tlog-witness)."""
        path = self.directory / f"{self._stem(state.origin)}.json"
        record = {
            "origin": state.origin,
            "size": state.size,
            "root": base64.b64encode(state.root_hash).decode("ascii"),
        }
        write_atomically(path, json.dumps(record, sort_keys=True) + "\n")
        # The rename is durable only once the directory entry is on disk.
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
