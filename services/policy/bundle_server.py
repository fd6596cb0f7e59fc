"""A loopback bundle service: OPA polls it for the published, signed policy bundle.

`python -m services.policy.bundle_server --root <published dir> --addr 127.0.0.1:18182`

Why a server at all: OPA's bundle plugin is what verifies a new bundle *before* activating
it and keeps the active one when verification fails, but it only polls HTTP services (a
`file://` resource is read once at start-up, and `opa run --watch` reloads files without
checking signatures at all; both were tried with OPA v1.22.2). The transport is not trusted:
a bundle is accepted only if its signature verifies against the IG public key OPA was
started with, so this server needs no authentication and holds no secrets.

Serves `GET /bundles/<name>.tar.gz` from `<root>/current/<name>.tar.gz` with an ETag (the
file's SHA-256), answering `304 Not Modified` to OPA's `If-None-Match` so each poll costs a
stat and a hash, not a download and re-activation; and `GET /health`.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["BUNDLE_PATH_PREFIX", "BundleRequestHandler", "main", "serve"]

BUNDLE_PATH_PREFIX = "/bundles/"
_NAME = re.compile(r"[A-Za-z0-9_-]+")


class BundleRequestHandler(BaseHTTPRequestHandler):
    server_version = "safehub-bundles"
    sys_version = ""
    root: Path

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._answer(HTTPStatus.OK, b"ok\n", "text/plain")
            return
        name = path.removeprefix(BUNDLE_PATH_PREFIX).removesuffix(".tar.gz")
        # Only plain names: nothing outside <root>/current can ever be served.
        if not path.startswith(BUNDLE_PATH_PREFIX) or not _NAME.fullmatch(name):
            self._answer(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        try:
            body = (self.root / "current" / f"{name}.tar.gz").read_bytes()
        except FileNotFoundError:
            self._answer(HTTPStatus.NOT_FOUND, b"no bundle published\n", "text/plain")
            return
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self._answer(HTTPStatus.OK, body, "application/gzip", etag=etag)

    def _answer(
        self, status: HTTPStatus, body: bytes, content_type: str, *, etag: str | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag is not None:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # OPA polls every second or two; successful polls are not worth a log line.
        return None

    def log_error(self, format: str, *args: object) -> None:
        sys.stderr.write(f"bundle server: {format % args}\n")


def serve(root: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to host:port serving bundles under `root` (call serve_forever)."""
    handler = type("Handler", (BundleRequestHandler,), {"root": root})
    return ThreadingHTTPServer((host, port), handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.policy.bundle_server")
    parser.add_argument("--root", type=Path, required=True, help="the published bundle store")
    parser.add_argument("--addr", required=True, help="127.0.0.1:<port> (loopback only)")
    args = parser.parse_args(argv)
    host, _, port = args.addr.rpartition(":")
    if host != "127.0.0.1" or not port.isdigit():
        parser.error("--addr must be 127.0.0.1:<port>: bundles are served on loopback only")
    server = serve(args.root, host, int(port))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
