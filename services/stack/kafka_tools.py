"""Kafka's own command-line tools (StorageTool, ConfigCommand, AclCommand), run from the cache.

Each call is one JVM; its output is appended to logs/kafka-tools.log only after redaction,
because StorageTool echoes its arguments (SCRAM passwords among them) on error.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.stack import config

__all__ = ["ACL_TOOL", "CONFIG_TOOL", "STORAGE_TOOL", "KafkaTools", "ToolJob"]

ACL_TOOL = "org.apache.kafka.tools.AclCommand"
CONFIG_TOOL = "kafka.admin.ConfigCommand"
STORAGE_TOOL = "kafka.tools.StorageTool"
_TOOL_TIMEOUT_S = 120.0

ToolJob = tuple[str, Sequence[str]]
"""(label for error messages, the tool's arguments)."""


class KafkaTools:
    """Runs tool JVMs with one java and one set of Kafka jars, logging redacted output."""

    def __init__(
        self,
        *,
        java: str,
        libs: Path,
        log_path: Path,
        redact: Callable[[str], str],
        parallelism: int,
    ) -> None:
        self.java = java
        self.libs = libs
        self.log_path = log_path
        self._redact = redact
        self._parallelism = parallelism
        self._log_lock = threading.Lock()

    def run(
        self,
        main_class: str,
        args: Sequence[str],
        *,
        extra_classpath: Path | None = None,
    ) -> tuple[bool, str]:
        """Run one tool JVM; (succeeded, its output with secrets redacted)."""
        argv = config.kafka_tool_argv(
            java=self.java,
            libs_dir=self.libs,
            main_class=main_class,
            args=args,
            extra_classpath=extra_classpath,
        )
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_TOOL_TIMEOUT_S,
                check=False,
            )
            output, ok = done.stdout + done.stderr, done.returncode == 0
        except subprocess.TimeoutExpired:
            output, ok = f"timed out after {_TOOL_TIMEOUT_S:.0f}s\n", False
        shown = self._redact(f"$ {main_class} {' '.join(args)}\n{output}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_lock, self.log_path.open("a") as log:
            log.write(shown if shown.endswith("\n") else shown + "\n")
        return ok, shown

    def run_parallel(self, main_class: str, jobs: Sequence[ToolJob]) -> list[tuple[str, str]]:
        """Run several tool JVMs a few at a time; (label, output) of each one that failed."""
        if not jobs:
            return []

        def run(job: ToolJob) -> tuple[str, bool, str]:
            ok, output = self.run(main_class, job[1])
            return job[0], ok, output

        with ThreadPoolExecutor(max_workers=self._parallelism) as pool:
            results = list(pool.map(run, jobs))
        return [(label, output) for label, ok, output in results if not ok]
