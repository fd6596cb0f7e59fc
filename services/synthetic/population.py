"""A synthetic population with ground truth: one local authority's MASH over a year.

`population(children=N, seed=S)` makes N invented children (in families: siblings share the
family name and postcode) and, for each, the records that agencies hold about them, each with
the agency's own view of the identifiers, realistically corrupted. Every record keeps the
ground truth (`child_id`, and which corruptions were applied); a matcher must never see them.

Shape (per child, drawn from a seeded `random.Random`; rates are per record unless noted):
- records per child are skewed: about half of the children have one record, most have one or
  two, and a minority (about 5%, "frequently missing") carry many police missing-episode
  records (repeat contacts), so missing episodes cluster in few children;
- agency mix: police 40%, health 25%, children's services 20%, voluntary sector 15%;
- NHS number held: health 97%, children's services 80%, police 15%, voluntary sector 10%;
- given name: a nickname (when the name has one) 25% in police / VCS records, 10% elsewhere;
  one-edit typo 4%; missing 1%;
- family name: a double-barrelled name cut to one part in 40% of non-health records; one-edit
  typo 3%; missing 1%;
- date of birth: day and month swapped 3% (only possible when the day is <= 12 and differs
  from the month); year off by one 1%; one digit of DD/MM/YY mistyped 1.5% (the date still
  exists, e.g. 17/04/2012 -> 18/04/2012 or 17/04/2015); missing 3% (VCS 10%);
- postcode: a child who moved during the year (30% of families) is recorded at the old
  address in 40% of records; missing 4% (VCS 15%);
- sex: missing 4%, wrong 1%;
- NHS number: a valid number that belongs to a sibling (a slip between two records in the
  same family) in 0.2% of health records; it passes every modulus-11 check, so only the other
  identifiers show it is wrong.
Twins: about 3% of children are twins (1.5% of births are twin births in England and Wales):
the same family, date of birth and postcode, different given names, usually the same sex.
They are the hardest false-match case: only the given name (and any UPN or NHS number held)
tells them apart. Other siblings are born in different years.
Names come from invented lists (150 given names, 300 family names, frequencies skewed so that
common names collide as they do in a real population). NHS numbers are in the 999 test range,
unique per child; UPNs and LA child ids are invented formats (letter Z / prefix LA).

Pure and deterministic: the same (children, seed) gives the same population.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from services.synthetic.notices import synthetic_nhs_number

__all__ = [
    "AGENCIES",
    "MEAN_RECORDS_PER_CHILD",
    "NICKNAMES",
    "AgencyRecord",
    "Child",
    "Population",
    "population",
]

Agency = Literal["police", "health", "childrens_services", "voluntary_sector"]
Sex = Literal["F", "M"]
AGENCIES: tuple[Agency, ...] = ("police", "health", "childrens_services", "voluntary_sector")
_AGENCY_WEIGHTS = (0.40, 0.25, 0.20, 0.15)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# The year the population covers; ages 0-17 at its start.
_YEAR_START = dt.date(2025, 4, 1)

_GIVEN_F = _words(
    "Abigail Ada Aisha Alexandra Alice Amara Amelia Anna Annabelle Ava Beatrice Bella Bethany "
    "Caitlin Catherine Charlotte Chloe Clara Daisy Daniela Eleanor Elizabeth Ella Ellie Elsie "
    "Emily Emma Erin Esme Eva Evelyn Faith Florence Freya Gabriella Georgia Grace Hannah "
    "Harriet Imogen Isabella Isla Ivy Jasmine Jessica Josephine Katherine Layla Leah Lily Lucy "
    "Maisie Margaret Maria Matilda Maya Megan Mia Millie Molly Naomi Nora Olivia Phoebe Poppy "
    "Rebecca Rosalind Rose Ruby Samantha Sara Scarlett Sienna Sofia Sophie Summer Victoria "
    "Willow Zara"
)
_GIVEN_M = _words(
    "Aaron Adam Aiden Alexander Alfie Andrew Archie Arthur Benjamin Callum Charles Christopher "
    "Connor Daniel David Dominic Dylan Edward Elliot Ethan Felix Finley Frederick Gabriel "
    "George Harrison Harry Henry Hugo Isaac Jack Jacob James Jayden Joseph Joshua Jude Kai Leo "
    "Leon Lewis Liam Logan Louis Luca Lucas Luke Mason Matthew Max Michael Nathan Nicholas Noah "
    "Oliver Oscar Owen Patrick Reuben Riley Robert Ronan Rory Samuel Sebastian Stanley Theo "
    "Thomas Timothy Toby Tommy William Zachary"
)

# How agencies write a child's name in short; the matcher keeps its own table (it cannot know
# every nickname a record may carry).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Abigail": ("Abi", "Abby"),
    "Alexander": ("Alex", "Xander"),
    "Alexandra": ("Alex", "Lexi"),
    "Andrew": ("Andy", "Drew"),
    "Benjamin": ("Ben", "Benny"),
    "Catherine": ("Kate", "Cathy"),
    "Charles": ("Charlie",),
    "Charlotte": ("Lottie", "Charlie"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Daniela": ("Dani",),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Frederick": ("Fred", "Freddie"),
    "Gabriella": ("Gabby", "Ella"),
    "Harrison": ("Harry",),
    "Isabella": ("Bella", "Izzy"),
    "Jacob": ("Jake",),
    "James": ("Jim", "Jamie"),
    "Jessica": ("Jess",),
    "Joseph": ("Joe", "Joey"),
    "Joshua": ("Josh",),
    "Josephine": ("Josie",),
    "Katherine": ("Kate", "Katie"),
    "Margaret": ("Maggie", "Peggy"),
    "Matthew": ("Matt",),
    "Michael": ("Mike", "Mikey"),
    "Nicholas": ("Nick", "Nicky"),
    "Rebecca": ("Becky", "Becca"),
    "Robert": ("Rob", "Bobby"),
    "Samantha": ("Sam", "Sammy"),
    "Samuel": ("Sam", "Sammy"),
    "Sebastian": ("Seb",),
    "Thomas": ("Tom", "Tommy"),
    "Timothy": ("Tim", "Timmy"),
    "Victoria": ("Vicky", "Tori"),
    "William": ("Will", "Billy", "Liam"),
    "Zachary": ("Zach",),
}

# 20 invented first parts x 15 endings = 300 family names, none of them a real surname list.
_FAMILY_STEMS = _words(
    "Ash Birch Black Bram Cold Dun Elm Fern Grey Hol Ivy Kes Lark Mer North Oak Pen Rook Thorn Wy"
)
_FAMILY_ENDINGS = _words(
    "ton ley wood field combe ford hurst more well by stead wick den gate shaw"
)
_DISTRICTS = tuple(f"ZZ{n}" for n in range(1, 25))


@dataclass(frozen=True, slots=True)
class Child:
    """A child's true identity (what no single agency fully holds)."""

    child_id: int
    family_id: int
    given_name: str
    family_name: str
    sex: Sex
    date_of_birth: dt.date
    postcode: str
    previous_postcode: str | None  # the address before a move during the year, if any
    nhs_number: str
    upn: str | None  # school children only
    la_child_id: str | None  # children known to children's services
    frequently_missing: bool
    twin_of: int | None = None  # the child_id of the twin born first, for the second twin


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """One agency's record of a child, identifiers as that agency holds them.

    `child_id` and `corruptions` are ground truth: benchmarks and tests read them, a matcher
    must not (it sees only the identifier fields)."""

    record_id: str
    child_id: int
    agency: Agency
    event: Literal["contact", "missing_episode"]
    given_name: str | None
    family_name: str | None
    sex: Sex | None
    date_of_birth: dt.date | None
    postcode: str | None
    nhs_number: str | None
    upn: str | None
    la_child_id: str | None
    corruptions: frozenset[str]


