"""Mapping keys a child without the linkage secret (services/adapters/ingest/child_keys.py):
a first pass only writes down whose keys it needs, the child index answers, and the second
pass with those answers gives exactly the notice the keyer itself would."""

from __future__ import annotations

import dataclasses

import pytest

from services.adapters.ingest.child_keys import KeysNotResolved, ResolvedKeys, WantedKeys
from services.adapters.ingest.mapping import MappingFailed
from services.childindex.domain import child_key
from services.hubkit.linkage import ChildIdentifiers, IdentifiersIncomplete
from tests.adapters.helpers import AGENCIES, KEYER, MAPPERS, context, native, parse
from tests.factories import TEST_LINKAGE_SECRET


def _index(children: list[ChildIdentifiers]) -> dict[ChildIdentifiers, str | None]:
    """What the child index answers (a fake: the same keying, in process)."""
    answers: dict[ChildIdentifiers, str | None] = {}
    for child in children:
        try:
            answers[child] = child_key(TEST_LINKAGE_SECRET, child)
        except IdentifiersIncomplete:
            answers[child] = None
    return answers


@pytest.mark.parametrize("agency", AGENCIES)
def test_two_passes_give_the_notice_the_keyer_gives(agency: str) -> None:
    record = parse(agency, native(seed=41 + AGENCIES.index(agency)).record(agency))
    ctx = context(agency)
    wanted = WantedKeys()
    MAPPERS[agency](record, dataclasses.replace(ctx, child_keys=wanted))
    assert len(wanted.identifiers) == 1  # one child per record, asked once
    resolved = ResolvedKeys(_index(wanted.identifiers))
    second = MAPPERS[agency](record, dataclasses.replace(ctx, child_keys=resolved))
    assert second == MAPPERS[agency](record, dataclasses.replace(ctx, child_keys=KEYER))


def test_incomplete_identifiers_fail_the_second_pass_with_a_pointer() -> None:
    records = native()
    document = records.police_ppn(records.child())
    # Valid to the model, but no key: no NHS number, and a name with no letter a-z in it
    # once normalised (the index's rule, not the adapter's).
    document["subject"].update(nhs_number=None, given_name="李")
    record = parse("POLICE", document)
    wanted = WantedKeys()
    MAPPERS["POLICE"](record, dataclasses.replace(context("POLICE"), child_keys=wanted))
    resolved = ResolvedKeys(_index(wanted.identifiers))
    with pytest.raises(MappingFailed) as failed:
        MAPPERS["POLICE"](record, dataclasses.replace(context("POLICE"), child_keys=resolved))
    assert [(e.pointer, e.code) for e in failed.value.errors] == [
        ("/subject", "identifiers_incomplete")
    ]


def test_mapping_outside_the_edge_is_a_defect() -> None:
    record = parse("POLICE", native().police_ppn(native().child()))
    unresolved = dataclasses.replace(context("POLICE"), child_keys=KeysNotResolved())
    with pytest.raises(RuntimeError, match=r"Ingest\.keyed"):
        MAPPERS["POLICE"](record, unresolved)
