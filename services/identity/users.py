"""People who sign in (authorization code + PKCE): a user directory kept as data, and
generated development passwords checked against scrypt hashes.

    services/identity/synthetic-users.json     who exists: username, opaque subject, name,
                                               roles, organisation, agency (no passwords)
    <state_dir>/users/credentials.json         scrypt hash (per-user salt) per username:
                                               all the identity provider keeps, and all
                                               it reads
    <state_dir>-dev-passwords.txt              beside the state dir, never in it: the
                                               generated passwords, for the developer
                                               running the demo and for tests (0600, dev
                                               only; `dev_passwords_file`)

Passwords are never in the repository, in code, on stdout or in logs: the developer tools
(`safehub demo`, `safehub console users|serve`, `safehub cpis token`) call
`provision_credentials`, which generates one for each user that has none yet and prints
nothing; they print the handout file's path. The identity provider itself only checks
hashes, on worker threads (`ThreadedPasswordCheck`: scrypt is deliberately slow and must not
stall the event loop it shares with the adapters). A real deployment replaces this whole
module with its IdP's directory; the console only sees the ID token's claims.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from services.hubkit.private_files import write_private

__all__ = [
    "DEFAULT_USERS_FILE",
    "LoginThrottle",
    "PasswordCheck",
    "PasswordCheckBusy",
    "ThreadedPasswordCheck",
    "User",
    "UserDirectory",
    "dev_passwords_file",
    "hash_password",
    "load_dev_passwords",
    "provision_credentials",
    "verify_password",
]

log = logging.getLogger("safehub.identity")

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
    """Checks a username and password against the stored hashes (blocking: scrypt).

    Hashes are read from `<state_dir>/users/credentials.json`, again whenever the file
    changes (a developer tool may provision users after this service started). Safe to call
    from several threads."""

    def __init__(self, directory: UserDirectory, credentials_path: Path) -> None:
        self._directory = directory
        self._path = credentials_path
        self._hashes: Mapping[str, str] = {}
        self._version: int | None = None
        self._lock = threading.Lock()

    @staticmethod
    def from_state(directory: UserDirectory, state_dir: Path) -> PasswordCheck:
        return PasswordCheck(directory, state_dir / "users" / "credentials.json")

    def _current_hashes(self) -> Mapping[str, str]:
        with self._lock:
            try:
                version = self._path.stat().st_mtime_ns
            except FileNotFoundError:
                if self._version != -1:
                    log.warning(
                        "no sign-in credentials are provisioned, so nobody can sign in; "
                        "run `safehub console users` to create the development users"
                    )
                    self._hashes, self._version = {}, -1
                return self._hashes
            if version != self._version:
                self._hashes = json.loads(self._path.read_text())
                self._version = version
            return self._hashes

    def check(self, username: str, password: str) -> User | None:
        hashes = self._current_hashes()
        user = self._directory.get(username)
        encoded = hashes.get(username) if user else None
        ok = verify_password(password, encoded or _DUMMY_HASH)
        return user if ok and user and encoded else None


class PasswordCheckBusy(Exception):
    """Too many sign-ins are already waiting for a password check: answer 503, retry later."""


class ThreadedPasswordCheck:
    """`PasswordCheck` on worker threads, so its scrypt never blocks the event loop.

    At most `threads` checks run at once (a capacity limiter, not the default thread pool,
    so a flood cannot take every worker thread the process has), and at most `queue` more
    wait; any sign-in beyond that is refused at once with `PasswordCheckBusy`."""

    def __init__(self, check: PasswordCheck, *, threads: int, queue: int) -> None:
        self._check = check
        self._limiter = anyio.CapacityLimiter(threads)
        self._queue = queue

    async def check(self, username: str, password: str) -> User | None:
        if self._limiter.statistics().tasks_waiting >= self._queue:
            raise PasswordCheckBusy("too many sign-ins are waiting for a password check")
        return await anyio.to_thread.run_sync(
            self._check.check, username, password, limiter=self._limiter
        )


def dev_passwords_file(state_dir: Path) -> Path:
    """Where the generated development passwords are handed to the developer: beside the
    identity state dir (`var/identity` -> `var/identity-dev-passwords.txt`), never inside
    it, so the identity provider's own store holds hashes only."""
    return state_dir.parent / f"{state_dir.name}-dev-passwords.txt"


# Where earlier versions kept the generated passwords: inside the identity's user store.
_LEGACY_PASSWORDS = Path("users") / "dev-passwords.txt"


def _read_passwords(path: Path) -> dict[str, str]:
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


def load_dev_passwords(state_dir: Path) -> dict[str, str]:
    """The generated passwords (`username password` per line of `dev_passwords_file`);
    empty if none yet."""
    return _read_passwords(dev_passwords_file(state_dir))


_LOCK = threading.Lock()


def provision_credentials(
    state_dir: Path,
    directory: UserDirectory,
    *,
    new_password: Callable[[], str] = lambda: secrets.token_urlsafe(12),
) -> Path:
    """Give every user in `directory` a generated password unless it has one. Idempotent.

    The identity store gets only the scrypt hashes; the passwords go to the developer's
    handout (`dev_passwords_file`). A user whose password is no longer in the handout (it
    was deleted) gets a new one: a developer can always sign in. Returns the handout's path.
    Both files are rewritten atomically with mode 0600; nothing is printed or logged.
    """
    users_dir = state_dir / "users"
    credentials_path = users_dir / "credentials.json"
    passwords_path = dev_passwords_file(state_dir)
    legacy_path = state_dir / _LEGACY_PASSWORDS
    with _LOCK:
        try:
            hashes: dict[str, str] = json.loads(credentials_path.read_text())
        except FileNotFoundError:
            hashes = {}
        # Passwords an earlier version kept inside the store move out to the handout.
        passwords = {**_read_passwords(legacy_path), **_read_passwords(passwords_path)}
        missing = [u for u in directory if u.username not in hashes or u.username not in passwords]
        if not missing and passwords_path.exists() and not legacy_path.exists():
            return passwords_path
        for user in missing:
            password = new_password()
            passwords[user.username] = password
            hashes[user.username] = hash_password(password)
        header = (
            "# SYNTHETIC development users of the local identity provider: username password\n"
            f"# The identity provider keeps only their scrypt hashes ({credentials_path}).\n"
            "# Delete a line (or this file) to have a new password generated.\n"
        )
        body = "".join(f"{name} {pw}\n" for name, pw in sorted(passwords.items()))
        write_private(passwords_path, header + body)
        write_private(credentials_path, json.dumps(hashes, indent=2, sort_keys=True) + "\n")
        legacy_path.unlink(missing_ok=True)
    return passwords_path


class LoginThrottle:
    """Slows password guessing: after `max_failures` sign-in attempts for one username within
    `window_s` that did not succeed, that username is locked for `lockout_s`. In memory, per
    process.

    An attempt counts as failed from the moment it is admitted until `succeeded` says
    otherwise: the password check is slow and runs off the event loop, so guesses sent in
    parallel would otherwise all pass the lock check before the first failure was counted."""

    def __init__(self, *, max_failures: int = 5, window_s: float = 900, lockout_s: float = 300):
        self._max = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, username: str, now: float) -> bool:
        """Whether an attempt for `username` may have its password checked; counts it."""
        with self._lock:
            if self._locked_until.get(username, 0.0) > now:
                return False
            recent = [t for t in self._failures.get(username, []) if t > now - self._window]
            recent.append(now)
            self._failures[username] = recent
            if len(recent) >= self._max:
                self._locked_until[username] = now + self._lockout
                self._failures[username] = []
            return True

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)
            self._locked_until.pop(username, None)
