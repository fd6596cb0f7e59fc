"""The lawful basis in one line, for every basis the policy data writes: each statute once."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from services.audit.reports import decision_view
from services.hubkit.audit_trail import read_logged_record
from tests.audit.records import audit_records, encode, logged
from tests.factories import POLICIES, catalog, notices

CATALOG = catalog()


def _bases_in_policy_data() -> list[dict[str, Any]]:
    """Every basis the policy's data files write: each object with an `article6`, and each
    special category, Part 3 or Art 10 condition on top of a public-task basis."""
    found: list[dict[str, Any]] = []
    conditions: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "article6" in value:
                found.append(value)
            for key, child in value.items():
                if key in CONDITIONS and isinstance(child, str):
                    conditions.append({key: child})
                if key == "special_category_conditions" and isinstance(child, dict):
                    conditions.extend(
                        {"special_category_condition": text} for text in child.values()
                    )
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for path in sorted(POLICIES.rglob("data.json")):
        walk(json.loads(path.read_text()))
    base = found[0]
    return found + [{**base, **condition} for condition in conditions]


CONDITIONS = ("special_category_condition", "dpa_part3", "criminal_offence_condition")
BASES = _bases_in_policy_data()


def _text(basis: dict[str, Any]) -> str:
    entry = logged(encode(CATALOG, audit_records(notices(5).notice("SAFEGUARDING_CONTACT"))[0]))
    record = dict(read_logged_record(CATALOG, entry.data).record)
    record["lawful_basis"] = {
        "special_category_condition": None,
        "dpa_part3": None,
        "criminal_offence_condition": None,
        "recipient_basis": None,
        **basis,
    }
    from services.audit.storage import StoredLeaf

    leaf = StoredLeaf(
        leaf_index=0,
        leaf_hash=entry.leaf_hash,
        data=entry.data,
        kind=entry.kind,
        entry_id=entry.entry_id,
        duplicate_of=None,
        columns=entry.columns,
        source=None,
        appended_at_ms=0,
    )
    view = decision_view(leaf, record)
    assert view.lawful_basis is not None
    return view.lawful_basis.text


def test_the_policy_data_has_bases_with_every_kind_of_citation() -> None:
    keys = {key for basis in BASES if "article6" in basis for key, value in basis.items() if value}
    assert {"article6", *CONDITIONS} <= keys


@pytest.mark.parametrize("basis", BASES, ids=lambda b: str(list(b.values())[-1])[:40])
def test_no_statute_is_named_twice_in_a_row(basis: dict[str, Any]) -> None:
    text = _text(basis)
    assert not re.search(r"UK GDPR Art (UK GDPR|Art)", text), text
    assert "DPA 2018 Part 3 DPA 2018" not in text
    assert basis["article6"] in text


def test_a_bare_article_number_still_names_its_statute() -> None:
    text = _text({"article6": "6(1)(e) public task", "statutory_gateway": "Children Act 2004 s11"})
    assert text == "UK GDPR Art 6(1)(e) public task; Children Act 2004 s11"


def test_the_doubled_text_the_issue_reported_is_gone() -> None:
    text = _text(
        {
            "article6": "UK GDPR Art 6(1)(e) public task",
            "statutory_gateway": "Children Act 2004 s11",
        }
    )
    assert text == "UK GDPR Art 6(1)(e) public task; Children Act 2004 s11"
