"""A break-glass grant carries the agency's field signatures for exactly the paths granted,
as a sharing decision's feed item does: the notice is read back through intake, so its
SD-JWT was checked again; a grant that does not name the source carries none."""

from __future__ import annotations

from typing import Any

from services.gateway.domain.break_glass import grant_messages
from services.gateway.domain.intake import accept_notice
from services.gateway.settings import GatewaySettings
from services.hubkit.field_provenance import open_issued
from services.hubkit.item_provenance import item_provenance
from services.hubkit.publisher import NoticePublisher
from tests.gateway.unit.test_break_glass import (
    ASKED_AT,
    BASIS,
    CATALOG,
    DESK,
    GRANTED_AT,
    KEYS,
    LIMITS,
    POLICE,
    POLICE_KEY,
    RULES,
    WANTED,
    _accepted,
    _notice,
    _request,
)


def _grant_item(requested: list[str]) -> dict[str, Any]:
    notice = _notice()
    publisher = NoticePublisher(
        producer=None,  # only seal_notice is used
        catalog=CATALOG,
        agency=POLICE,
        signing_key=POLICE_KEY,
        clock=lambda: ASKED_AT,
    )
    read_back = accept_notice(
        catalog=CATALOG,
        keys=KEYS,
        agency=POLICE,
        key=notice["subject"]["linkage_key"].encode(),
        value=publisher.seal_notice(notice),
    )
    assert read_back.provenance is not None
    _, item = grant_messages(
        rules=RULES,
        lawful_basis=BASIS,
        accepted=_accepted(_request(notice, requested_paths=requested)),
        notice=read_back,
        subscriber=DESK,
        agency_name=POLICE.name,
        relay_contact=GatewaySettings().relay_contact,
        safeguarding_contacts=LIMITS.safeguarding_contacts,
        silent=LIMITS.silent_paths,
        granted_at=GRANTED_AT,
    )
    return item.record


def test_a_grant_naming_the_source_verifies_field_by_field() -> None:
    item = _grant_item([*WANTED, "source.agency"])
    checked = item_provenance(item, KEYS)
    assert checked is not None
    assert set(checked.verified) == {*WANTED, "source.agency"}
    assert set(open_issued(item["field_provenance"], KEYS).disclosures) == {
        *WANTED,
        "source.agency",
    }


def test_a_grant_not_naming_the_source_carries_no_signature() -> None:
    assert _grant_item(list(WANTED))["field_provenance"] is None
