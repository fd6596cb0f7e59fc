"""Errors raised by the local stack runner, one root so the CLI can catch them all.

StackError                      root: every message says what failed and what to do next
├── PrerequisiteMissing         java / mvn / go not on PATH
├── ArtifactFetchFailed         mvn or go could not fetch or build a pinned artifact
├── StackConfigError            settings the local stack cannot honour (non-loopback, ...)
├── PortInUse                   a port we need is held by a process we did not start
├── KafkaToolFailed             StorageTool / AclCommand / ConfigCommand exited non-zero
├── TopicSetupFailed            the broker refused to create a topology topic
└── ComponentUnhealthy          a started process died or missed its health deadline
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ArtifactFetchFailed",
    "ComponentUnhealthy",
    "KafkaToolFailed",
    "PortInUse",
    "PrerequisiteMissing",
    "StackConfigError",
    "StackError",
    "TopicSetupFailed",
]


def _with_tail(message: str, log_path: Path | None, log_tail: str) -> str:
    if log_path is None:
        return message
    lines = [message, f"  log: {log_path}"]
    if log_tail.strip():
        lines.append("  last lines:")
        lines.extend(f"    {line}" for line in log_tail.rstrip().splitlines())
    return "\n".join(lines)


class StackError(Exception):
    """Root of every error the stack runner raises on purpose."""


class PrerequisiteMissing(StackError):
    """A tool the runner needs right now is not installed."""

    def __init__(self, tool: str, install_hint: str) -> None:
        self.tool = tool
        super().__init__(f"safehub: {tool} not found; install it ({install_hint})")


class ArtifactFetchFailed(StackError):
    """A pinned artifact could not be downloaded or built; the cache was left untouched."""

    def __init__(self, artifact: str, log_path: Path, log_tail: str) -> None:
        self.artifact = artifact
        self.log_path = log_path
        super().__init__(
            _with_tail(
                f"could not fetch {artifact}; check network access to the package registry",
                log_path,
                log_tail,
            )
        )


class StackConfigError(StackError):
    """The settings ask for something the local stack does not do."""


class PortInUse(StackError):
    """Something we did not start already listens where a component must listen."""

    def __init__(self, component: str, endpoint: str, setting: str) -> None:
        self.component = component
        self.endpoint = endpoint
        super().__init__(
            f"{component}: {endpoint} is already in use by a process this stack did not start; "
            f"stop that process or choose another port with {setting}"
        )


class KafkaToolFailed(StackError):
    """One of Kafka's own command-line tools (run from the cached jars) failed."""

    def __init__(self, tool: str, what: str, log_path: Path, log_tail: str) -> None:
        self.tool = tool
        self.log_path = log_path
        super().__init__(_with_tail(f"kafka: {tool} failed while {what}", log_path, log_tail))


class TopicSetupFailed(StackError):
    """The broker answered CreateTopics with an error other than "already exists"."""


class ComponentUnhealthy(StackError):
    """A component we started died or did not pass its health check in time."""

    def __init__(self, component: str, reason: str, log_path: Path, log_tail: str) -> None:
        self.component = component
        self.log_path = log_path
        super().__init__(_with_tail(f"{component}: {reason}", log_path, log_tail))
