"""Disclosure ceilings: the most a recipient may ever receive, whatever the sharing rules say.

The information governance (IG) officer owns `policies/safehub/ceilings/data.json` (read its
"about"). The sharing rules are tested against it, and the gateway enforces it a second time
outside Rego, so that a rule bug or a mistaken publish cannot widen disclosure past what the
information-sharing agreement allows: a decision that permits a path beyond its recipient's
ceiling is not delivered at all.

A ceiling is a set of field paths with the project's path semantics (`is_permitted` in
services/hubkit/field_paths.py, which the gateway's redaction uses too, so that "within"
means exactly what redaction means): a permitted path is within when it is a ceiling path
or lies under one, e.g. `detail.cpis_flag.plan_type` under `detail.cpis_flag`. Every
(role, notice type) is expanded once at load, so checking a decision is a set difference.

The gateway applies two more things from the same IG-owned files after the policy, so they
load here too (`DisclosureLimits`): the field catalogue's "silent" paths (a recipient is never
told they were withheld, because the mention alone discloses something) and each agency's
generic safeguarding contact (who a recipient calls when the notice's own contact point is
withheld but the source agency is not).

Anything malformed or unknown in these files raises `CeilingsInvalid` with the file and the
place, so the gateway refuses to start rather than enforce a ceiling nobody meant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from services.hubkit.errors import HubError
from services.hubkit.field_paths import is_permitted

__all__ = [
    "AGENCIES_FILE",
    "ALL",
    "CEILINGS_FILE",
    "CONTACT_POINT_KEYS",
    "DETAIL",
    "FIELDS_FILE",
    "Ceilings",
    "CeilingsInvalid",
    "DisclosureLimits",
    "FieldCatalogue",
    "load_safeguarding_contacts",
]

CEILINGS_FILE = "safehub/ceilings/data.json"
FIELDS_FILE = "safehub/fields/data.json"
AGENCIES_FILE = "safehub/agencies/data.json"

ALL = "ALL"
"""Every path of the notice type: fields.paths plus fields.detail[notice type]."""
DETAIL = "DETAIL"
"""The notice type's detail paths: fields.detail[notice type]."""

CONTACT_POINT_KEYS = ("role", "organisation", "telephone", "secure_email")
"""Keys of an agency's "safeguarding_contact", as schemas/avro/safehub.notice.ContactPoint.avsc
names them (secure_email may be null or left out)."""

_EMPTY: frozenset[str] = frozenset()
ContactPoint = Mapping[str, str | None]


