"""The stack's secrets on disk: SCRAM passwords per principal and the broker's own.

Every principal's password lives in credentials/<principal>.json (0600), which the services
read; the broker and controller passwords live apart in kafka/internal-credentials.json. Log
excerpts shown in errors go through `redacted_tail`, which blanks every one of them.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path

from services.hubkit.private_files import write_private
from services.stack import config
from services.stack.artifacts import log_tail
from services.stack.config import StackLayout
from services.stack.errors import StackConfigError

__all__ = ["StackCredentials", "new_secret"]


def new_secret() -> str:
    return secrets.token_urlsafe(24)


class StackCredentials:
    """Reads, makes and redacts the passwords kept under one stack layout."""

    def __init__(self, layout: StackLayout) -> None:
        self._layout = layout

    def internal_secrets(self) -> dict[str, str]:
        """The broker's and controller's passwords (made when the log directory is formatted)."""
        path = self._layout.internal_credentials
        try:
            data: dict[str, str] = json.loads(path.read_text())
        except FileNotFoundError:
            raise StackConfigError(
                f"kafka: {self._layout.kafka_log_dir} is formatted but {path} is missing; "
                "run `safehub stack up --fresh` to start over with new credentials"
            ) from None
        return data

    def principal_password(self, principal: str) -> str:
        """The principal's password from its credential file, generating the file if absent."""
        path = self._layout.credential_file(principal)
        try:
            password = str(json.loads(path.read_text())["password"])
            return config.validate_secret(password)
        except FileNotFoundError:
            password = new_secret()
            write_private(path, config.render_credential(principal, password))
            return password

    def known_secrets(self) -> list[str]:
        found: list[str] = []
        with contextlib.suppress(FileNotFoundError, ValueError):
            found += json.loads(self._layout.internal_credentials.read_text()).values()
        if self._layout.credentials_dir.is_dir():
            for path in self._layout.credentials_dir.glob("*.json"):
                try:
                    found.append(str(json.loads(path.read_text())["password"]))
                except (ValueError, KeyError, OSError):
                    continue
        return found

    def redact(self, text: str) -> str:
        return config.redact_secrets(text, self.known_secrets())

    def redacted_tail(self, path: Path, lines: int = 15) -> str:
        return self.redact(log_tail(path, lines))
