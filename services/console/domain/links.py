"""Stable links: the URL of a child's page, the same for everyone and in every session, and
the page a person asked for before signing in. Pure (no I/O: the key is passed in).

A child's URL names the child by an opaque id: the child's linkage key encrypted under a key
only the console holds (AES-SIV, RFC 5297, which is deterministic: one key, one id, so a link
pasted into case notes, bookmarked or sent to a colleague keeps working, across sessions and
restarts). The raw linkage key never reaches the browser: it is stable across the whole hub,
so in browser history, proxy logs or a pasted link it would let anyone holding other hub data
join records about one child; the id means nothing without the console's key, and a forged
or altered id does not decrypt (SIV authenticates). Why not the per-session handle this
replaced: links died with the session (issue 16). What a link does NOT do is authorise:
every request is checked against the signed-in person's own feed (routes/dependencies.py
`Viewer.child_key`), and anything else is the audited refusal.

Rotating the key (a new key file) breaks every saved child link, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

__all__ = ["LINK_KEY_BYTES", "ChildLinks", "safe_return_path"]

LINK_KEY_BYTES = 64
"""AES-256-SIV: two 256-bit keys."""

_HEX_KEY = re.compile(r"[0-9a-f]{64}")
_HEX, _TEXT = b"\x00", b"\x01"  # what the plaintext is: a hex linkage key (all real ones), or text
_MAX_LINK = 256


class ChildLinks:
    """Child key <-> the opaque id in a child page's URL, under the console's link key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != LINK_KEY_BYTES:
            raise ValueError(f"a child link key is {LINK_KEY_BYTES} bytes, not {len(key)}")
        self._siv = AESSIV(key)

    @classmethod
    def random(cls) -> ChildLinks:
        """A key of its own (a console built without a key file: unit tests)."""
        return cls(secrets.token_bytes(LINK_KEY_BYTES))

    def link_for(self, child_key: str) -> str:
        """The id for `child_key`: always the same for the same key (66 URL-safe characters
        for a 64-hex linkage key)."""
        if _HEX_KEY.fullmatch(child_key):
            plain = _HEX + bytes.fromhex(child_key)
        else:
            plain = _TEXT + child_key.encode("utf-8", "surrogatepass")
        sealed = self._siv.encrypt(plain, None)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def child_key(self, link: str) -> str | None:
        """The key an id stands for; None for anything this console did not make."""
        if not link or len(link) > _MAX_LINK or not link.isascii():
            return None
        try:
            sealed = base64.urlsafe_b64decode(link + "=" * (-len(link) % 4))
            plain = self._siv.decrypt(sealed, None)
        except (InvalidTag, ValueError, binascii.Error):
            return None
        kind, body = plain[:1], plain[1:]
        if kind == _HEX and len(body) == 32:
            return body.hex()
        if kind == _TEXT:
            return body.decode("utf-8", "surrogatepass")
        return None


_NOT_RETURNED_TO = ("/login", "/logout", "/auth/", "/live/", "/static/", "/signed-out")


def safe_return_path(value: object) -> str | None:
    """`value` when it is a path on this console a person may be sent back to after signing
    in; None otherwise. Only same-origin relative paths: no scheme, no host, not
    protocol-relative (`//evil`, `/\\evil`, which browsers read as another host), no control
    characters, and not the sign-in machinery itself (no loops) nor a live fragment."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2048:
        return None
    if value.startswith("//") or "\\" in value or any(ch <= " " or ch == "\x7f" for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    path = parts.path
    if any(path == p.rstrip("/") or path.startswith(p) for p in _NOT_RETURNED_TO):
        return None
    return value