class CeilingsInvalid(HubError):
    """A ceilings, fields or agencies data file the gateway cannot enforce as written."""

    def __init__(self, file: str, reason: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(f"policies/{file}: {reason}")


def _read(policies_dir: Path, file: str) -> dict[str, Any]:
    path = policies_dir / file
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise CeilingsInvalid(file, f"missing (looked in {policies_dir})") from error
    except json.JSONDecodeError as error:
        raise CeilingsInvalid(file, f"not valid JSON ({error})") from error
    if not isinstance(raw, dict):
        raise CeilingsInvalid(file, "must hold a JSON object")
    return raw


def _strings(file: str, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CeilingsInvalid(file, f"{where} must be a list of non-empty strings")
    return tuple(value)


def _object(file: str, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CeilingsInvalid(file, f"{where} must be an object")
    return value


def _under_or_over(path: str, others: frozenset[str]) -> bool:
    """True when `path` is one of `others`, lies under one, or holds one."""
    return is_permitted(path, others) or any(o.startswith(f"{path}.") for o in others)


def _subtract(paths: frozenset[str], never: frozenset[str]) -> frozenset[str]:
    """`paths` without anything `never` names. A path that merely *holds* a never path goes
    too: a ceiling path carries everything under it, and a set of paths cannot say "all of
    detail.cpis_flag except its plan_type", so the ceiling fails closed and narrower."""
    if not never:
        return paths
    return frozenset(p for p in paths if not _under_or_over(p, never))


@dataclass(frozen=True, slots=True)
class FieldCatalogue:
    """policies/safehub/fields/data.json: the paths a notice may hold and named groups."""

    paths: frozenset[str]
    """Paths every notice type has."""
    detail: Mapping[str, frozenset[str]]
    """Detail paths per notice type; its keys are the notice types."""
    groups: Mapping[str, frozenset[str]]
    silent: frozenset[str]
    """Paths whose mere mention discloses something: a recipient is never told they were
    withheld. Empty until the file lists some."""

    @classmethod
    def load(cls, policies_dir: Path) -> FieldCatalogue:
        return cls.from_data(_read(policies_dir, FIELDS_FILE))

    @classmethod
    def from_data(cls, raw: Mapping[str, Any]) -> FieldCatalogue:
        f = FIELDS_FILE
        paths = frozenset(_strings(f, "'paths'", raw.get("paths")))
        detail = {
            notice_type: frozenset(_strings(f, f"'detail.{notice_type}'", listed))
            for notice_type, listed in _object(f, "'detail'", raw.get("detail")).items()
        }
        groups = {
            name: frozenset(_strings(f, f"'groups.{name}'", listed))
            for name, listed in _object(f, "'groups'", raw.get("groups")).items()
        }
        silent = frozenset(_strings(f, "'silent'", raw.get("silent", [])))
        catalogue = cls(
            paths=paths,
            detail=MappingProxyType(detail),
            groups=MappingProxyType(groups),
            silent=silent,
        )
        for name, members in (*groups.items(), ("silent", silent)):
            unknown = sorted(p for p in members if not catalogue.knows(p))
            if unknown:
                raise CeilingsInvalid(f, f"'{name}' names unknown paths {unknown}")
        return catalogue

    @property
    def notice_types(self) -> frozenset[str]:
        return frozenset(self.detail)

    def every_path(self, notice_type: str) -> frozenset[str]:
        """What ALL means for `notice_type`."""
        return self.paths | self.detail.get(notice_type, _EMPTY)

    def knows(self, path: str) -> bool:
        """A listed path of any notice type, or a path under one (detail.cpis_flag.plan_type)."""
        if path in self.paths or is_permitted(path, self.paths):
            return True
        return any(is_permitted(path, listed) for listed in self.detail.values())


@dataclass(frozen=True, slots=True)
class _Entry:
    allow: tuple[str, ...]
    never: tuple[str, ...]


class _Expander:
    """Turns ceiling items into paths for one notice type (see Ceilings.from_data)."""

    def __init__(self, catalogue: FieldCatalogue, groups: Mapping[str, _Entry]) -> None:
        self._catalogue = catalogue
        self._groups = groups

    def items(
        self, items: Iterable[str], notice_type: str, where: str, within: tuple[str, ...] = ()
    ) -> frozenset[str]:
        paths: set[str] = set()
        for item in items:
            paths |= self._item(item, notice_type, where, within)
        return frozenset(paths)

    def entry(
        self, entry: _Entry, notice_type: str, where: str, within: tuple[str, ...] = ()
    ) -> frozenset[str]:
        allow = self.items(entry.allow, notice_type, f"{where}.allow", within)
        never = self.items(entry.never, notice_type, f"{where}.never", within)
        return _subtract(allow, never)

    def _item(
        self, item: str, notice_type: str, where: str, within: tuple[str, ...]
    ) -> frozenset[str]:
        group = self._groups.get(item)
        if group is not None:
            if item in within:
                cycle = " -> ".join((*within, item))
                raise CeilingsInvalid(CEILINGS_FILE, f"groups refer to themselves: {cycle}")
            return self.entry(group, notice_type, f"groups.{item}", (*within, item))
        catalogue = self._catalogue
        if item in catalogue.groups:
            return catalogue.groups[item]
        if item == ALL:
            return catalogue.every_path(notice_type)
        if item == DETAIL:
            return catalogue.detail.get(notice_type, _EMPTY)
        if catalogue.knows(item):
            return frozenset({item})
        # A typo must not quietly become a path no notice holds (or, in 'never', fail to
        # take anything away).
        raise CeilingsInvalid(
            CEILINGS_FILE,
            f"{where}: unknown item {item!r}: not a group of this file, a field group of "
            f"{FIELDS_FILE}, {ALL}, {DETAIL}, or a field path listed there",
        )


class Ceilings:
    """The most each recipient role may receive per notice type, expanded to field paths.

    A role or notice type the file does not list has an empty ceiling: any disclosure to it
    exceeds.
    """

    __slots__ = ("_by_key", "catalogue")

    def __init__(
        self, by_key: Mapping[tuple[str, str], frozenset[str]], catalogue: FieldCatalogue
    ) -> None:
        self._by_key = MappingProxyType(dict(by_key))
        self.catalogue = catalogue

    @classmethod
    def load(cls, policies_dir: Path) -> Ceilings:
        """Read ceilings/data.json and fields/data.json from a policies folder."""
        return cls.from_data(_read(policies_dir, CEILINGS_FILE), FieldCatalogue.load(policies_dir))

    @classmethod
    def from_data(cls, raw: Mapping[str, Any], catalogue: FieldCatalogue) -> Ceilings:
        """Expand every entry: an item is a group of this file (its allow minus its never,
        expanded the same way), a field group of fields/data.json, ALL, DETAIL, or a field
        path. Then the entry's 'never' and the file's 'never_anywhere' are taken away."""
        f = CEILINGS_FILE
        groups = {
            name: cls._entry(entry, f"groups.{name}")
            for name, entry in _object(f, "'groups'", raw.get("groups", {})).items()
        }
        for name in groups:
            # One meaning per name: a group shadowing a field group, a keyword or a path
            # would make the file say something other than what it reads as.
            if name in catalogue.groups or name in (ALL, DETAIL) or catalogue.knows(name):
                raise CeilingsInvalid(f, f"group {name!r} has the name of a field group or path")
        expand = _Expander(catalogue, groups)
        never_anywhere = _strings(f, "'never_anywhere'", raw.get("never_anywhere", []))
        by_key: dict[tuple[str, str], frozenset[str]] = {}
        for role, per_type in _object(f, "'roles'", raw.get("roles")).items():
            for notice_type, entry in _object(f, f"'roles.{role}'", per_type).items():
                where = f"roles.{role}.{notice_type}"
                if notice_type not in catalogue.notice_types:
                    raise CeilingsInvalid(
                        f, f"{where}: {notice_type!r} is not a notice type of {FIELDS_FILE}"
                    )
                paths = expand.entry(cls._entry(entry, where), notice_type, where)
                anywhere = expand.items(never_anywhere, notice_type, "never_anywhere")
                by_key[role, notice_type] = _subtract(paths, anywhere)
        # Groups nobody uses are still checked, so a typo in one shows up before it is used.
        for name, group in groups.items():
            for notice_type in sorted(catalogue.notice_types):
                expand.entry(group, notice_type, f"groups.{name}", (name,))
        return cls(by_key, catalogue)

    @staticmethod
    def _entry(value: Any, where: str) -> _Entry:
        entry = _object(CEILINGS_FILE, f"'{where}'", value)
        unknown = sorted(set(entry) - {"allow", "never", "why"})
        if unknown:
            raise CeilingsInvalid(CEILINGS_FILE, f"{where}: unknown keys {unknown}")
        why = entry.get("why")
        if why is not None and not (isinstance(why, str) and why):
            # The IG officer's reason, read by people (and by nothing that enforces).
            raise CeilingsInvalid(CEILINGS_FILE, f"{where}: 'why' must be a sentence, not {why!r}")
        return _Entry(
            allow=_strings(CEILINGS_FILE, f"'{where}.allow'", entry.get("allow", [])),
            never=_strings(CEILINGS_FILE, f"'{where}.never'", entry.get("never", [])),
        )

    @property
    def roles(self) -> frozenset[str]:
        """Roles with a ceiling for at least one notice type."""
        return frozenset(role for (role, _), paths in self._by_key.items() if paths)

    def paths_for(self, role: str, notice_type: str) -> frozenset[str]:
        """The ceiling of `role` for `notice_type` (empty when the file lists none)."""
        return self._by_key.get((role, notice_type), _EMPTY)

    def excess(self, role: str, notice_type: str, permitted: Iterable[str]) -> frozenset[str]:
        """The permitted paths beyond the ceiling (empty when the decision is within it)."""
        ceiling = self._by_key.get((role, notice_type), _EMPTY)
        given = permitted if isinstance(permitted, frozenset) else frozenset(permitted)
        outside = given - ceiling  # usually empty: one set difference on the hot path
        if not outside:
            return _EMPTY
        return frozenset(p for p in outside if not is_permitted(p, ceiling))


def load_safeguarding_contacts(policies_dir: Path) -> Mapping[str, ContactPoint]:
    """Each agency's generic safeguarding contact (agencies/data.json "safeguarding_contact",
    keyed like a ContactPoint), by agency code; agencies without one are left out."""
    f = AGENCIES_FILE
    contacts: dict[str, ContactPoint] = {}
    for code, agency in _read(policies_dir, f).items():
        raw = _object(f, f"'{code}'", agency).get("safeguarding_contact")
        if raw is None:
            continue
        where = f"'{code}.safeguarding_contact'"
        contact = _object(f, where, raw)
        unknown = sorted(set(contact) - set(CONTACT_POINT_KEYS))
        if unknown:
            raise CeilingsInvalid(
                f, f"{where}: unknown keys {unknown}; expected {list(CONTACT_POINT_KEYS)}"
            )
        for key in CONTACT_POINT_KEYS[:3]:
            if not isinstance(contact.get(key), str) or not contact[key]:
                raise CeilingsInvalid(f, f"{where}: '{key}' must be a non-empty string")
        email = contact.get("secure_email")
        if email is not None and not isinstance(email, str):
            raise CeilingsInvalid(f, f"{where}: 'secure_email' must be a string or null")
        contacts[code] = MappingProxyType(
            {
                "role": contact["role"],
                "organisation": contact["organisation"],
                "telephone": contact["telephone"],
                "secure_email": email,
            }
        )
    return MappingProxyType(contacts)


@dataclass(frozen=True, slots=True)
class DisclosureLimits:
    """What the gateway applies after the policy, from IG-owned data files: the ceilings
    (decisions beyond them are not delivered), the silent paths (never named to a recipient
    as withheld) and each agency's generic safeguarding contact (stands in for a withheld
    contact point when the source agency may be named)."""

    ceilings: Ceilings
    silent_paths: frozenset[str]
    safeguarding_contacts: Mapping[str, ContactPoint]

    @classmethod
    def load(cls, policies_dir: Path) -> DisclosureLimits:
        ceilings = Ceilings.load(policies_dir)
        return cls(
            ceilings=ceilings,
            silent_paths=ceilings.catalogue.silent,
            safeguarding_contacts=load_safeguarding_contacts(policies_dir),
        )
