"""A small real HTTP server on loopback that stands in for OPA and misbehaves on demand.

Modes: "proxy" forwards to a real policy answer (the running OPA, or a callable); the others
fail the way a real OPA deployment can: down (nothing listening), 5xx, malformed JSON, too
slow, undefined (no `result`), boolean results (look like "allow"!), a result with a
malformed decision, or a 400; and for the batch entrypoint a result that is not an array or
is one entry short. `poisoned` spoils the answer for chosen notices only, the rest of a batch
answered as the real policy does. Thread-based, so it works under any event loop and under
the gateway's real HTTP client.
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

# mode -> the `kind` the gateway reports for it (it asks the batch entrypoint)
FAILURE_MODES = {
    "down": "unreachable",
    "server_error": "server_error",
    "garbage": "malformed_json",
    "slow": "timeout",
    "undefined": "undefined",
    "boolean": "non_object_result",
    "not_an_array": "non_array_result",
    "short": "batch_mismatch",
    "bad_decision": "invalid_result",
    "bad_request": "rejected_query",
}
# mode -> the `kind` of a failed single-notice query, for the modes that fail one
SINGLE_FAILURE_MODES = {
    mode: kind
    for mode, kind in FAILURE_MODES.items()
    if mode not in {"not_an_array", "short", "bad_decision"}
}

BATCH_PATH = "/v1/data/safehub/sharing/batch_decisions"
SINGLE_PATH = "/v1/data/safehub/sharing/decisions"

Answer = Callable[[dict[str, Any]], dict[str, Any]]
"""Request body -> answer body, for either entrypoint ({"notice"} or {"notices"} input)."""


def is_batch(body: dict[str, Any]) -> bool:
    return "notices" in body["input"]


def proxy_to(opa_url: str) -> Answer:
    """Answer with what the real OPA answers for the same input, at the same entrypoint."""
    client = httpx.Client(base_url=opa_url, timeout=10.0)

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        path = BATCH_PATH if is_batch(body) else SINGLE_PATH
        response = client.post(path, json=body)
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
        self.notices_asked = 0
        self.poisoned: dict[str, Any] = {}
        """notice id -> what to answer for that notice instead of the policy's decisions."""
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
                batch = self.path.split("?")[0] == BATCH_PATH
                size = len(body["input"]["notices"]) if batch else 1
                mode = fake.mode
                fake.requests[mode] += 1
                fake.notices_asked += size
                if mode == "server_error":
                    self._send(503, b"OPA is overloaded")
                elif mode == "garbage":
                    self._send(200, b'{"result": {"mash-manager": ')
                elif mode == "undefined":
                    self._send(200, b'{"decision_id": "x"}')
                elif mode == "boolean":
                    self._send(
                        200, json.dumps({"result": [True] * size if batch else True}).encode()
                    )
                elif mode == "not_an_array" and batch:
                    self._send(200, b'{"result": {"mash-manager": {}}}')
                elif mode == "bad_request":
                    self._send(400, b'{"code": "invalid_parameter"}')
                else:
                    if mode == "slow":
                        time.sleep(fake.slow_s)
                    answer = fake._answer(body)
                    results: Any = answer.get("result")  # JSON: a list (batch) or an object
                    if batch and isinstance(results, list):
                        notices = body["input"]["notices"]
                        for index, notice in enumerate(notices):
                            notice_id = (
                                notice.get("notice_id") if isinstance(notice, dict) else None
                            )
                            if notice_id in fake.poisoned:
                                results[index] = fake.poisoned[notice_id]
                        if mode == "short":
                            del results[-1]
                    if mode == "bad_decision":
                        for decisions in results if batch else [results]:
                            for decision in decisions.values():
                                decision["outcome"] = "ALLOW"
                    self._send(200, json.dumps(answer).encode())

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
