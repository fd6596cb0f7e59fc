"""The local identity provider under real uvicorn on a free loopback port (a background
thread), for tests where a command or a browser reaches it over the network."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from services.hubkit.settings import HubSettings
from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from services.identity.users import (
    DEFAULT_USERS_FILE,
    UserDirectory,
    load_dev_passwords,
    provision_credentials,
)

__all__ = ["free_port", "password_of", "served_identity"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_identity(
    data_dir: Path, *, public_issuer: str | None = None, **settings: Any
) -> Iterator[str]:
    """The identity provider, its state under `data_dir`/identity, serving; its loopback URL,
    which is its issuer unless `public_issuer` is given (as behind an ingress: tokens then
    name `public_issuer`, and the loopback URL is one of its internal URLs)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if public_issuer is not None:
        settings = {"internal_urls": (url,), **settings}
    identity = IdentitySettings(issuer=public_issuer or url, **settings)
    app = create_app(HubSettings(data_dir=data_dir), identity)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="none",
            timeout_graceful_shutdown=2,  # never wait on a client's kept-alive connection
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the identity provider did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def password_of(state_dir: Path, username: str) -> str:
    """A synthetic user's generated development password (made on first use)."""
    provision_credentials(state_dir, UserDirectory.load(DEFAULT_USERS_FILE))
    return load_dev_passwords(state_dir)[username]
