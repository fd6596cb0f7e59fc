"""The erasure job's moving parts (issue 18): its client, its settings, the stores it calls
over HTTP, and the order it calls them in. `services/cli/erasure.py` is the command line over
this; the planning is pure (`services/hubkit/erasure_plan.py`).

The job calls each service as itself: one client, `erasure-job` (client credentials,
private_key_jwt, key `<data_dir>/erasure/erasure-job.pem`), scopes `children:erase` (the
child index's and the console's erase routes) and `audit:erase` (the audit log's erasure
phases). `register_erasure_client` registers it with the local identity provider.

One approved entry, in this order (`perform_erasure`), stopping that child at the first
failure with the reason:
1. the audit log records the INTENT (the entry, the approver; the child only as a digest);
2. each store the rule names erases the child (child_index, console_projection; the audit
   index erases its own part in step 3);
3. the audit log erases its index's part and records the DELETION with every store's count;
4. each store is asked whether the child is still readable: any "yes" stops here;
5. the audit log checks its own index and records the CONFIRMATION.
A phase the log already holds answers 409: the job carries on from the next phase, so
re-running the same review after a failure finishes what was started (the stores' erase
routes answer 0 for a child already erased).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.hubkit.auth import AUDIT_ERASE_SCOPE, CHILD_ERASE_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.erasure_plan import DueRow, ReviewEntry
from services.hubkit.errors import HubError
from services.hubkit.service_calls import ServiceCallFailed, call_as_service

__all__ = [
    "AUDIT_STORE",
    "CLIENT_ID",
    "SCOPES",
    "AuditErasures",
    "ErasureJobSettings",
    "ErasureStopped",
    "HttpAuditErasures",
    "HttpChildIndexDue",
    "HttpStore",
    "PhaseAnswer",
    "StoreEraser",
    "perform_erasure",
    "register_erasure_client",
]

CLIENT_ID = "erasure-job"
SCOPES = (CHILD_ERASE_SCOPE, AUDIT_ERASE_SCOPE)
AUDIT_STORE = "audit_index"
"""Erased by the audit service inside the DELETION phase, not by a store route."""

PhaseAnswer = Literal["recorded", "already recorded"]


class ErasureStopped(HubError):
    """One child's erasure stopped; what the log already holds stays (re-run to resume)."""


class StoreEraser(Protocol):
    name: str

    async def erase(self, child_key: str) -> int:
        """Erase the child here; how many things went (0: already erased)."""
        ...

    async def readable(self, child_key: str) -> bool: ...


class AuditErasures(Protocol):
    async def intent(self, entry: ReviewEntry, *, approved_by: str) -> PhaseAnswer: ...

    async def deletion(self, entry: ReviewEntry, stores: Mapping[str, int]) -> PhaseAnswer: ...

    async def confirmation(self, entry: ReviewEntry, stores: Mapping[str, str]) -> PhaseAnswer: ...


async def perform_erasure(
    entry: ReviewEntry,
    *,
    approved_by: str,
    stores: Mapping[str, StoreEraser],
    audit: AuditErasures,
) -> list[str]:
    """Erase one approved entry (module docstring for the order); lines saying what was done.
    Raises ErasureStopped with the reason, naming what is already in the log."""
    named = [s for s in entry.stores if s != AUDIT_STORE]
    missing = [s for s in named if s not in stores]
    if missing:
        raise ErasureStopped(
            f"no {', '.join(missing)} is configured for the job: nothing done (set its URL)"
        )
    done = [f"intent: {await audit.intent(entry, approved_by=approved_by)}"]
    counts: dict[str, int] = {}
    for name in named:
        try:
            counts[name] = await stores[name].erase(entry.child_key)
        except ErasureStopped as stopped:
            raise ErasureStopped(
                f"erasing from {name} failed ({stopped}); the intent is logged"
            ) from None
    done.append(f"erased: {', '.join(f'{n} {c}' for n, c in counts.items()) or 'no store'}")
    done.append(f"deletion: {await audit.deletion(entry, counts)}")
    still = [name for name in named if await stores[name].readable(entry.child_key)]
    if still:
        raise ErasureStopped(
            f"the child is still readable in {', '.join(still)} after erasure; intent and "
            "deletion are logged, confirmation is not"
        )
    unreadable = dict.fromkeys(named, "unreadable")
    done.append(f"confirmation: {await audit.confirmation(entry, unreadable)}")
    return done


class ErasureJobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_ERASURE_", extra="ignore")

    childindex_url: str | None = Field(
        default="http://127.0.0.1:18207", description="The child index API; empty for none."
    )
    console_url: str | None = Field(
        default="http://127.0.0.1:18400", description="The MASH console; empty for none."
    )
    audit_url: str | None = Field(
        default="http://127.0.0.1:18310", description="The audit API; empty for none."
    )
    token_endpoint: str = Field(
        default="http://127.0.0.1:18205/token",
        description="Where the erasure-job client gets its tokens (the identity provider).",
    )
    key_path: Path | None = Field(
        default=None,
        description="ES256 private key of the erasure-job client; default "
        "<data_dir>/erasure/erasure-job.pem.",
    )
    timeout_s: float = Field(default=10.0, description="How long one call waits.")

    @field_validator("childindex_url", "console_url", "audit_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return (value.strip().rstrip("/") or None) if value is not None else None

    def resolved_key_path(self, data_dir: Path) -> Path:
        return self.key_path or data_dir / "erasure" / f"{CLIENT_ID}.pem"


def register_erasure_client(state_dir: Path, key_path: Path) -> None:
    """Register `erasure-job` with the local identity provider kept in `state_dir`
    (idempotent; another provider's administrator registers it their own way)."""
    from services.identity.clients import ensure_service_client

    ensure_service_client(
        state_dir=state_dir,
        private_key_path=key_path,
        client_id=CLIENT_ID,
        agency="IG",
        scopes=SCOPES,
    )


@dataclass
class _Caller:
    http: httpx.AsyncClient
    credentials: ClientCredentials
    timeout_s: float

    async def call(self, method: str, url: str, body: Any = None) -> httpx.Response:
        try:
            return await call_as_service(
                self.http, self.credentials, method, url, json=body, timeout_s=self.timeout_s
            )
        except ServiceCallFailed as failure:
            raise ErasureStopped(str(failure)) from None


def _refused(what: str, response: httpx.Response) -> ErasureStopped:
    try:
        detail = response.json().get("detail") or response.json().get("title")
    except ValueError:
        detail = None
    return ErasureStopped(
        f"{what} refused ({response.status_code}{': ' + detail if detail else ''})"
    )


class HttpStore:
    """A store's erase routes: POST <base><path>, GET <base><path>/{key}."""

    def __init__(self, name: str, caller: _Caller, url: str) -> None:
        self.name = name
        self._caller = caller
        self._url = url

    async def erase(self, child_key: str) -> int:
        response = await self._caller.call("POST", self._url, {"subject_linkage_key": child_key})
        if response.status_code != 200:
            raise _refused(f"{self.name} erase", response)
        return int(response.json()["erased"])

    async def readable(self, child_key: str) -> bool:
        response = await self._caller.call("GET", f"{self._url}/{child_key}")
        if response.status_code != 200:
            raise _refused(f"{self.name} readable check", response)
        return bool(response.json()["readable"])


class HttpAuditErasures:
    def __init__(self, caller: _Caller, base_url: str) -> None:
        self._caller = caller
        self._url = f"{base_url}/v1/erasures"

    async def _phase(self, what: str, url: str, body: Any) -> PhaseAnswer:
        response = await self._caller.call("POST", url, body)
        if response.status_code in (200, 201):
            return "recorded"
        if response.status_code == 409 and response.json().get("repeated") is True:
            return "already recorded"
        raise _refused(f"audit {what}", response)

    async def intent(self, entry: ReviewEntry, *, approved_by: str) -> PhaseAnswer:
        return await self._phase(
            "intent",
            self._url,
            {
                "erasure_id": entry.erasure_id,
                "subject_linkage_key": entry.child_key,
                "record_type": entry.record_type,
                "rule": entry.rule,
                "reason": f"retention review: due {entry.due_on.isoformat()}",
                "approved_by": approved_by,
            },
        )

    # The audit log checks each phase names the child its intent named (by digest).
    async def deletion(self, entry: ReviewEntry, stores: Mapping[str, int]) -> PhaseAnswer:
        return await self._phase(
            "deletion",
            f"{self._url}/{entry.erasure_id}/deletion",
            {"subject_linkage_key": entry.child_key, "stores": dict(stores)},
        )

    async def confirmation(self, entry: ReviewEntry, stores: Mapping[str, str]) -> PhaseAnswer:
        return await self._phase(
            "confirmation",
            f"{self._url}/{entry.erasure_id}/confirmation",
            {"subject_linkage_key": entry.child_key, "stores": dict(stores)},
        )


class HttpChildIndexDue:
    def __init__(self, caller: _Caller, base_url: str) -> None:
        self._caller = caller
        self._url = f"{base_url}/v1/retention/due"

    async def due(self, today: dt.date) -> tuple[list[DueRow], int]:
        response = await self._caller.call("POST", self._url, {"today": today.isoformat()})
        if response.status_code != 200:
            raise _refused("the child index's retention review", response)
        body = response.json()
        rows = [
            DueRow(r["child_key"], r["record_type"], dt.date.fromisoformat(r["due_on"]))
            for r in body["due"]
        ]
        return rows, int(body["children_without_a_settled_date_of_birth"])


@dataclass
class JobClients:
    index: HttpChildIndexDue | None
    stores: dict[str, StoreEraser]
    audit: HttpAuditErasures | None


def job_clients(
    settings: ErasureJobSettings, http: httpx.AsyncClient, *, key_path: Path
) -> JobClients:
    """The job's clients over `http`, one token cache for each scope."""

    def caller(scope: str) -> _Caller:
        return _Caller(
            http,
            ClientCredentials(
                http=http,
                token_endpoint=settings.token_endpoint,
                client_id=CLIENT_ID,
                private_key_path=key_path,
                scope=scope,
            ),
            settings.timeout_s,
        )

    stores_caller = caller(CHILD_ERASE_SCOPE)
    stores: dict[str, StoreEraser] = {}
    if settings.childindex_url:
        stores["child_index"] = HttpStore(
            "child_index", stores_caller, f"{settings.childindex_url}/v1/children/erasures"
        )
    if settings.console_url:
        stores["console_projection"] = HttpStore(
            "console_projection", stores_caller, f"{settings.console_url}/v1/children/erasures"
        )
    return JobClients(
        index=HttpChildIndexDue(stores_caller, settings.childindex_url)
        if settings.childindex_url
        else None,
        stores=stores,
        audit=HttpAuditErasures(caller(AUDIT_ERASE_SCOPE), settings.audit_url)
        if settings.audit_url
        else None,
    )


def summary(entries: Sequence[ReviewEntry]) -> str:
    children = len({e.child_key for e in entries})
    return f"{len(entries)} entries for {children} children"
