"""Finding the child a subject access request is about, from what the family gave (issue 17):
name, date of birth, NHS number, LA child id or UPN, resolved by the child index's search
(`POST /v1/children/search`, scope `children:search`) to the child's keys. Nothing else.

The audit service calls the index as itself: its own client `audit-childindex`
(private_key_jwt, hubkit `ClientCredentials` + `call_as_service`), configured by
`SAFEHUB_AUDIT_CHILDINDEX_*` (`ChildLookupSettings`). Local defaults, as the console's: the
index on 127.0.0.1:18207, tokens from the audit API's token issuer, the client's key at
<data_dir>/audit/audit-childindex.pem (`safehub audit api` and `safehub demo` register the
client with the local identity provider: services/cli/ig.py `register_ig_clients`). With no
index configured, or the client's key missing, every lookup says so
(`ChildIndexUnavailable`): there is no silent fallback, because a lookup that found nothing
would read as "no such child".

The typed identifiers go to the index in a request body, never in a URL and never in a log
line; what the audit log records is the kinds of identifier used and how many children
matched (`services.audit.family_routes`), as the console's CHILD_SEARCHED does.

The same client reads children's profiles for the prevalence figures (`POST
/v1/children/profiles`, scope `children:profile`): a child's age band on a day and sex, never
the date of birth (`ChildProfiles`, used by `services.audit.figures`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.audit.errors import AuditError
from services.hubkit.auth import CHILD_PROFILE_SCOPE, CHILD_SEARCH_SCOPE
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.linkage import ChildIdentifiers, enough_to_search, is_valid_nhs_number
from services.hubkit.service_calls import ServiceCallFailed, call_as_service
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client

__all__ = [
    "PROFILE_BATCH",
    "ChildFound",
    "ChildIndex",
    "ChildIndexUnavailable",
    "ChildLookup",
    "ChildLookupSettings",
    "ChildProfileFound",
    "ChildProfiles",
    "HttpChildLookup",
    "IdentifiersNotEnough",
    "NoChildLookup",
    "child_lookup_from_settings",
    "identifiers_from_form",
]

log = logging.getLogger("safehub.audit.child_lookup")

CLIENT_ID = "audit-childindex"
SCOPE = CHILD_SEARCH_SCOPE
SCOPES = (CHILD_SEARCH_SCOPE, CHILD_PROFILE_SCOPE)
"""Every scope the audit service's client for the index is registered with."""
PROFILE_BATCH = 1000  # the index's default max_batch
CHILD_INDEX_PORT = 18207  # services/childindex/settings.py serves here by default


class ChildIndexUnavailable(AuditError):
    """The child index is not configured, did not answer, or refused: nothing was looked up."""


class IdentifiersNotEnough(AuditError):
    """What was typed is not enough to search on (or is not a valid value)."""


@dataclass(frozen=True, slots=True)
class ChildFound:
    child_key: str
    keys: tuple[str, ...]
    strength: str
    """strong, possible or weak (the index's words)."""


class ChildLookup(Protocol):
    async def search(self, identifiers: ChildIdentifiers) -> list[ChildFound]:
        """Children the identifiers most likely are, best first. Raises ChildIndexUnavailable,
        IdentifiersNotEnough."""
        ...


@dataclass(frozen=True, slots=True)
class ChildProfileFound:
    known: bool
    """False: the index never made this key."""
    age_band: str | None
    """hubkit.age_bands code on the day asked about; None when not known."""
    sex: str | None
    """F or M; None when not known."""


class ChildProfiles(Protocol):
    async def profiles(self, asked: Sequence[tuple[str, dt.date]]) -> list[ChildProfileFound]:
        """Each (child key, day)'s age band on that day and sex, in order. Raises
        ChildIndexUnavailable."""
        ...


class ChildIndex(ChildLookup, ChildProfiles, Protocol):
    """The child index as the audit service uses it: search (subject access) and profiles
    (prevalence figures)."""


_NOT_CONFIGURED = (
    "no child index is configured for the audit service "
    "(set SAFEHUB_AUDIT_CHILDINDEX_URL and register the audit-childindex client)"
)


