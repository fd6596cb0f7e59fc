"""Files that hold secrets or state, written one way everywhere.

Three needs, each with its own function, because they race differently:

- `create_private`: a secret made once (a signing key, the linkage secret, a store key).
  O_EXCL, so when two processes start together exactly one file wins and both then use it; a
  key whose private and public halves came from different processes cannot happen.
  `ensure_private` is the usual way to call it: the secret, made on first use.
- `write_private`: a secret-bearing file rewritten whole (credentials, password hashes):
  owner-only (0600) from its first byte, replaced in one step so a reader never sees half.
- `write_atomically`: a file that is not secret but must never be seen half-written.

Directories that hold secrets are owner-only (`private_dir`). `exclusive_lock` serialises
processes that change the same files (a release store, a download cache).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "create_private",
    "ensure_private",
    "exclusive_lock",
    "pkcs8_pem",
    "private_dir",
    "write_atomically",
    "write_private",
]

_PRIVATE_FILE = 0o600
_PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """`path` as a directory readable by its owner only (created if missing).

    A shared directory (the sticky bit, like /tmp) is left as it is: a private file made in
    it is 0600 itself, and making /tmp owner-only would lock every other user out of it
    (PostgreSQL's initdb, running unprivileged, among them)."""
    path.mkdir(parents=True, exist_ok=True, mode=_PRIVATE_DIR)
    if not path.stat().st_mode & stat.S_ISVTX:
        path.chmod(_PRIVATE_DIR)
    return path


def create_private(path: Path, data: bytes) -> bool:
    """Create `path` (0600, in an owner-only directory) holding `data`, unless it exists.

    True when this call created it; False when it was there already (perhaps made by another
    process a moment ago): the caller then reads and uses that one.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=_PRIVATE_DIR)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def ensure_private(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of the secret file `path`, created from `make()` (as `create_private`)
    when it is missing. When processes race to create it, every one of them gets the one file
    that won, so a public half derived from the result always matches the private key."""
    if not path.exists():  # make() may generate a key pair: not for a file already there
        create_private(path, make())
    return path.read_bytes()


def pkcs8_pem(key: PrivateKeyTypes) -> bytes:
    """How the hub writes a private key to its (owner-only) file: unencrypted PKCS#8 PEM,
    which OpenSSL, OPA, Kafka's PEM keystore and uvicorn all read."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _temporary_beside(path: Path) -> Path:
    # Unique per writer: two processes replacing the same file never share a temporary.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _replace(path: Path, data: bytes, mode: int) -> None:
    tmp = _temporary_beside(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` in one step, owner-only (0600) from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=_PRIVATE_DIR)
    _replace(path, data.encode() if isinstance(data, str) else data, _PRIVATE_FILE)


def write_atomically(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` in one step (mode 0644 before the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, data.encode() if isinstance(data, str) else data, 0o644)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