@dataclass(frozen=True, slots=True)
class Population:
    children: tuple[Child, ...]
    records: tuple[AgencyRecord, ...]

    def records_per_child(self) -> Counter[int]:
        return Counter(r.child_id for r in self.records)


# A non-first sibling is the twin of the sibling before with this probability, which makes
# about 3% of all children twins (families: 45% one child, 33% two, 15% three, 7% four).
_TWIN_SHARE = 0.035
_TWIN_SAME_SEX = 0.65  # identical twins (always the same sex) and half of fraternal ones
# Health records carrying a sibling's NHS number, of those whose child has a sibling (about
# three children in four): 0.2% of all health records.
_NHS_OF_SIBLING = 0.0027

# Records per ordinary child: mostly one or two (weights for 1..6 records).
_RECORD_COUNT_WEIGHTS = (50, 25, 11, 6, 3, 2)
_FREQUENTLY_MISSING_SHARE = 0.05
# Mean records per child implied by the weights and the missing-episode children (who get 8-30
# extra police records): lets a caller size a population for a target number of records.
MEAN_RECORDS_PER_CHILD = (
    sum(n * w for n, w in enumerate(_RECORD_COUNT_WEIGHTS, 1)) / sum(_RECORD_COUNT_WEIGHTS)
    + _FREQUENTLY_MISSING_SHARE * 19
)


