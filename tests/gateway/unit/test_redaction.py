from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.domain.redaction import present_paths, redact, withheld_paths
from services.hubkit.notice import DETAIL_RECORD, to_json_value
from tests.factories import notices

_GENERATOR = notices(seed=11)
_NOTICES = [to_json_value(_GENERATOR.notice(t)) for t in sorted(DETAIL_RECORD)]


def _paths_in(view: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in view.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if isinstance(value, dict):
            paths |= _paths_in(value, path + ".")
    return paths


def _allowed(path: str, permitted: set[str]) -> bool:
    # A path may appear if it is permitted, is under a permitted object, or is a parent
    # that exists only to hold a permitted child.
    return any(path == p or path.startswith(p + ".") or p.startswith(path + ".") for p in permitted)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_no_path_outside_the_permitted_set_appears(data: st.DataObject) -> None:
    notice = data.draw(st.sampled_from(_NOTICES))
    candidates = [*sorted(present_paths(notice)), "subject", "detail", "nonexistent.path"]
    permitted = set(data.draw(st.lists(st.sampled_from(candidates), unique=True)))
    view = redact(notice, permitted)
    for path in _paths_in(view):
        assert _allowed(path, permitted), path
    # Every leaf a parent brought in must itself be permitted or lie under a permitted path.
    for path in _paths_in(view):
        value: Any = view
        for part in path.split("."):
            value = value[part]
        if not isinstance(value, dict):
            assert any(path == p or path.startswith(p + ".") for p in permitted), path


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_withheld_and_disclosed_partition_the_notice(data: st.DataObject) -> None:
    notice = data.draw(st.sampled_from(_NOTICES))
    present = sorted(present_paths(notice))
    permitted = set(data.draw(st.lists(st.sampled_from(present), unique=True)))
    withheld = set(withheld_paths(notice, permitted))
    assert withheld == set(present) - permitted
    view = redact(notice, permitted)
    assert present_paths(view) == frozenset(permitted)


def test_withheld_fields_are_absent_not_blank() -> None:
    notice = _NOTICES[0]
    view = redact(notice, ["subject.linkage_key", "narrative.summary"])
    assert view == {
        "subject": {"linkage_key": notice["subject"]["linkage_key"]},
        "narrative": {"summary": notice["narrative"]["summary"]},
    }


def test_empty_permission_gives_empty_view() -> None:
    assert redact(_NOTICES[0], []) == {}


def test_null_and_empty_values_are_not_present() -> None:
    paths = present_paths({"a": None, "b": [], "subject": {"x": None, "y": 1}, "c": 0})
    assert paths == {"subject.y", "c"}
