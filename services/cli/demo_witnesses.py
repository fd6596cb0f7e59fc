"""The demo's partner witnesses (issue 19): the council's and the police's witness (`safehub
witness serve`, `services/witness/`), run as part of the local hub, and the C2SP tlog-policy
the demo's audit indexer submits every checkpoint with: "2 of council, police".

Each witness keeps its key and state under `<data_dir>/witnesses/<partner>/` (`var/` by
default, never in the repository); the policy is written to
`<data_dir>/witnesses/partners.policy` on each start (it names the local ports). A policy the
operator configured (`SAFEHUB_AUDIT_WITNESS_POLICY_PATH`) wins: the demo then runs no
witnesses of its own and the indexer uses that one.

A witness's state is what it last cosigned of this log: delete `<data_dir>/witnesses` together
with the audit store, or the witnesses see a new log under the same key as a forked history
and refuse it (which is what they are for).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.witnessing import WitnessPolicy, parse_policy, quorum_met
from services.audit.keys import encode_verifier_key, ensure_log_key
from services.audit.settings import LOG_KEY_NAME, AuditSettings
from services.audit.storage import DecisionQuery
from services.audit.storage_sql import SqlAuditStore, open_store
from services.hubkit.child_keys import StoreKeyFile
from services.hubkit.private_files import write_atomically
from services.hubkit.settings import HubSettings
from services.witness.settings import WitnessSettings

__all__ = [
    "DEMO_WITNESS_PORTS",
    "DemoWitness",
    "demo_audit_settings",
    "demo_witnesses",
    "wait_until_cosigned",
    "witness_apps",
]

DEMO_WITNESS_PORTS = {"council": 18331, "police": 18332}
"""The partners whose witnesses the demo runs, and the port each listens on."""


@dataclass(frozen=True, slots=True)
class DemoWitness:
    partner: str
    settings: WitnessSettings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"


def demo_witnesses(hub: HubSettings, audit: AuditSettings) -> list[DemoWitness]:
    """The council's and the police's witness, each witnessing the demo's audit log (its key
    made on first use, as the indexer makes it)."""
    log_key = ensure_log_key(hub.keys_dir, name=LOG_KEY_NAME, origin=audit.origin)
    log_vkey = encode_verifier_key(audit.origin, log_key.public_key())
    root = hub.data_dir / "witnesses"
    return [
        DemoWitness(
            partner,
            WitnessSettings(
                name=f"witness.{partner}.example/safehub",
                host="127.0.0.1",
                port=port,
                data_dir=root / partner,
                log_vkeys=[log_vkey],
                # Only the key above: not whatever else the hub's trusted directory holds.
                logs_file=root / partner / "logs.vkeys",
            ),
        )
        for partner, port in DEMO_WITNESS_PORTS.items()
    ]


def _policy_text(log_vkey: str, witnesses: Sequence[tuple[DemoWitness, str]]) -> str:
    partners = " ".join(w.partner for w, _ in witnesses)
    return "\n".join(
        [
            "# The demo's partners' witness policy (C2SP tlog-policy), written by safehub demo.",
            f"log {log_vkey}",
            *(f"witness {w.partner} {vkey} {w.url}" for w, vkey in witnesses),
            f"group partners all {partners}",
            "quorum partners",
            "",
        ]
    )


def demo_audit_settings(hub: HubSettings) -> tuple[AuditSettings, list[DemoWitness]]:
    """The audit settings the demo runs with, and the witnesses to run: with no policy
    configured, the demo's own two witnesses and a policy naming them (written under the
    data directory); with one configured, that policy and no witnesses."""
    from services.witness.app import witness_verifier_key

    audit = AuditSettings()
    if audit.witness_policy_path is not None:
        return audit, []
    witnesses = demo_witnesses(hub, audit)
    log_key = ensure_log_key(hub.keys_dir, name=LOG_KEY_NAME, origin=audit.origin)
    keyed = [(w, witness_verifier_key(w.settings, hub).encode()) for w in witnesses]
    path = hub.data_dir / "witnesses" / "partners.policy"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(
        path, _policy_text(encode_verifier_key(audit.origin, log_key.public_key()), keyed).encode()
    )
    return audit.model_copy(update={"witness_policy_path": path}), witnesses


def witness_apps(hub: HubSettings, witnesses: Sequence[DemoWitness]) -> list[tuple[str, Any, int]]:
    """(service name, ASGI app, port) for each witness, for the demo's servers."""
    from services.witness.app import create_app

    return [
        (f"{w.partner} witness", create_app(w.settings, hub), w.settings.port) for w in witnesses
    ]


def _open(hub: HubSettings, audit: AuditSettings) -> SqlAuditStore:
    return open_store(
        audit.database_url_for(hub), store_key=StoreKeyFile(audit.resolved_store_key_path(hub))
    )


def _state(
    hub: HubSettings, audit: AuditSettings, policy: WitnessPolicy, notice_ids: Collection[str]
) -> tuple[int | None, list[str], bool]:
    """(the latest checkpoint's size, the partners who cosigned it, whether it covers a
    decision about every notice in `notice_ids`)."""
    store = _open(hub, audit)
    try:
        latest = store.latest_checkpoint()
        if latest is None:
            return None, [], False
        size = latest.checkpoint.tree_size
        covered = all(
            any(
                leaf.leaf_index < size
                for leaf in store.find(DecisionQuery(notice_id=notice_id, limit=1))
            )
            for notice_id in notice_ids
        )
        names = {c.name for c in CosignatureStore(store.engine).for_checkpoint(size)}
    finally:
        store.close()
    return size, [w.name for w in policy.witnesses if w.key.name in names], covered


async def wait_until_cosigned(
    hub: HubSettings, audit: AuditSettings, notice_ids: Collection[str], *, within_s: float
) -> str:
    """Wait (up to `within_s`) until the audit log's latest checkpoint covers the decisions
    about `notice_ids` and every witness of the policy has cosigned it; one line saying how
    it stands then (the indexer signs every `checkpoint_interval_s`, then submits)."""
    if audit.witness_policy_path is None:
        return "audit log: no witness policy (SAFEHUB_AUDIT_WITNESS_POLICY_PATH unset)"
    policy = parse_policy(audit.witness_policy_path.read_text(encoding="utf-8"))
    deadline = time.monotonic() + within_s
    while True:
        size, cosigned, covered = await asyncio.to_thread(_state, hub, audit, policy, notice_ids)
        everyone = len(cosigned) == len(policy.witnesses)
        if (covered and everyone) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    if size is None:
        return "audit log: no checkpoint signed yet"
    missing = [w.name for w in policy.witnesses if w.name not in cosigned]
    scope = "" if covered else " (not yet covering this batch)"
    if not cosigned:
        return (
            f"audit log: checkpoint at size {size}{scope} not cosigned by "
            f"{', '.join(missing)}: the partners' quorum is not met"
        )
    met = "quorum met" if quorum_met(policy, set(cosigned)) else "quorum NOT met"
    line = (
        f"audit log: checkpoint at size {size}{scope} cosigned by the witnesses of "
        f"{', '.join(cosigned)} ({met})"
    )
    return line + (f"; not by {', '.join(missing)}" if missing else "")
