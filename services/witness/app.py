"""The witness's HTTP edge: `POST /add-checkpoint` (C2SP tlog-witness) and the one wiring
point, `create_app`. Each request: read (pure), then under the origin's lock load the state,
decide (pure), persist, cosign. Log lines name the origin and sizes only (no note content).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from services.hubkit.cosignature import cosigner_verifier_key
from services.hubkit.private_files import ensure_private, pkcs8_pem
from services.hubkit.settings import HubSettings
from services.hubkit.signed_note import VerifierKey
from services.hubkit.tlog_witness import SIZE_CONTENT_TYPE, encode_size
from services.witness.domain import (
    Cosign,
    Refuse,
    SizeConflict,
    WitnessedLog,
    cosignature_lines,
    decide,
    read_submission,
    witnessed_logs,
)
from services.witness.settings import WitnessSettings
from services.witness.state_files import StateFiles

__all__ = ["Witness", "create_app", "load_witness_key", "witness_verifier_key"]

_log = logging.getLogger("safehub.witness")


def load_witness_key(settings: WitnessSettings, hub: HubSettings) -> Ed25519PrivateKey:
    """The witness's Ed25519 key, made on first start (0600, owner-only directory)."""
    pem = ensure_private(settings.key_path(hub), lambda: pkcs8_pem(Ed25519PrivateKey.generate()))
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{settings.key_path(hub)} does not hold an Ed25519 private key")
    return key


def witness_verifier_key(settings: WitnessSettings, hub: HubSettings) -> VerifierKey:
    """What the hub and partners configure to check this witness (`safehub witness key`)."""
    return cosigner_verifier_key(settings.name, load_witness_key(settings, hub).public_key())


class Witness:
    """Everything a request needs, built once at startup."""

    def __init__(
        self,
        *,
        name: str,
        key: Ed25519PrivateKey,
        logs: dict[str, WitnessedLog],
        states: StateFiles,
        max_request_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self.name = name
        self.key = key
        self.logs = logs
        self.states = states
        self.max_request_bytes = max_request_bytes
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> Response:
        submission = read_submission(body, self.logs)
        if isinstance(submission, Refuse):
            return _refusal(submission)
        origin = submission.checkpoint.origin
        with self.states.locked(origin):
            stored = self.states.load(origin)
            answer = decide(submission, stored)
            if isinstance(answer, Cosign):
                self.states.save(answer.state)
        if isinstance(answer, SizeConflict):
            return Response(
                encode_size(answer.current_size),
                status_code=HTTPStatus.CONFLICT,
                # Exactly this type (tlog-witness); media_type= would append a charset.
                headers={"content-type": SIZE_CONTENT_TYPE},
            )
        if isinstance(answer, Refuse):
            # Possible evidence of a forked log (tlog-witness lets a witness keep it): say so.
            _log.warning(
                "refused checkpoint of %r at size %d (%d): %s",
                origin,
                submission.checkpoint.tree_size,
                answer.status,
                answer.reason,
            )
            return _refusal(answer)
        _log.info("cosigned %r at size %d", origin, answer.state.size)
        lines = cosignature_lines(
            submission, name=self.name, private_key=self.key, timestamp=int(self.clock())
        )
        return Response(lines, status_code=HTTPStatus.OK, media_type="text/plain; charset=utf-8")


def _refusal(refusal: Refuse) -> Response:
    return PlainTextResponse(refusal.reason + "\n", status_code=refusal.status)


def _witness(request: Request) -> Witness:
    witness: Witness = request.app.state.witness
    return witness


def create_app(
    settings: WitnessSettings | None = None,
    hub: HubSettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The witness app. Key, logs and state directory are read here, so a bad configuration
    fails at start with its reason (NoteMalformed naming the file and line)."""
    settings = settings or WitnessSettings()
    hub = hub or HubSettings()
    logs = witnessed_logs(settings.log_keys(hub))
    witness = Witness(
        name=settings.name,
        key=load_witness_key(settings, hub),
        logs=logs,
        states=StateFiles(settings.state_dir(hub)),
        max_request_bytes=settings.max_request_bytes,
        clock=clock,
    )
    app = FastAPI(title="safehub witness (C2SP tlog-witness)", docs_url=None, redoc_url=None)
    app.state.witness = witness

    @app.post("/add-checkpoint")
    async def add_checkpoint(
        request: Request, witness: Annotated[Witness, Depends(_witness)]
    ) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > witness.max_request_bytes:
                return PlainTextResponse(
                    f"request body over {witness.max_request_bytes} bytes\n",
                    status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                )
        # File locks and fsync block: run them off the event loop.
        return await run_in_threadpool(witness.add_checkpoint, bytes(body))

    return app
