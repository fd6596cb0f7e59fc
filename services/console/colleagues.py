"""Who works at this console: the people who have signed in, by name and role, so a MASH
manager can give a contact to a named colleague ("being screened by <name>, given to them by
<manager>") rather than to a role.

The console has no staff directory of its own: the identity provider is the directory, and
the console learns a colleague when they first sign in (their subject, display name, roles
and organisation, from the ID token; nothing else). A colleague who has never signed in here
cannot be given a contact: they would not see it in their queue until they did, and the
console cannot tell a real colleague's subject from a typo. Kept in the console's database
(`colleagues` table), so a restart does not empty the list; `MemoryColleagues` serves
runtimes built without one (unit tests).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from services.console.domain.people import Person
from services.console.domain.screening import Screener
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["Colleague", "Colleagues", "MemoryColleagues", "SqliteColleagues"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS colleagues (
    subject TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    organisation TEXT NOT NULL,
    last_signed_in TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Colleague:
    subject: str
    name: str
    roles: tuple[str, ...]
    organisation: str

    @property
    def screener(self) -> Screener:
        return Screener(self.subject, self.name)


class Colleagues(Protocol):
    def signed_in(self, person: Person, *, at: dt.datetime) -> None:
        """Remember (or refresh) a colleague as they sign in."""
        ...

    def with_roles(self, roles: Iterable[str]) -> list[Colleague]:
        """Colleagues holding any of `roles`, by name."""
        ...


def _holding(colleagues: Iterable[Colleague], roles: Iterable[str]) -> list[Colleague]:
    wanted = set(roles)
    return sorted(
        (c for c in colleagues if wanted & set(c.roles)), key=lambda c: (c.name, c.subject)
    )


class SqliteColleagues:
    def __init__(self, database: PrivateSqlite) -> None:
        database.ensure_schema(SCHEMA)
        self._db = database

    def signed_in(self, person: Person, *, at: dt.datetime) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO colleagues (subject, name, roles, organisation, last_signed_in) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET "
                "name = excluded.name, roles = excluded.roles, "
                "organisation = excluded.organisation, last_signed_in = excluded.last_signed_in",
                (
                    person.subject,
                    person.name,
                    json.dumps(list(person.roles)),
                    person.organisation,
                    at.isoformat(),
                ),
            )

    def with_roles(self, roles: Iterable[str]) -> list[Colleague]:
        with self._db.reading() as db:
            rows = db.execute("SELECT subject, name, roles, organisation FROM colleagues")
            everyone = [
                Colleague(r["subject"], r["name"], tuple(json.loads(r["roles"])), r["organisation"])
                for r in rows
            ]
        return _holding(everyone, roles)


class MemoryColleagues:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, Colleague] = {}

    def signed_in(self, person: Person, *, at: dt.datetime) -> None:
        with self._lock:
            self._known[person.subject] = Colleague(
                person.subject, person.name, person.roles, person.organisation
            )

    def with_roles(self, roles: Iterable[str]) -> list[Colleague]:
        with self._lock:
            return _holding(self._known.values(), roles)
