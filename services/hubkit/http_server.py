"""uvicorn for a process that runs several servers, or owns its signals itself.

uvicorn's `Server` installs SIGTERM/SIGINT handlers while it serves. Where one loop runs
several servers (the demo, `safehub adapters serve`, test harnesses) or the process has its
own shutdown (the gateway commits what it decided before exiting), those handlers would take
the signal from whoever must act on it; this server leaves signals alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn

__all__ = ["SignalFreeServer"]


class SignalFreeServer(uvicorn.Server):
    """A uvicorn server that installs no signal handlers: stop it with `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
