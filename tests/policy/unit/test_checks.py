from services.policy.checks import format_diff, summarise_coverage, summarise_tests


def _result(name: str, **extra: object) -> dict[str, object]:
    return {
        "package": "data.safehub.sharing_test",
        "name": name,
        "location": {"file": "policies/a_test.rego", "row": 7},
        **extra,
    }


def test_passing_results_are_counted() -> None:
    summary = summarise_tests([_result("test_a"), _result("test_b")])
    assert summary.passed == 2
    assert summary.ok


def test_failures_and_errors_are_named_with_their_location() -> None:
    summary = summarise_tests(
        [
            _result("test_a"),
            _result("test_b", fail=True),
            _result("test_c", error={"message": "eval_conflict_error"}),
        ]
    )
    assert summary.passed == 1
    assert not summary.ok
    assert summary.failed == (
        "data.safehub.sharing_test.test_b (policies/a_test.rego:7)",
        "data.safehub.sharing_test.test_c (policies/a_test.rego:7): eval_conflict_error",
    )


def test_no_tests_at_all_is_not_ok() -> None:
    assert not summarise_tests([]).ok


def test_uncovered_lines_are_listed() -> None:
    report = {
        "coverage": 97.5,
        "files": {
            "policies/b.rego": {
                "not_covered": [
                    {"start": {"row": 4}, "end": {"row": 4}},
                    {"start": {"row": 9}, "end": {"row": 11}},
                ]
            },
            "policies/a.rego": {"covered": [{"start": {"row": 1}, "end": {"row": 3}}]},
        },
    }
    coverage = summarise_coverage(report)
    assert coverage.percent == 97.5
    assert coverage.uncovered == ("policies/b.rego:4", "policies/b.rego:9-11")


def test_format_diff_names_the_file_and_shows_whitespace() -> None:
    lines = format_diff("p/a.rego", "x if {\n    y\n}\n", "x if {\n\ty\n}\n")
    assert lines[:2] == ["--- p/a.rego (as it is)", "+++ p/a.rego (after opa fmt -w)"]
    assert "-    y" in lines
    assert "+→   y" in lines
    assert format_diff("p/a.rego", "same\n", "same\n") == []
    assert "-a··" in format_diff("p", "a  \n", "a\n")