class NoChildLookup:
    """The audit API with no child index configured: every lookup says so."""

    async def search(self, identifiers: ChildIdentifiers) -> list[ChildFound]:
        raise ChildIndexUnavailable(f"{_NOT_CONFIGURED}; start from the child's reference instead")

    async def profiles(self, asked: Sequence[tuple[str, dt.date]]) -> list[ChildProfileFound]:
        raise ChildIndexUnavailable(_NOT_CONFIGURED)


class ChildLookupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEHUB_AUDIT_CHILDINDEX_", extra="ignore")

    url: str | None = Field(
        default=f"http://127.0.0.1:{CHILD_INDEX_PORT}",
        description="Base URL of the child index API (moves with SAFEHUB_CHILDINDEX_PORT); "
        "set empty for none.",
    )
    token_endpoint: str | None = Field(
        default=None,
        description="Token endpoint the audit-childindex client gets tokens from; default "
        "<SAFEHUB_AUDIT_TOKEN_ISSUER>/token.",
    )
    key_path: Path | None = Field(
        default=None,
        description="ES256 private key (PEM, 0600) of the audit-childindex client; default "
        "<data_dir>/audit/audit-childindex.pem.",
    )
    timeout_s: float = Field(default=5.0, description="How long one call to the index waits.")

    @field_validator("url", "token_endpoint")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return (value.strip().rstrip("/") or None) if value is not None else None

    def resolved_key_path(self, hub: HubSettings) -> Path:
        return self.key_path or hub.data_dir / "audit" / f"{CLIENT_ID}.pem"

    def resolved_token_endpoint(self, token_issuer: str | None) -> str | None:
        if self.token_endpoint:
            return self.token_endpoint
        return f"{token_issuer.rstrip('/')}/token" if token_issuer else None