def population(*, children: int, seed: int) -> Population:
    """`children` invented children in families, and every agency record about them."""
    rng = random.Random(seed)
    given_weights_f = _zipf_weights(len(_GIVEN_F))
    given_weights_m = _zipf_weights(len(_GIVEN_M))
    family_names = [stem + ending for stem in _FAMILY_STEMS for ending in _FAMILY_ENDINGS]
    rng.shuffle(family_names)
    family_weights = _zipf_weights(len(family_names))
    used_nhs: set[str] = set()

    people: list[Child] = []
    family_id = 0
    while len(people) < children:
        family_id += 1
        family_name = rng.choices(family_names, family_weights)[0]
        if rng.random() < 0.08:  # double-barrelled
            family_name += "-" + rng.choices(family_names, family_weights)[0]
        postcode = _postcode(rng, rng.choice(_DISTRICTS))
        previous = _postcode(rng, rng.choice(_DISTRICTS)) if rng.random() < 0.30 else None
        size = min(rng.choices((1, 2, 3, 4), (45, 33, 15, 7))[0], children - len(people))
        taken_given: set[str] = set()
        birth_years: set[int] = set()
        elder: Child | None = None  # the sibling made just before
        for _ in range(size):
            twin_of = (
                elder
                if elder is not None and elder.twin_of is None and rng.random() < _TWIN_SHARE
                else None
            )
            sex: Sex = rng.choice(("F", "M"))
            if twin_of is not None and rng.random() < _TWIN_SAME_SEX:
                sex = twin_of.sex
            names, weights = (
                (_GIVEN_F, given_weights_f) if sex == "F" else (_GIVEN_M, given_weights_m)
            )
            given = rng.choices(names, weights)[0]
            while given in taken_given:
                given = rng.choices(names, weights)[0]
            taken_given.add(given)
            if twin_of is not None:
                dob = twin_of.date_of_birth
            else:
                dob = _date_of_birth(rng, exclude_years=birth_years)
            birth_years.add(dob.year)
            nhs = synthetic_nhs_number(rng)
            while nhs in used_nhs:
                nhs = synthetic_nhs_number(rng)
            used_nhs.add(nhs)
            age = (_YEAR_START - dob).days // 365
            elder = Child(
                child_id=len(people) + 1,
                family_id=family_id,
                given_name=given,
                family_name=family_name,
                sex=sex,
                date_of_birth=dob,
                postcode=postcode,
                previous_postcode=previous,
                nhs_number=nhs,
                upn=f"Z{rng.randrange(10**12):012d}" if age >= 4 and rng.random() < 0.9 else None,
                la_child_id=f"LA{rng.randrange(10**6):06d}" if rng.random() < 0.3 else None,
                frequently_missing=rng.random() < _FREQUENTLY_MISSING_SHARE,
                twin_of=twin_of.child_id if twin_of is not None else None,
            )
            people.append(elder)

    families: dict[int, list[Child]] = {}
    for child in people:
        families.setdefault(child.family_id, []).append(child)
    records: list[AgencyRecord] = []
    for child in people:
        siblings = [c for c in families[child.family_id] if c is not child]
        count = rng.choices(range(1, 7), _RECORD_COUNT_WEIGHTS)[0]
        plan: list[tuple[Agency, Literal["contact", "missing_episode"]]] = [
            (rng.choices(AGENCIES, _AGENCY_WEIGHTS)[0], "contact") for _ in range(count)
        ]
        if child.frequently_missing:
            plan += [("police", "missing_episode")] * rng.randrange(8, 31)
        for agency, event in plan:
            records.append(
                _agency_view(
                    rng, child, siblings, agency, event, record_id=f"R{len(records) + 1:07d}"
                )
            )
    return Population(children=tuple(people), records=tuple(records))


def _zipf_weights(n: int) -> list[float]:
    # Name frequencies fall off roughly as 1/rank (a few very common names, a long tail).
    return [1 / (rank + 5) for rank in range(n)]


def _postcode(rng: random.Random, district: str) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{district} {rng.randrange(10)}{rng.choice(letters)}{rng.choice(letters)}"


def _date_of_birth(rng: random.Random, *, exclude_years: set[int]) -> dt.date:
    # Siblings other than twins are born in different years.
    while True:
        dob = _YEAR_START - dt.timedelta(days=rng.randrange(1, 18 * 365))
        if dob.year not in exclude_years:
            return dob


_NHS_HELD = {"health": 0.97, "childrens_services": 0.80, "police": 0.15, "voluntary_sector": 0.10}


