"""People who sign in (authorization code + PKCE): a user directory kept as data, and
generated development passwords checked against scrypt hashes.

    services/identity/synthetic-users.json     who exists: username, opaque subject, name,
                                               roles, organisation, agency (no passwords)
    <state_dir>/users/credentials.json         scrypt hash per username (what is checked)
    <state_dir>/users/dev-passwords.txt        the generated passwords, for people running
                                               the demo and for tests (0600, dev only)

Passwords are never in the repository or in code: `provision_credentials` generates one for
each user that has none yet, on first start. A real deployment replaces this whole module
with its IdP's directory; the console only sees the ID token's claims.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_USERS_FILE",
    "LoginThrottle",
    "PasswordCheck",
    "User",
    "UserDirectory",
    "hash_password",
    "load_dev_passwords",
    "provision_credentials",
    "verify_password",
]

DEFAULT_USERS_FILE = Path(__file__).with_name("synthetic-users.json")
_USERNAME = re.compile(r"^[a-z][a-z0-9.\-]{1,63}$")
# scrypt cost: interactive-login parameters (RFC 7914 section 2 suggests N=2^14 for them).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True, slots=True)
class User:
    username: str
    subject: str
    name: str
    roles: tuple[str, ...]
    organisation: str
    agency: str

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> User:
        username = str(data["username"])
        if not _USERNAME.fullmatch(username):
            raise ValueError(f"username {username!r} must match {_USERNAME.pattern}")
        roles = tuple(str(r) for r in data["roles"])
        if not roles:
            raise ValueError(f"user {username!r} has no roles")
        return User(
            username=username,
            subject=str(data["subject"]),
            name=str(data["name"]),
            roles=roles,
            organisation=str(data["organisation"]),
            agency=str(data["agency"]),
        )


class UserDirectory:
    """The users, by username. Loaded once at start-up (the file is data, not code)."""

    def __init__(self, users: Iterable[User]) -> None:
        self._users: dict[str, User] = {}
        subjects: set[str] = set()
        for user in users:
            if user.username in self._users or user.subject in subjects:
                raise ValueError(f"user {user.username!r} or its subject is listed twice")
            self._users[user.username] = user
            subjects.add(user.subject)

    @staticmethod
    def load(path: Path) -> UserDirectory:
        raw = json.loads(path.read_text())
        return UserDirectory(User.from_json(u) for u in raw["users"])

    def get(self, username: str) -> User | None:
        return self._users.get(username)

    def by_subject(self, subject: str) -> User | None:
        return next((u for u in self._users.values() if u.subject == subject), None)

    def __iter__(self) -> Iterator[User]:
        return iter(self._users.values())


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$<salt>$<hash>` (base64), so parameters can be raised later."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


# A hash to check against when the username is unknown, so a failed sign-in takes the same
# time whether or not the user exists (no username enumeration by timing).
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


class PasswordCheck:
    """Checks a username and password against the stored hashes."""

    def __init__(
        self, directory: UserDirectory, load_hashes: Callable[[], Mapping[str, str]]
    ) -> None:
        self._directory = directory
        self._load_hashes = load_hashes
        self._hashes: Mapping[str, str] | None = None

    @staticmethod
    def from_state(directory: UserDirectory, state_dir: Path) -> PasswordCheck:
        """Hashes from `<state_dir>/users`, generating missing passwords on the first sign-in
        attempt rather than at start-up: most starts of the identity service (adapter tests,
        integrators) never sign a person in, and scrypt is deliberately slow."""

        def load() -> Mapping[str, str]:
            provision_credentials(state_dir, directory)
            hashes: dict[str, str] = json.loads(
                (state_dir / "users" / "credentials.json").read_text()
            )
            return hashes

        return PasswordCheck(directory, load)

    def check(self, username: str, password: str) -> User | None:
        if self._hashes is None:
            self._hashes = self._load_hashes()
        user = self._directory.get(username)
        encoded = self._hashes.get(username) if user else None
        ok = verify_password(password, encoded or _DUMMY_HASH)
        return user if ok and user and encoded else None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def load_dev_passwords(state_dir: Path) -> dict[str, str]:
    """The generated passwords (`username password` per line); empty if none yet."""
    path = state_dir / "users" / "dev-passwords.txt"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    passwords: dict[str, str] = {}
    for line in lines:
        if line and not line.startswith("#"):
            username, _, password = line.partition(" ")
            passwords[username] = password
    return passwords


_LOCK = threading.Lock()


def provision_credentials(
    state_dir: Path,
    directory: UserDirectory,
    *,
    new_password: Callable[[], str] = lambda: secrets.token_urlsafe(12),
) -> Path:
    """Give every user in `directory` a generated password unless it has one. Idempotent.

    Returns the dev-passwords file. Both files are rewritten atomically with mode 0600.
    """
    users_dir = state_dir / "users"
    credentials_path = users_dir / "credentials.json"
    passwords_path = users_dir / "dev-passwords.txt"
    with _LOCK:
        try:
            hashes: dict[str, str] = json.loads(credentials_path.read_text())
        except FileNotFoundError:
            hashes = {}
        passwords = load_dev_passwords(state_dir)
        missing = [u for u in directory if u.username not in hashes]
        if not missing and passwords_path.exists():
            return passwords_path
        for user in missing:
            password = new_password()
            passwords[user.username] = password
            hashes[user.username] = hash_password(password)
        header = (
            "# SYNTHETIC development users of the local identity provider: username password\n"
            "# Generated on first start; delete this directory to generate new ones.\n"
        )
        body = "".join(f"{name} {pw}\n" for name, pw in sorted(passwords.items()))
        _write_private(passwords_path, header + body)
        _write_private(credentials_path, json.dumps(hashes, indent=2, sort_keys=True) + "\n")
    return passwords_path


class LoginThrottle:
    """Slows password guessing: after `max_failures` failed sign-ins for one username within
    `window_s`, that username is locked for `lockout_s`. In memory, per process."""

    def __init__(self, *, max_failures: int = 5, window_s: float = 900, lockout_s: float = 300):
        self._max = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, username: str, now: float) -> bool:
        with self._lock:
            return self._locked_until.get(username, 0.0) > now

    def failed(self, username: str, now: float) -> None:
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if t > now - self._window]
            recent.append(now)
            self._failures[username] = recent
            if len(recent) >= self._max:
                self._locked_until[username] = now + self._lockout
                self._failures[username] = []

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)
