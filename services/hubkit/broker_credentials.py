"""A service's broker credential, from either of the two places it may be mounted.

- The hub's credential file `<credentials_dir>/<principal>.json`
  (`{"username", "password", "mechanism"}`), which `safehub stack up` writes locally.
- The Secret the Strimzi User Operator writes for a KafkaUser, mounted as-is at
  `<credentials_dir>/<principal>/` (key `password`; its `sasl.jaas.config` is not read). The
  user is named after the principal (services/stack/strimzi.py), and Strimzi's SCRAM users
  are SCRAM-SHA-512 only, so the username and mechanism follow from where the file is.

The hub's file wins when both exist (it names its mechanism; a local stack is SCRAM-SHA-256).
Parsing is pure (`parse_credential_file`, `operator_credential`); `read_credential` only reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services.hubkit.errors import CredentialInvalid, CredentialsMissing

__all__ = [
    "OPERATOR_MECHANISM",
    "BrokerCredential",
    "credential_paths",
    "operator_credential",
    "parse_credential_file",
    "read_credential",
]

OPERATOR_MECHANISM = "SCRAM-SHA-512"
"""The mechanism of every Strimzi KafkaUser with `authentication.type: scram-sha-512`."""
_DEFAULT_MECHANISM = "SCRAM-SHA-256"  # a hub credential file that names none (older stacks)
_MECHANISMS = frozenset({"SCRAM-SHA-256", "SCRAM-SHA-512"})


@dataclass(frozen=True, slots=True)
class BrokerCredential:
    username: str
    password: str = ""
    mechanism: str = _DEFAULT_MECHANISM

    def __repr__(self) -> str:  # never the password, not even in a traceback
        return f"BrokerCredential(username={self.username!r}, mechanism={self.mechanism!r})"


def credential_paths(credentials_dir: Path, principal: str) -> tuple[Path, Path]:
    """Where a principal's credential may be: the hub's file, then the operator's Secret."""
    return credentials_dir / f"{principal}.json", credentials_dir / principal / "password"


def parse_credential_file(text: str, *, principal: str, where: str) -> BrokerCredential:
    """The hub's credential file: a JSON object with username, password and mechanism."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CredentialInvalid(principal, where, f"not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise CredentialInvalid(principal, where, "not a JSON object")
    username, password = data.get("username"), data.get("password")
    mechanism = data.get("mechanism", _DEFAULT_MECHANISM)
    if not isinstance(username, str) or not username:
        raise CredentialInvalid(principal, where, "no username")
    if not isinstance(password, str) or not password:
        raise CredentialInvalid(principal, where, "no password")
    if mechanism not in _MECHANISMS:
        raise CredentialInvalid(principal, where, f"mechanism must be one of {sorted(_MECHANISMS)}")
    return BrokerCredential(username, password, mechanism)


def operator_credential(password_text: str, *, principal: str, where: str) -> BrokerCredential:
    """The operator's Secret: the file holds the password alone (no trailing newline is
    written, but one added by hand is not part of it); the user is the principal."""
    password = password_text.rstrip("\r\n")
    if not password:
        raise CredentialInvalid(principal, where, "the password file is empty")
    return BrokerCredential(principal, password, OPERATOR_MECHANISM)


def read_credential(credentials_dir: Path, principal: str) -> BrokerCredential:
    hub_file, operator_file = credential_paths(credentials_dir, principal)
    try:
        text = hub_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        pass
    else:
        return parse_credential_file(text, principal=principal, where=str(hub_file))
    try:
        password = operator_file.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise CredentialsMissing(
            principal, str(hub_file), operator_path=str(operator_file)
        ) from None
    return operator_credential(password, principal=principal, where=str(operator_file))
