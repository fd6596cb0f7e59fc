"""Reading what a failing Rego test compared from `opa test --var-values` text."""

from services.policy.failed_tests import failed_expressions, render_failure

# The shape OPA v1.22 prints (tabs are the test's own indentation).
OUTPUT = """\
policies/safehub/sharing/encompass_test.rego:44:
data.safehub.sharing_test.test_school_age: FAIL (86ms)
demo/demo_test.rego:19:
data.demo_test.test_undefined: FAIL (160µs)
--------------------------------------------------------------------------------
FAILURES
--------------------------------------------------------------------------------
data.safehub.sharing_test.test_school_age: FAIL (86ms)

  policies/safehub/sharing/encompass_test.rego:47:
    \t\t_decide(notice)["school-dsl"].outcome == outcome
    \t\t|       |                                |
    \t\t|       |                                "PARTIAL"
    \t\t|       {"classification": "OFFICIAL_SENSITIVE"...
    \t\t_decide(notice)["school-dsl"].outcome: "DENY"
    \t\t_decide(notice): {"cpis-register": {...

data.demo_test.test_count: FAIL (380µs)

  demo/demo_test.rego:12:
    \tcount(demo.fields) == 3
    \t|     |
    \t|     {"a", "b"}
    \t2

data.demo_test.test_undefined: FAIL (160µs)


--------------------------------------------------------------------------------
PASS: 1/4
FAIL: 3/4
"""


def test_expected_is_the_plain_variable_and_actual_the_policy_value() -> None:
    failure = failed_expressions(OUTPUT)["data.safehub.sharing_test.test_school_age"]
    assert (failure.file, failure.row) == ("policies/safehub/sharing/encompass_test.rego", 47)
    assert failure.expression == '_decide(notice)["school-dsl"].outcome == outcome'
    assert failure.expected == '"PARTIAL"'
    assert failure.actual == '"DENY"'
    assert ("notice", '{"classification": "OFFICIAL_SENSITIVE"...') in failure.values


def test_a_literal_is_expected_and_a_call_is_read_from_its_column() -> None:
    failure = failed_expressions(OUTPUT)["data.demo_test.test_count"]
    assert (failure.expected, failure.actual) == ("3", "2")


def test_a_test_without_an_expression_block_is_left_out() -> None:
    assert "data.demo_test.test_undefined" not in failed_expressions(OUTPUT)


def test_rendering_names_the_test_its_place_and_both_values() -> None:
    name = "data.demo_test.test_count"
    lines = render_failure(name, "demo/demo_test.rego:11", failed_expressions(OUTPUT)[name])
    text = "\n".join(lines)
    assert lines[0] == f"FAILED  {name}"
    assert "test at demo/demo_test.rego:11" in text
    assert "failed at demo/demo_test.rego:12: count(demo.fields) == 3" in text
    assert "expected: 3" in text
    assert "actual:   2" in text
    assert 'demo.fields = {"a", "b"}' in text


def test_rendering_without_an_expression_says_what_usually_causes_it() -> None:
    text = "\n".join(render_failure("data.x_test.test_y", "x_test.rego:3", None))
    assert "undefined" in text
