"""The hub's side of C2SP tlog-witness: submit a signed checkpoint to the partners' witnesses
and keep their cosignatures (`services.audit.cosignatures`).

Per witness: POST `<url>/add-checkpoint` with the size the hub believes the witness last
cosigned and the consistency proof from it. On 409 the witness's body (`text/x.tlog.size`)
says its real size: the hub fetches the proof from that size and resubmits once. A 200's
cosignature line is verified with the witness's key from the policy before it is stored, so a
stored cosignature is always one a partner's verifier accepts.

A witness's failure (down, a refusal, an answer that does not verify) is reported per witness
in the `WitnessRound`, not raised; a storage failure is raised. The indexer logs either and
tries again at the next tick (`service.AuditIndexer.witness_latest`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.errors import AuditError
from services.audit.domain.witnessing import (
    PolicyWitness,
    WitnessPolicy,
    add_checkpoint_body,
    quorum_met,
)
from services.audit.storage import AuditStore, StoredCheckpoint, consistency_proof_between
from services.hubkit.cosignature import Cosignature, verify_cosignature
from services.hubkit.errors import NoteMalformed, NoteUnverified
from services.hubkit.signed_note import decode_note, decode_signature_lines
from services.hubkit.tlog_witness import SIZE_CONTENT_TYPE, decode_size

__all__ = ["WitnessFailed", "WitnessRound", "WitnessSubmitter"]

log = logging.getLogger("safehub.audit.witnessing")


class WitnessFailed(AuditError):
    """A witness did not cosign: unreachable, refused (its status and reason), or its answer
    did not verify with the key the policy lists for it."""

    def __init__(self, witness: str, reason: str, *, status: int | None = None) -> None:
        self.witness = witness
        self.status = status
        super().__init__(f"witness {witness}: {reason}")


@dataclass(frozen=True, slots=True)
class WitnessRound:
    """What one checkpoint's submission to every witness came to."""

    tree_size: int
    cosigned: dict[str, Cosignature]
    failed: dict[str, WitnessFailed]
    quorum_met: bool


class WitnessSubmitter:
    def __init__(
        self,
        *,
        policy: WitnessPolicy,
        http: httpx.AsyncClient,
        store: AuditStore,
        cosignatures: CosignatureStore,
        owns_http: bool = False,
    ) -> None:
        self._policy = policy
        self._http = http
        self._owns_http = owns_http
        self._store = store
        self._cosignatures = cosignatures

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def witness_checkpoint(self, stored: StoredCheckpoint) -> WitnessRound:
        """Submit one checkpoint to every witness with a URL, concurrently."""
        witnesses = [w for w in self._policy.witnesses if w.url]
        results = await asyncio.gather(
            *(self.submit(w, stored) for w in witnesses), return_exceptions=True
        )
        cosigned: dict[str, Cosignature] = {}
        failed: dict[str, WitnessFailed] = {}
        for witness, result in zip(witnesses, results, strict=True):
            if isinstance(result, WitnessFailed):
                failed[witness.name] = result
            elif isinstance(result, BaseException):
                raise result
            else:
                cosigned[witness.name] = result
        # Cosignatures kept from an earlier round (e.g. a witness that answered before a
        # restart) count as well.
        kept = await asyncio.to_thread(
            self._cosignatures.for_checkpoint, stored.checkpoint.tree_size
        )
        kept_keys = {(c.name, c.key_id) for c in kept}
        stored_names = {
            w.name for w in self._policy.witnesses if (w.key.name, w.key.key_id) in kept_keys
        }
        return WitnessRound(
            tree_size=stored.checkpoint.tree_size,
            cosigned=cosigned,
            failed=failed,
            quorum_met=quorum_met(self._policy, stored_names | set(cosigned)),
        )

    async def submit(self, witness: PolicyWitness, stored: StoredCheckpoint) -> Cosignature:
        """Cosign `stored` by one witness, with one resubmission after a 409."""
        size = stored.checkpoint.tree_size
        old_size = await asyncio.to_thread(self._cosignatures.witness_size, witness.key.name)
        if old_size > size:
            old_size = 0  # the witness is ahead of what we send: let its 409 say where
        response = await self._post(witness, stored, old_size)
        if response.status_code == 409:
            if response.headers.get("content-type") != SIZE_CONTENT_TYPE:
                raise WitnessFailed(witness.name, "409 without a text/x.tlog.size body", status=409)
            try:
                old_size = decode_size(response.content)
            except NoteMalformed as error:
                raise WitnessFailed(witness.name, error.reason, status=409) from error
            if old_size > size:
                record = self._cosignatures.set_witness_size
                await asyncio.to_thread(record, witness.key.name, old_size)
                raise WitnessFailed(
                    witness.name,
                    f"it has cosigned size {old_size}, beyond this checkpoint ({size}); the "
                    "next checkpoint catches up",
                    status=409,
                )
            response = await self._post(witness, stored, old_size)
        if response.status_code != 200:
            raise WitnessFailed(
                witness.name,
                f"answered {response.status_code}: {response.text.strip()[:200]}",
                status=response.status_code,
            )
        cosignature = _verified(witness, stored, response.content)
        await asyncio.to_thread(self._cosignatures.add, size, cosignature)
        return cosignature

    async def _post(
        self, witness: PolicyWitness, stored: StoredCheckpoint, old_size: int
    ) -> httpx.Response:
        size = stored.checkpoint.tree_size
        proof: tuple[bytes, ...] = ()
        if 0 < old_size < size:
            consistency = await asyncio.to_thread(
                consistency_proof_between, self._store, old_size=old_size, new_size=size
            )
            proof = tuple(consistency.path)
        body = add_checkpoint_body(old_size=old_size, proof=proof, note=stored.note)
        assert witness.url is not None
        try:
            return await self._http.post(f"{witness.url.rstrip('/')}/add-checkpoint", content=body)
        except httpx.HTTPError as error:
            raise WitnessFailed(witness.name, f"unreachable ({type(error).__name__})") from error


def _verified(witness: PolicyWitness, stored: StoredCheckpoint, answer: bytes) -> Cosignature:
    """The answer's line by this witness's key, verified over the checkpoint we sent."""
    text = decode_note(stored.note).text
    try:
        lines = decode_signature_lines(answer)
    except NoteMalformed as error:
        raise WitnessFailed(witness.name, f"unreadable answer: {error.reason}") from error
    for line in lines:
        if (line.key_name, line.key_id) != (witness.key.name, witness.key.key_id):
            continue
        try:
            return verify_cosignature(text, line, witness.key)
        except (NoteMalformed, NoteUnverified) as error:
            raise WitnessFailed(witness.name, error.reason) from error
    raise WitnessFailed(
        witness.name,
        f"no cosignature by its key {witness.key.name}+{witness.key.key_id.hex()} in the answer; "
        "check the witness's verifier key in the policy",
    )
