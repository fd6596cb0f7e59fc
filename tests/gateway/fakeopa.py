"""A small real HTTP server on loopback that stands in for OPA and misbehaves on demand.

Modes: "proxy" forwards to a real policy answer (the running OPA, or a callable); the others
fail the way a real OPA deployment can: down (nothing listening), 5xx, malformed JSON, too
slow, undefined (no `result`), a boolean result (looks like "allow"!), a result with a
malformed decision, or a 400. Thread-based, so it works under any event loop and under the
gateway's real httpx client.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["FAILURE_MODES", "FakeOpa"]

# mode -> the `kind` the gateway reports for it
FAILURE_MODES = {
    "down": "unreachable",
    "server_error": "server_error",
    "garbage": "malformed_json",
    "slow": "timeout",
    "undefined": "undefined",
    "boolean": "non_object_result",
    "bad_decision": "invalid_result",
    "bad_request": "rejected_query",
}

Answer = Callable[[dict[str, Any]], dict[str, Any]]


def proxy_to(opa_url: str) -> Answer:
    """Answer with what the real OPA answers for the same input."""
    client = httpx.Client(base_url=opa_url, timeout=10.0)

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        response = client.post("/v1/data/safehub/sharing/decisions", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    answer.close = client.close  # type: ignore[attr-defined]
    return answer


class FakeOpa:
    def __init__(self, answer: Answer, *, slow_s: float = 1.0) -> None:
        self._answer = answer
        self.mode = "proxy"
        self.slow_s = slow_s
        self.requests: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeOpa:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def setup(self) -> None:
                super().setup()
                with fake._connections_lock:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake._connections_lock:
                    fake._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                mode = fake.mode
                fake.requests[mode] += 1
                if mode == "server_error":
                    self._send(503, b"OPA is overloaded")
                elif mode == "garbage":
                    self._send(200, b'{"result": {"mash-manager": ')
                elif mode == "undefined":
                    self._send(200, b'{"decision_id": "x"}')
                elif mode == "boolean":
                    self._send(200, b'{"result": true}')
                elif mode == "bad_request":
                    self._send(400, b'{"code": "invalid_parameter"}')
                elif mode == "bad_decision":
                    answer = fake._answer(body)
                    for decision in answer["result"].values():
                        decision["outcome"] = "ALLOW"
                    self._send(200, json.dumps(answer).encode())
                else:
                    if mode == "slow":
                        time.sleep(fake.slow_s)
                    self._send(200, json.dumps(fake._answer(body)).encode())

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                # The client may have given up (a timeout): that is the point of "slow".
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until start() again (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:  # kept-alive connections die with the server
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def set_mode(self, mode: str) -> None:
        if mode == "down":
            self.stop()
        elif self._server is None:
            self.start()
        self.mode = mode
