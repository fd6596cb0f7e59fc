"""A private OPA for tests that tamper with bundles: its own bundle store, IG key, bundle
service (in-process) and ports, configured exactly as the stack runner configures the shared
one. The shared stack's OPA is never touched."""

from __future__ import annotations

import datetime as dt
import io
import json
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from services.hubkit.policy_contract import BUNDLE_NAME, revision_from_provenance
from services.policy.bundle_server import serve
from services.policy.publish import BundleStore, PublishResult, publish_bundle
from services.policy.signing import SIGNING_ALGORITHM, provision_ig_signing_key
from services.stack import config
from services.stack.config import Endpoint

__all__ = ["PrivateOpa", "bundle_members", "pack_bundle"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bundle_members(data: bytes) -> dict[str, bytes]:
    """name -> bytes of every file in a bundle tarball."""
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            extracted = archive.extractfile(member)
            if extracted is not None:
                members[member.name] = extracted.read()
    return members


def pack_bundle(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class PrivateOpa:
    def __init__(self, *, opa: Path, root: Path, policies: Path) -> None:
        self.opa = opa
        self.root = root
        self.store = BundleStore.under(root)
        self.keys_dir = root / "keys"
        self.first = self.publish(policies)
        self.key = provision_ig_signing_key(self.keys_dir)
        self._server = serve(self.store.root, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.config = root / "opa-config.json"
        self.config.write_text(
            config.render_opa_bundle_config(
                bundle_service=Endpoint("127.0.0.1", self._server.server_address[1]),
                bundle_name=BUNDLE_NAME,
                key_id=self.key.key_id,
                public_key_pem=self.key.public_key_pem,
                signing_algorithm=SIGNING_ALGORITHM,
                persistence_dir=root / "persist",
            )
        )
        self.addr = Endpoint("127.0.0.1", _free_port())
        self.url = f"http://{self.addr}"
        self.log = root / "opa.log"
        self._process: subprocess.Popen[bytes] | None = None
        try:
            self.start()
        except BaseException:
            self.close()  # never leave an OPA or the bundle service behind
            raise

    def publish(self, policies: Path, **kwargs: Any) -> PublishResult:
        return publish_bundle(
            opa=self.opa,
            policies_dir=policies,
            store=self.store,
            keys_dir=self.keys_dir,
            now=dt.datetime.now(dt.UTC),
            **kwargs,
        )

    def start(self) -> None:
        argv = config.opa_argv(opa=self.opa, addr=self.addr, config_file=self.config)
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.wait_until(self.healthy, "OPA to activate a verified bundle")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health?bundles", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def revision(self) -> str | None:
        body = httpx.get(
            f"{self.url}/v1/data/safehub/isa/agreement", params={"provenance": "true"}
        ).json()
        return revision_from_provenance(body)

    def decide(self, notice: Any) -> dict[str, Any]:
        """The full answer to the gateway's query, provenance included."""
        body: dict[str, Any] = httpx.post(
            f"{self.url}/v1/data/safehub/sharing/decisions",
            params={"provenance": "true"},
            json={"input": {"notice": notice}},
        ).json()
        return body

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def offer(self, data: bytes) -> None:
        """Put bytes where the bundle service serves them: an attacker with write access to
        the bundle store, or on the path between it and OPA, can do no more than this."""
        tmp = self.store.current.with_name(".offer.tmp")
        tmp.write_bytes(data)
        tmp.replace(self.store.current)

    @staticmethod
    def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.2)

    def wait_for_refusal(self, since: int) -> str:
        """The first bundle error OPA logs after byte offset `since` of its log."""

        def refused() -> bool:
            return "Bundle load failed" in self.log_text()[since:]

        self.wait_until(refused, "OPA to refuse the bundle")
        line = next(
            line for line in self.log_text()[since:].splitlines() if "Bundle load failed" in line
        )
        message: str = json.loads(line)["msg"]
        return message
