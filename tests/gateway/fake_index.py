"""A child index and token endpoint on loopback for a gateway started as its own process
(`safehub gateway run`), whose child index client cannot be replaced in process: it answers
every token request and the empty context of every child asked about (what the gateway's
tests with the fake index in process get, tests/gateway/loop_fakes.py FakeChildContext).

The gateway's own tests are about the gateway; the child index itself is tested in
tests/childindex, and the two together as the world uses them in the integration tests.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.hubkit.child_context import empty_context

__all__ = ["FakeChildIndex"]


class FakeChildIndex:
    def __init__(self) -> None:
        self.observed: set[str] = set()
        self.requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def gateway_env(self) -> dict[str, str]:
        """The settings that point a gateway process here."""
        return {
            "SAFEHUB_GATEWAY_CHILD_INDEX_URL": self.url,
            "SAFEHUB_GATEWAY_TOKEN_ENDPOINT": f"{self.url}/token",
        }

    def start(self) -> FakeChildIndex:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path == "/token":
                    self._send({"access_token": "fake", "token_type": "Bearer", "expires_in": 3600})
                    return
                asked = json.loads(body)
                with fake._lock:
                    fake.requests += 1
                    fake.observed.update(o["notice_id"] for o in asked["observations"])
                children = asked["children"]
                self._send({"contexts": {child: empty_context(child) for child in children}})

            def _send(self, document: dict[str, Any]) -> None:
                payload = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