class HttpChildLookup:
    """The index's search as the audit service's own client. `http` replaces the client made
    per lookup (tests reaching the index and identity provider in process); it is not closed."""

    def __init__(
        self,
        *,
        url: str,
        token_endpoint: str,
        key_path: Path,
        hub: HubSettings,
        timeout_s: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._token_endpoint = token_endpoint
        self._key_path = key_path
        self._hub = hub
        self._timeout_s = timeout_s
        self._http = http

    async def search(self, identifiers: ChildIdentifiers) -> list[ChildFound]:
        body = {k: v for k, v in identifiers.to_json().items() if v is not None}
        # A client per lookup: lookups are rare (one per request from a family).
        [response] = await self._calls(
            "/v1/children/search", [{**body, "limit": 10}], scope=CHILD_SEARCH_SCOPE
        )
        if response.status_code == 422:
            raise IdentifiersNotEnough("the child index would not search on what was typed")
        if response.status_code != 200:
            log.warning("child index: a refusal (status %s)", response.status_code)
            raise ChildIndexUnavailable(f"the child index refused ({response.status_code})")
        return matches_from_json(response.json())

    async def profiles(self, asked: Sequence[tuple[str, dt.date]]) -> list[ChildProfileFound]:
        bodies = [
            {"children": [{"child_key": k, "on": on.isoformat()} for k, on in part]}
            for part in (asked[i : i + PROFILE_BATCH] for i in range(0, len(asked), PROFILE_BATCH))
        ]
        out: list[ChildProfileFound] = []
        for response in await self._calls(
            "/v1/children/profiles", bodies, scope=CHILD_PROFILE_SCOPE
        ):
            if response.status_code != 200:
                log.warning("child index: profiles refused (status %s)", response.status_code)
                raise ChildIndexUnavailable(
                    f"the child index refused the profiles ({response.status_code})"
                )
            out += profiles_from_json(response.json())
        if len(out) != len(asked):
            raise ChildIndexUnavailable("the child index answered for other children")
        return out

    async def _calls(
        self, path: str, bodies: Sequence[dict[str, Any]], *, scope: str
    ) -> list[httpx.Response]:
        """POST each body to `path` as the audit service's client, one token for them all."""
        if not self._key_path.exists():
            raise ChildIndexUnavailable(
                f"the audit service's client for the child index ({CLIENT_ID}) has no key at "
                f"{self._key_path}: `safehub audit api` registers it with the local identity "
                f"provider; elsewhere register it (scopes {', '.join(SCOPES)}) and set "
                "SAFEHUB_AUDIT_CHILDINDEX_KEY_PATH"
            )
        if self._http is not None:
            return await self._post_all(self._http, path, bodies, scope)
        async with http_client(self._hub) as http:
            return await self._post_all(http, path, bodies, scope)

    async def _post_all(
        self, http: httpx.AsyncClient, path: str, bodies: Sequence[dict[str, Any]], scope: str
    ) -> list[httpx.Response]:
        credentials = ClientCredentials(
            http=http,
            token_endpoint=self._token_endpoint,
            client_id=CLIENT_ID,
            private_key_path=self._key_path,
            scope=scope,
        )
        responses = []
        try:
            for body in bodies:
                responses.append(
                    await call_as_service(
                        http,
                        credentials,
                        "POST",
                        f"{self._url}{path}",
                        json=body,
                        timeout_s=self._timeout_s,
                    )
                )
        except ServiceCallFailed as failure:
            log.warning("child index: %s", type(failure).__name__)
            raise ChildIndexUnavailable("the child index did not answer; try again") from None
        return responses


def matches_from_json(body: Any) -> list[ChildFound]:
    try:
        return [
            ChildFound(
                child_key=str(m["child_key"]),
                keys=tuple(str(k) for k in m["keys"]),
                strength=str(m.get("strength") or "weak"),
            )
            for m in body["matches"]
        ]
    except (KeyError, TypeError, ValueError):
        raise ChildIndexUnavailable("the child index answered in another shape") from None


def profiles_from_json(body: Any) -> list[ChildProfileFound]:
    try:
        return [
            ChildProfileFound(
                known=bool(p["known"]),
                age_band=None if p["age_band"] is None else str(p["age_band"]),
                sex=p["sex"] if p["sex"] in ("F", "M") else None,
            )
            for p in body["profiles"]
        ]
    except (KeyError, TypeError, ValueError):
        raise ChildIndexUnavailable("the child index answered in another shape") from None


def child_lookup_from_settings(
    settings: ChildLookupSettings,
    hub: HubSettings,
    *,
    token_issuer: str | None,
    http: httpx.AsyncClient | None = None,
) -> ChildIndex:
    """The index's search and profiles, or NoChildLookup when no index URL or token endpoint is set.
    `token_issuer` is the audit API's (the default token endpoint is its /token)."""
    endpoint = settings.resolved_token_endpoint(token_issuer)
    if not (settings.url and endpoint):
        return NoChildLookup()
    return HttpChildLookup(
        url=settings.url,
        token_endpoint=endpoint,
        key_path=settings.resolved_key_path(hub),
        hub=hub,
        timeout_s=settings.timeout_s,
        http=http,
    )


def identifiers_from_form(form: Mapping[str, str]) -> ChildIdentifiers:
    """The identifiers typed into the find-a-child form. Raises IdentifiersNotEnough with what
    is missing or wrong (never echoing a value)."""

    def text(name: str) -> str | None:
        value = " ".join(str(form.get(name) or "").split())
        return value or None

    born: dt.date | None = None
    if text("date_of_birth"):
        try:
            born = dt.date.fromisoformat(str(text("date_of_birth")))
        except ValueError:
            raise IdentifiersNotEnough("enter the date of birth as YYYY-MM-DD") from None
    nhs = text("nhs_number")
    if nhs and not is_valid_nhs_number(nhs):
        raise IdentifiersNotEnough("the NHS number is not valid (10 digits, check digit)")
    identifiers = ChildIdentifiers(
        nhs_number=nhs,
        given_name=text("given_name"),
        family_name=text("family_name"),
        date_of_birth=born,
        upn=text("upn"),
        la_child_id=text("la_child_id"),
    )
    if not enough_to_search(identifiers):
        raise IdentifiersNotEnough(
            "give an NHS number, a UPN or an LA child id, or a name with a date of birth"
        )
    return identifiers


def identifier_kinds(identifiers: ChildIdentifiers) -> list[str]:
    """Which kinds of identifier were typed (the codes of ChildSearchIdentifier), for the log."""
    used = {
        "GIVEN_NAME": identifiers.given_name,
        "FAMILY_NAME": identifiers.family_name,
        "DATE_OF_BIRTH": identifiers.date_of_birth,
        "NHS_NUMBER": identifiers.nhs_number,
        "LA_CHILD_ID": identifiers.la_child_id,
        "UPN": identifiers.upn,
    }
    return [kind for kind, value in used.items() if value is not None]
