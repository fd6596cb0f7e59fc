"""Notice ids and JSON views: the hand-rolled UUIDv5 is exactly uuid.uuid5, and the fast
paths of to_json_value give what the general rules give."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.hubkit.notice import (
    DETAIL_RECORD,
    NOTICE_NAMESPACE,
    decision_id_for,
    notice_id_for,
    to_json_value,
)
from tests.factories import notices


@settings(max_examples=300, deadline=None)
@given(notice_id=st.text(), subscriber_id=st.text())
def test_decision_ids_are_uuid5_in_the_hub_namespace(notice_id: str, subscriber_id: str) -> None:
    expected = uuid.uuid5(NOTICE_NAMESPACE, f"decision:{notice_id}:{subscriber_id}")
    assert decision_id_for(notice_id=notice_id, subscriber_id=subscriber_id) == str(expected)


@settings(max_examples=100, deadline=None)
@given(agency=st.text(), organisation=st.text(), reference=st.text())
def test_notice_ids_are_uuid5_in_the_hub_namespace(
    agency: str, organisation: str, reference: str
) -> None:
    expected = uuid.uuid5(NOTICE_NAMESPACE, f"notice:{agency}:{organisation}:{reference}")
    assert notice_id_for(
        agency=agency, organisation_code=organisation, source_reference=reference
    ) == str(expected)


def test_a_known_decision_id_never_changes() -> None:
    # Ids already on the bus and in the audit log must stay what they are.
    assert decision_id_for(notice_id="n-1", subscriber_id="mash-manager") == str(
        uuid.uuid5(uuid.UUID("6f1d3c2e-8a4b-5c6d-9e0f-5afe5afe0001"), "decision:n-1:mash-manager")
    )


def test_json_values_of_every_kind() -> None:
    when = dt.datetime(2026, 11, 20, 12, 0, 1, 234567, tzinfo=dt.UTC)
    value: dict[Any, Any] = {
        "text": "x",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "none": None,
        "at": when,
        "naive_at": when.replace(tzinfo=None),
        "day": dt.date(2013, 5, 17),
        "id": uuid.UUID(int=1),
        "raw": b"\x00\xff",
        "pair": ("a", when),
        "nested": [{"at": when}, [dt.date(2020, 2, 29)]],
        7: "non-string key",
    }
    assert to_json_value(value) == {
        "text": "x",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "none": None,
        "at": "2026-11-20T12:00:01.234+00:00",
        "naive_at": "2026-11-20T12:00:01.234+00:00",
        "day": "2013-05-17",
        "id": "00000000-0000-0000-0000-000000000001",
        "raw": "AP8=",
        "pair": ["a", "2026-11-20T12:00:01.234+00:00"],
        "nested": [{"at": "2026-11-20T12:00:01.234+00:00"}, ["2020-02-29"]],
        "7": "non-string key",
    }


def test_every_notice_type_renders_as_plain_json() -> None:
    generator = notices(seed=21)
    for notice_type in sorted(DETAIL_RECORD):
        rendered = to_json_value(generator.notice(notice_type))
        assert json.loads(json.dumps(rendered)) == rendered
