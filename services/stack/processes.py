"""The stack's own processes: started detached, found again through pidfiles, stopped, awaited.

A pidfile (run/<component>.pid under the data dir) counts only while the process it names is
alive and its command line is the one this stack launched (`ProcessSignature`), so a recycled
pid or another stack's process is never signalled. Paths on a command line are compared as
files, not strings: a broker started with the data dir given as `var` from the repository is
still recognised by a runner given `/work/main/var`, or a symlink to it, and its pidfile kept.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from services.hubkit.private_files import write_atomically
from services.stack.config import Endpoint, StackLayout
from services.stack.errors import ComponentUnhealthy

__all__ = [
    "LogTail",
    "ProcessSignature",
    "Progress",
    "StackProcesses",
    "command_line",
    "is_running",
    "port_open",
    "same_command_line",
    "send_sigterm",
    "spawn_detached",
    "terminate",
    "working_directory",
]

Progress = Callable[[str], None]
LogTail = Callable[[Path], str]
"""The last lines of a log, with secrets redacted, for an error message."""

_POLL_S = 0.3


@dataclass(frozen=True, slots=True)
class ProcessSignature:
    """What a command line must hold to be a process this stack started.

    `program` is the executable's file name (None: any), `arguments` must each appear verbatim,
    and each of `paths` must appear as an argument naming the same file (relative arguments
    are resolved against the process's own working directory).
    """

    program: str | None = None
    arguments: tuple[str, ...] = ()
    paths: tuple[Path, ...] = ()

    def matches(self, argv: Sequence[str], cwd: Path | None = None) -> bool:
        if not argv:
            return False
        if self.program is not None and Path(argv[0]).name != self.program:
            return False
        if not all(argument in argv for argument in self.arguments):
            return False
        named = {_same_file_key(Path(argument), cwd) for argument in argv[1:]}
        return all(_same_file_key(path, None) in named for path in self.paths)


def same_command_line(
    running: Sequence[str], wanted: Sequence[str], cwd: Path | None = None
) -> bool:
    """True when `running` is `wanted`, an argument naming the same file as its counterpart
    counting as equal (so a data dir spelled another way does not force a restart)."""
    if len(running) != len(wanted):
        return False
    return all(
        have == want or _same_file_key(Path(have), cwd) == _same_file_key(Path(want), None)
        for have, want in zip(running, wanted, strict=True)
    )


def _same_file_key(path: Path, cwd: Path | None) -> str:
    """An argument as an absolute path with symlinks resolved (strict=False: it may be gone)."""
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return os.path.realpath(path)


def command_line(pid: int) -> tuple[str, ...] | None:
    """The process's argv, None when it is gone, a zombie or not ours to inspect."""
    try:
        argv = psutil.Process(pid).cmdline()
    except psutil.Error:  # NoSuchProcess (and ZombieProcess), AccessDenied
        return None
    return tuple(argv) or None  # kernel threads have none


def working_directory(pid: int) -> Path | None:
    try:
        return Path(psutil.Process(pid).cwd())
    except psutil.Error:
        return None


def is_running(pid: int) -> bool:
    """True while `pid` is alive and not a zombie."""
    try:
        # Reaps the process if this interpreter started it (tests run `up` in-process).
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists; we may not look at it


def spawn_detached(
    argv: Sequence[str], log_path: Path, environment: Mapping[str, str] | None = None
) -> int:
    """Start `argv` in its own session with output appended to `log_path`; return its pid.

    posix_spawn rather than subprocess.Popen: a Popen object for a process that must outlive
    us warns "subprocess is still running" when collected, and the tests treat warnings as
    errors.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        log_path.replace(log_path.with_name(log_path.name + ".1"))
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(
        argv[0],
        list(argv),
        {**os.environ, **(environment or {})},
        file_actions=file_actions,
        setsid=True,
    )


def send_sigterm(pid: int) -> None:
    """Ask `pid` to stop without waiting (several components can then stop at once)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).terminate()


def terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout_s`; True when it had to be killed."""
    try:
        process = psutil.Process(pid)
        process.terminate()
    except psutil.NoSuchProcess:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            return False
        time.sleep(0.2)
    try:
        process.kill()
    except psutil.NoSuchProcess:
        return False
    for _ in range(50):
        if not is_running(pid):
            break
        time.sleep(0.1)
    return True


def port_open(endpoint: Endpoint, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on `endpoint`."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s):
            return True
    except OSError:
        return False


class StackProcesses:
    """Starting, finding, stopping and awaiting the components' processes under one layout."""

    def __init__(self, layout: StackLayout, progress: Progress, log_tail: LogTail) -> None:
        self._layout = layout
        self._progress = progress
        self._log_tail = log_tail

    def our_pid(
        self, name: str, signature: ProcessSignature, *, remove_stale: bool = True
    ) -> int | None:
        """The pid in the component's pidfile if that process is still the one we started.

        With `remove_stale`, a pidfile naming a process that is gone or runs something else
        is removed; one naming a live process we may not inspect is left alone.
        """
        pidfile = self._layout.pidfile(name)
        try:
            pid = int(pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        argv = command_line(pid)
        if argv is not None and is_running(pid):
            if signature.matches(argv, working_directory(pid)):
                return pid
        elif argv is None and _inspection_denied(pid):
            return None
        if remove_stale:
            pidfile.unlink(missing_ok=True)
        return None

    def start(
        self, name: str, argv: Sequence[str], environment: Mapping[str, str] | None = None
    ) -> int:
        pid = spawn_detached(argv, self._layout.log_file(name), environment)
        write_atomically(self._layout.pidfile(name), f"{pid}\n")
        self._progress(f"{name}: started pid {pid} (log {self._layout.log_file(name)})")
        return pid

    def stop(self, name: str, pid: int, timeout_s: float) -> bool:
        """Terminate the component's process and forget its pidfile; True when killed."""
        killed = terminate(pid, timeout_s)
        self._layout.pidfile(name).unlink(missing_ok=True)
        return killed

    def wait_until_healthy(
        self, name: str, pid: int, timeout_s: float, probe: Callable[[float], str | None]
    ) -> None:
        """Poll `probe` (None: healthy, else why not) until healthy, the deadline, or death."""
        deadline = time.monotonic() + timeout_s
        log_path = self._layout.log_file(name)
        while True:
            if not is_running(pid):
                self._layout.pidfile(name).unlink(missing_ok=True)
                raise ComponentUnhealthy(
                    name,
                    f"process {pid} exited during start-up",
                    log_path,
                    self._log_tail(log_path),
                )
            remaining = deadline - time.monotonic()
            reason = probe(max(0.5, min(5.0, remaining)))
            if reason is None:
                return
            if time.monotonic() >= deadline:
                raise ComponentUnhealthy(
                    name,
                    f"not healthy after {timeout_s:.0f}s: {reason}",
                    log_path,
                    self._log_tail(log_path),
                )
            time.sleep(_POLL_S)


def _inspection_denied(pid: int) -> bool:
    try:
        psutil.Process(pid).cmdline()
    except psutil.AccessDenied:
        return True
    except psutil.Error:
        return False
    return False