def _agency_view(
    rng: random.Random,
    child: Child,
    siblings: list[Child],
    agency: Agency,
    event: Literal["contact", "missing_episode"],
    *,
    record_id: str,
) -> AgencyRecord:
    corruptions: set[str] = set()
    informal = agency in ("police", "voluntary_sector")

    given: str | None = child.given_name
    if child.given_name in NICKNAMES and rng.random() < (0.25 if informal else 0.10):
        given = rng.choice(NICKNAMES[child.given_name])
        corruptions.add("nickname")
    if rng.random() < 0.04:
        given = _one_edit(rng, given or child.given_name)
        corruptions.add("given_typo")
    if rng.random() < 0.01:
        given = None
        corruptions.add("given_missing")

    family: str | None = child.family_name
    if "-" in child.family_name and agency != "health" and rng.random() < 0.40:
        family = rng.choice(child.family_name.split("-"))
        corruptions.add("double_barrel_reduced")
    if rng.random() < 0.03:
        family = _one_edit(rng, family or child.family_name)
        corruptions.add("family_typo")
    if rng.random() < 0.01:
        family = None
        corruptions.add("family_missing")

    true_dob = child.date_of_birth
    dob: dt.date | None = true_dob
    if true_dob.day <= 12 and true_dob.day != true_dob.month and rng.random() < 0.03:
        dob = dt.date(true_dob.year, true_dob.day, true_dob.month)
        corruptions.add("dob_swapped")
    elif rng.random() < 0.01:
        year = true_dob.year + rng.choice((-1, 1))
        dob = true_dob.replace(year=year, day=min(true_dob.day, 28))  # no 29 February
        corruptions.add("dob_year")
    elif rng.random() < 0.015:
        dob = _one_digit_wrong(rng, true_dob)
        corruptions.add("dob_digit")
    if rng.random() < (0.10 if agency == "voluntary_sector" else 0.03):
        dob = None
        corruptions.add("dob_missing")

    postcode: str | None = child.postcode
    if child.previous_postcode and rng.random() < 0.40:
        postcode = child.previous_postcode
        corruptions.add("old_postcode")
    if rng.random() < (0.15 if agency == "voluntary_sector" else 0.04):
        postcode = None
        corruptions.add("postcode_missing")

    sex: Sex | None = child.sex
    roll = rng.random()
    if roll < 0.04:
        sex = None
        corruptions.add("sex_missing")
    elif roll < 0.05:
        sex = "M" if child.sex == "F" else "F"
        corruptions.add("sex_wrong")

    nhs = child.nhs_number if rng.random() < _NHS_HELD[agency] else None
    if nhs is None:
        corruptions.add("nhs_missing")
    elif agency == "health" and siblings and rng.random() < _NHS_OF_SIBLING:
        nhs = rng.choice(siblings).nhs_number
        corruptions.add("nhs_sibling")
    upn = child.upn if agency == "childrens_services" and rng.random() < 0.6 else None
    if child.upn and agency == "voluntary_sector" and rng.random() < 0.1:
        upn = child.upn
    la_id = child.la_child_id if agency == "childrens_services" and rng.random() < 0.9 else None

    return AgencyRecord(
        record_id=record_id,
        child_id=child.child_id,
        agency=agency,
        event=event,
        given_name=given,
        family_name=family,
        sex=sex,
        date_of_birth=dob,
        postcode=postcode,
        nhs_number=nhs,
        upn=upn,
        la_child_id=la_id,
        corruptions=frozenset(corruptions),
    )


def _one_digit_wrong(rng: random.Random, true: dt.date) -> dt.date:
    """One digit of DD/MM/YY keyed wrong, giving another date that exists (the century is
    rarely mistyped, so it is left alone)."""
    while True:
        digits = list(f"{true.day:02d}{true.month:02d}{true.year % 100:02d}")
        at = rng.randrange(6)
        digits[at] = rng.choice([d for d in "0123456789" if d != digits[at]])
        day, month, year = (int("".join(digits[i : i + 2])) for i in (0, 2, 4))
        try:
            wrong = dt.date(true.year - true.year % 100 + year, month, day)
        except ValueError:
            continue
        # A birth date after the population's year started is not a mistake anyone keeps.
        if wrong < _YEAR_START:
            return wrong


def _one_edit(rng: random.Random, name: str) -> str:
    """A single keying slip: substitute, drop, insert or transpose one letter (not the first,
    which people rarely get wrong)."""
    if len(name) < 3:
        return name + rng.choice(string.ascii_lowercase)
    at = rng.randrange(1, len(name) - 1)
    kind = rng.randrange(4)
    letter = rng.choice(string.ascii_lowercase)
    if kind == 0:
        return name[:at] + letter + name[at + 1 :]
    if kind == 1:
        return name[:at] + name[at + 1 :]
    if kind == 2:
        return name[:at] + letter + name[at:]
    return name[:at] + name[at + 1] + name[at] + name[at + 2 :]
