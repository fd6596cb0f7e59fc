"""Finding a child (issue 16): the search form, the child index's matches as this person may
see them, and the purposes a search may be made for. Pure: no I/O, no clock (today is passed
in); the HTTP client is services/console/child_index.py, the audit event domain/access.py.

The index answers with children's keys and scores only (services/childindex/search.py). The
console shows a match only when the person's own feed holds a notice about that child (under
any of its keys), and only what their feed shows of the child: a child the person may not see
is left out, exactly as if the index had not found it, so a search never tells anyone more than
their feed already does.

Why a purpose: a search reaches beyond the contact in hand (DPA 2018 s62 asks that a
consultation's justification can be established). The purposes are a fixed list, recorded
with the search; what was typed is never recorded (see access.py `child_searched_event`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.console.domain.decisions import FieldProblem
from services.console.domain.feed import FeedEntry, merged_subject
from services.console.domain.labels import field_label
from services.console.domain.linkage import ChildAliases
from services.console.domain.projection import Projection
from services.console.domain.views.fields import FieldRow, agency_text, format_value, when_text
from services.console.errors import ChildIndexUnavailable
from services.hubkit.linkage import ChildIdentifiers, enough_to_search, is_valid_nhs_number

__all__ = [
    "PURPOSE_LABELS",
    "STRENGTH_LABELS",
    "ChildMatch",
    "SearchIdentifier",
    "SearchPurpose",
    "SearchQuery",
    "SearchResult",
    "matches_from_json",
    "parse_search",
    "search_results",
]


class SearchPurpose(StrEnum):
    """Why a person searches (schemas/avro/safehub.audit.ChildSearchPurpose.avsc)."""

    SCREENING_CONTACT = "SCREENING_CONTACT"
    CHECKING_EXISTING_INVOLVEMENT = "CHECKING_EXISTING_INVOLVEMENT"
    STRATEGY_DISCUSSION = "STRATEGY_DISCUSSION"
    AGENCY_CHECK = "AGENCY_CHECK"
    CONFIRMING_IDENTITY = "CONFIRMING_IDENTITY"


PURPOSE_LABELS: Mapping[SearchPurpose, str] = {
    SearchPurpose.SCREENING_CONTACT: "Screening a contact",
    SearchPurpose.CHECKING_EXISTING_INVOLVEMENT: "Checking for an existing referral or open case",
    SearchPurpose.STRATEGY_DISCUSSION: "Preparing a strategy discussion (section 47)",
    SearchPurpose.AGENCY_CHECK: "Answering an agency check the MASH asked for",
    SearchPurpose.CONFIRMING_IDENTITY: "Confirming who a child is (same child?)",
}


class SearchIdentifier(StrEnum):
    """Which kinds of identifier a search used (never their values)."""

    GIVEN_NAME = "GIVEN_NAME"
    FAMILY_NAME = "FAMILY_NAME"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    NHS_NUMBER = "NHS_NUMBER"
    LA_CHILD_ID = "LA_CHILD_ID"
    UPN = "UPN"


STRENGTH_LABELS: Mapping[str, str] = {
    "strong": "Strong match",
    "possible": "Possible match",
    "weak": "Weak match",
}

_TEXT_LIMITS = {
    "given_name": 100,
    "family_name": 100,
    "nhs_number": 20,
    "la_child_id": 64,
    "upn": 32,
}


@dataclass(frozen=True, slots=True)
class SearchQuery:
    purpose: SearchPurpose
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    nhs_number: str | None = None
    la_child_id: str | None = None
    upn: str | None = None

    def identifiers(self) -> ChildIdentifiers:
        return ChildIdentifiers(
            nhs_number=self.nhs_number,
            given_name=self.given_name,
            family_name=self.family_name,
            date_of_birth=self.date_of_birth,
            upn=self.upn,
            la_child_id=self.la_child_id,
        )

    def index_body(self) -> dict[str, Any]:
        """What the child index is sent: the typed identifiers, nothing else."""
        body: dict[str, Any] = {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "nhs_number": self.nhs_number,
            "la_child_id": self.la_child_id,
            "upn": self.upn,
        }
        return {name: value for name, value in body.items() if value is not None}

    @property
    def identifiers_used(self) -> tuple[SearchIdentifier, ...]:
        used = {
            SearchIdentifier.GIVEN_NAME: self.given_name,
            SearchIdentifier.FAMILY_NAME: self.family_name,
            SearchIdentifier.DATE_OF_BIRTH: self.date_of_birth,
            SearchIdentifier.NHS_NUMBER: self.nhs_number,
            SearchIdentifier.LA_CHILD_ID: self.la_child_id,
            SearchIdentifier.UPN: self.upn,
        }
        return tuple(kind for kind, value in used.items() if value is not None)


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _date_of_birth(
    form: Mapping[str, Any], today: dt.date, problems: list[FieldProblem]
) -> dt.date | None:
    parts = [_text(form, f"dob_{part}") for part in ("day", "month", "year")]
    if not any(parts):
        return None
    if not all(parts):
        problems.append(FieldProblem("dob_day", "Enter the date of birth as day, month and year"))
        return None
    day, month, year = parts
    try:
        born = dt.date(int(str(year)), int(str(month)), int(str(day)))
    except ValueError:
        problems.append(FieldProblem("dob_day", "Enter a real date of birth"))
        return None
    if born > today or born.year < today.year - 30:
        problems.append(
            FieldProblem("dob_day", "The date of birth must be in the past 30 years and not later")
        )
        return None
    return born


def parse_search(
    form: Mapping[str, Any], *, today: dt.date
) -> tuple[SearchQuery | None, list[FieldProblem]]:
    """The search a submitted form asks for, or the problems to show (in the form's order)."""
    problems: list[FieldProblem] = []
    raw_purpose = form.get("purpose")
    purpose = next((p for p in SearchPurpose if p.value == raw_purpose), None)
    if purpose is None:
        problems.append(FieldProblem("purpose", "Choose why you are searching"))
    texts: dict[str, str | None] = {}
    for name, limit in _TEXT_LIMITS.items():
        value = _text(form, name)
        if value is not None and len(value) > limit:
            problems.append(FieldProblem(name, f"Enter at most {limit} characters"))
            value = None
        texts[name] = value
    born = _date_of_birth(form, today, problems)
    nhs = texts["nhs_number"]
    if nhs is not None and not is_valid_nhs_number(nhs):
        problems.append(
            FieldProblem("nhs_number", "Enter a valid 10-digit NHS number, or leave it blank")
        )
        nhs = None
    query = SearchQuery(
        purpose=purpose or SearchPurpose.SCREENING_CONTACT,
        given_name=texts["given_name"],
        family_name=texts["family_name"],
        date_of_birth=born,
        nhs_number=nhs,
        la_child_id=texts["la_child_id"],
        upn=texts["upn"],
    )
    if not problems and not enough_to_search(query.identifiers()):
        problems.append(
            FieldProblem(
                "given_name",
                "Enter an NHS number, UPN or LA child ID, or a name with a date of birth, "
                "or a given and a family name",
            )
        )
    return (None, problems) if problems else (query, [])


@dataclass(frozen=True, slots=True)
class ChildMatch:
    """One child the index found: its keys and how strongly it matched (never an identifier)."""

    child_key: str
    keys: tuple[str, ...]
    score: float
    strength: str


def matches_from_json(body: Any) -> list[ChildMatch]:
    """The index's answer; raises ChildIndexUnavailable for an answer of another shape."""
    try:
        return [
            ChildMatch(
                child_key=str(m["child_key"]),
                keys=tuple(str(k) for k in m["keys"]),
                score=float(m["score"]),
                strength=str(m["strength"]) if m["strength"] in STRENGTH_LABELS else "weak",
            )
            for m in body["matches"]
        ]
    except (KeyError, TypeError, ValueError):
        raise ChildIndexUnavailable(
            "the child index's search answer is not the contract's"
        ) from None


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A match as this person may see the child: their feed's view of the child only."""

    child_key: str
    """The key the child's page is reached by (the console's surviving key): never shown."""
    name: str
    facts: tuple[FieldRow, ...]
    agencies: tuple[str, ...]
    notices: int
    latest: str
    strength: str
    strength_label: str


_RESULT_FACTS: tuple[str, ...] = (
    "date_of_birth",
    "age_years",
    "postcode_district",
    "nhs_number",
    "upn",
    "la_child_id",
)


def _keys_of(match: ChildMatch, aliases: ChildAliases) -> set[str]:
    keys: set[str] = set()
    for key in (match.child_key, *match.keys):
        keys |= aliases.group_of(key)
    return keys


def search_results(
    matches: Sequence[ChildMatch],
    projection: Projection,
    aliases: ChildAliases,
    *,
    agencies: Mapping[str, str],
) -> list[SearchResult]:
    """The matches this person may see, best first: only children with a notice in their
    feed, under any key the index or the console's alias map gives the child; one result per
    child as the console groups it."""
    results: list[SearchResult] = []
    seen: set[str] = set()
    for match in matches:
        entries = projection.for_keys(_keys_of(match, aliases))
        if not entries:
            continue  # not in this person's feed: as if not found
        # The page is reached by a key the console itself groups the notices under (the
        # index may know of a merge the console has not heard of yet).
        page_key = aliases.surviving_key(entries[-1].linkage_key)
        if page_key in seen:
            continue
        seen.add(page_key)
        results.append(_result(page_key, match, entries, agencies))
    return results


def _result(
    page_key: str, match: ChildMatch, entries: Iterable[FeedEntry], agencies: Mapping[str, str]
) -> SearchResult:
    shown = list(entries)
    subject = merged_subject(shown)
    name = " ".join(str(subject[k]) for k in ("given_name", "family_name") if k in subject)
    facts = tuple(
        FieldRow(field_label(f"subject.{k}"), format_value(f"subject.{k}", subject[k]))
        for k in _RESULT_FACTS
        if k in subject
    )
    latest = max(shown, key=lambda e: (e.received_at, e.notice_id))
    return SearchResult(
        child_key=page_key,
        name=name or "Name not shared with you",
        facts=facts,
        agencies=tuple(dict.fromkeys(agency_text(e.source_agency, agencies) for e in shown)),
        notices=len(shown),
        latest=when_text(latest.received_at),
        strength=match.strength,
        strength_label=STRENGTH_LABELS.get(match.strength, "Match"),
    )
