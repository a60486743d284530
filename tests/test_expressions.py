"""The expression language: types, names, enum values, forbidden syntax, and the sandbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import sandbox
from engine.errors import Span
from engine.expressions import Scope, check_expression
from engine.model import InputSpec

SPAN = Span("p.yaml", 7, 11)


def spec(name: str, kind: str, **extra: Any) -> InputSpec:
    return InputSpec(name=name, type=kind, span=SPAN, **extra)


SCOPE = Scope(
    {
        s.name: s
        for s in [
            spec("type", "string", enum=("incident", "request", "problem")),
            spec("criticality", "string", enum=("low", "high", "critical")),
            spec("count", "integer"),
            spec("cost", "number"),
            spec("funded", "boolean"),
            spec("title", "string"),
            spec("opened", "date"),
            spec("seen", "datetime"),
            spec("tags", "array", items=spec("tags[]", "string", enum=("vip", "legacy"))),
            spec("service", "object"),
            spec("owner", "object"),
            spec("owner.team", "string"),
        ]
    }
)


def check(text: str) -> tuple[Any, list[Any]]:
    return check_expression(text, SCOPE, lambda offset, length: SPAN.shifted(offset, length))


def codes(text: str) -> list[str]:
    return [d.code for d in check(text)[1]]


@pytest.mark.parametrize(
    "text",
    [
        "count >= 10",
        "1 < count <= 5",
        "type in ['incident', 'request']",
        "type not in ('problem',)",
        "criticality == 'high' or criticality == 'critical'",
        "not funded",
        "funded and cost > 1000.5",
        "(cost * 2 if funded else cost) > 10",
        "lower(title) == 'vpn down'",
        "matches(title, '^VPN')",
        "len(tags) > 1 and 'vip' in tags",
        "has(cost)",
        "has(service.tier) and service.tier == 'gold'",
        "owner.team == 'ops'",
        "days_between(opened, '2026-11-22') > 30",
        "days_since(opened) > 30 and days_since(seen) < 0.5 and days_since('2026-01-01') > 1",
        "opened < '2026-01-01'",
        "seen >= '2026-01-01T00:00:00Z'",
        "min(count, 3) == 3 and max(tags) == 'x'",
        "abs(cost - 5) < 1 and round(cost) == 5",
        "tags[0] == 'vip'",
        "'VPN' in title",
        "count % 2 == 0 and count // 2 == 1 and count ** 2 > 3",
        "-cost < 0",
        "True",
    ],
)
def test_accepted(text: str) -> None:
    checked, problems = check(text)
    assert problems == [], problems
    assert checked.type.kind == "boolean"


@pytest.mark.parametrize(
    "text, code",
    [
        ("criticality == 'critcal'", "enum-value"),
        ("'critcal' == criticality", "enum-value"),
        ("criticality in ['high', 'critcal']", "enum-value"),
        ("'vipp' in tags", "enum-value"),
        ("count >= '10'", "type-mismatch"),
        ("title > 3", "type-mismatch"),
        ("funded + 1 > 2", "type-mismatch"),
        ("lower(count) == 'x'", "type-mismatch"),
        ("count and funded", "type-mismatch"),
        ("opened < '2026-13-01'", "type-mismatch"),
        ("opened < seen", "type-mismatch"),
        ("count", "not-a-condition"),
        ("cuont > 1", "unknown-name"),
        ("owner.tem == 'x'", "unknown-name"),
        ("title.length > 1", "unknown-name"),
        ("true", "unknown-name"),
        ("count >", "expression-syntax"),
        ("count = 1", "expression-syntax"),
        ("foo(count)", "unknown-function"),
        ("len(count, 2) > 1", "wrong-arguments"),
        ("days_since(count) > 1", "type-mismatch"),
        ("days_since(title) > 1", "type-mismatch"),
        ("days_since('2026-02-30') > 1", "type-mismatch"),
        ("days_since() > 1", "wrong-arguments"),
        ("days_since(opened, seen) > 1", "wrong-arguments"),
        ("days_sinse(opened) > 1", "unknown-function"),
        ("matches(title, title)", "wrong-arguments"),
        ("matches(title, '(')", "invalid-regex"),
        ("matches(title, r'a\\Cb')", "invalid-regex"),  # RE2's one byte: it can split a character
        ("count is None", "forbidden-syntax"),
        ("count == None", "forbidden-syntax"),
        ("title.upper() == 'X'", "forbidden-syntax"),
        ("count.__class__ == 1", "forbidden-syntax"),
        ("__builtins__ == 1", "forbidden-syntax"),
        ("[c for c in tags] == []", "forbidden-syntax"),
        ("{'a': 1} == {}", "forbidden-syntax"),
        ("(lambda: 1)() == 1", "forbidden-syntax"),
        ("count | 1 == 1", "forbidden-syntax"),
        ("count << 2 == 1", "forbidden-syntax"),
        ("tags[0:1] == []", "forbidden-syntax"),
        ("f'{title}' == 'x'", "forbidden-syntax"),
        ("(x := 3) > 1", "forbidden-syntax"),
        ("len(*tags) > 1", "forbidden-syntax"),
        ("round(cost, ndigits=2) > 1", "forbidden-syntax"),
        ("b'x' == title", "forbidden-syntax"),
    ],
)
def test_rejected(text: str, code: str) -> None:
    assert code in codes(text)


def test_did_you_mean_for_names_and_enum_values() -> None:
    (problem,) = check("cuont > 1")[1]
    assert problem.hint == "did you mean 'count'?"
    (problem,) = check("criticality == 'critcal'")[1]
    assert problem.hint == "did you mean 'critical'?"
    assert "one of 'low', 'high', 'critical'" in problem.message


def test_columns_point_at_the_bad_token() -> None:
    (problem,) = check("count > 1 and criticality == 'critcal'")[1]
    assert problem.span.column == SPAN.column + len("count > 1 and criticality == ")
    (problem,) = check("   cuont > 1")[1]
    assert problem.span.column == SPAN.column + 3


def test_columns_count_characters_not_bytes() -> None:
    (problem,) = check("title == 'é' and cuont > 1")[1]
    assert problem.span.column == SPAN.column + len("title == 'é' and ")


def test_every_problem_of_an_expression_is_reported_at_once_in_order() -> None:
    text = "[c for c in tags] == [] or count >> 2 or cuont > 1 or title.upper() == 'X' or count is 1"
    checked, problems = check(text)
    assert checked is None
    assert [(p.code, p.message, p.span.column - SPAN.column) for p in problems] == [
        ("forbidden-syntax", "comprehensions are not allowed", text.index("[c")),
        ("forbidden-syntax", "operator '>>' is not allowed", text.index("count >>")),
        ("unknown-name", "name 'cuont' is not a declared input", text.index("cuont")),
        ("forbidden-syntax", "method calls are not allowed", text.index("title.upper")),
        ("forbidden-syntax", "'is' is not allowed", text.index("count is")),
    ]


def test_a_forbidden_part_is_named_once_not_with_the_parts_inside_it() -> None:
    (problem,) = check("(lambda: [x for x in tags])() == 1")[1]
    assert problem.message == "lambda expressions are not allowed"
    # nor with what a part built on it would be: a slice's value is unknown, not a list's item
    assert [p.message for p in check("tags[0:1] == []")[1]] == ["slices are not allowed"]
    # the limits on size stop the check as a whole: nothing in an expression too long is read
    assert codes(" or ".join(["count >> 1"] * 600)) == ["expression-too-long"]


CONDITIONS = [  # each true or false, some with one or two problems of their own
    "count > 1", "type == 'incident'", "has(owner.team)", "matches(title, '^a')", "cuont > 1",
    "count >> 2 == 1", "title.upper() == 'X'", "count is 1", "[c for c in tags] == []", "(lambda: 1)() == 1",
    "has(x.y())", "len(*tags) > 1", "round(cost, ndigits=2) > 1", "tags[0:1] == [] and cost | 1 > 0",
    "days_since(opened.x()) > 3", "foo(count) > 1", "criticality == 'critcal'", "owner[title.strip()] == 1",
    "(count if funded.x() else cost) > 1", "-(~count) > 1 or zz",
]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=5))
def test_an_expression_reports_the_problems_of_each_of_its_parts_in_order(parts: list[str]) -> None:
    text = " or ".join(f"({part})" for part in parts)
    expected = []
    for index, part in enumerate(parts):
        offset = len(" or ".join(f"({p})" for p in parts[:index])) + (4 if index else 0) + 1
        expected += [(p.code, p.message, p.hint, p.span.column + offset) for p in check(part)[1]]
    checked, problems = check(text)
    assert [(p.code, p.message, p.hint, p.span.column) for p in problems] == expected
    assert (checked is None) == bool(expected)


def test_reads_and_presence_are_recorded_in_order() -> None:
    checked, _ = check("has(cost) and count > 1 and lower(title) == 'x' and count < 9")
    assert checked.reads == ("count", "title")
    assert checked.presence == ("cost",)


def test_date_literals_are_read_when_the_policy_loads() -> None:
    checked, _ = check("opened < '2026-01-01'")
    assert dt.date(2026, 1, 1) in checked.constants.values()


def test_long_expressions_are_refused() -> None:
    assert "expression-too-long" in codes(" or ".join(["count > 1"] * 600))


# -- the sandbox -------------------------------------------------------------------------------------


def test_powers_are_bounded() -> None:
    assert sandbox.safe_pow(2, 10) == 1024
    assert sandbox.safe_pow(2.0, 0.5) == pytest.approx(2**0.5)
    with pytest.raises(sandbox.LimitError):
        sandbox.safe_pow(10, 10**6)
    with pytest.raises(sandbox.LimitError):
        sandbox.safe_pow(2.0, 10**9)
    with pytest.raises(ValueError):
        sandbox.safe_pow(-8, 0.5)
    with pytest.raises(ZeroDivisionError):
        sandbox.safe_pow(0, -1)


@given(st.integers(min_value=-(10**60), max_value=10**60) | st.floats(allow_nan=False, allow_infinity=False),
       st.integers(min_value=-250, max_value=250))
def test_round_is_pythons_round(value: float, digits: int) -> None:
    assert sandbox.round_number(value, digits) == round(value, digits)


def test_round_to_a_huge_number_of_digits_is_bounded() -> None:
    # Python computes 10 ** 1,000,000,000 before rounding an integer to -10**9 digits
    assert sandbox.round_number(5, -(10**9)) == 0 and sandbox.round_number(-(10**40), -(10**12)) == 0
    assert sandbox.round_number(5.5, -(10**9)) == 0.0 and sandbox.round_number(5, 10**9) == 5


_ATOMS = st.sampled_from(["a", "b", "-", ".", "\\.", "\\d", "\\w", "\\W", "\\D", "[ab]", "[^a]", "[a-c\\d]",
                          "\\b", "\\B", "^", "$", "1", " ", "\u00e9", "\\n", "x?", "b*", "[0-9]+"])
_PATTERNS = st.recursive(st.lists(_ATOMS, min_size=1, max_size=5).map("".join),
                         lambda inner: st.one_of(st.lists(inner, min_size=2, max_size=3).map("|".join),
                                                 inner.map("({})".format), inner.map("(?:{})".format),
                                                 st.tuples(inner, inner).map("".join)), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(_PATTERNS, st.lists(st.text(alphabet="ab1-. \n\u00e9\t_Z", max_size=12), min_size=1, max_size=6))
def test_patterns_without_repetition_find_what_re2_finds(pattern: str, texts: list[str]) -> None:
    # such patterns may run on Python's re, which is faster to call; the answer must be RE2's
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        reference = re2.compile(pattern, options)
    except re2.error:
        return
    compiled = sandbox.Pattern(pattern)
    for text in texts:
        assert compiled.search(text) == (reference.search(text) is not None), (pattern, text)


def test_a_pattern_may_not_match_single_bytes_but_may_match_a_backslash_and_c() -> None:
    with pytest.raises(sandbox.PatternError, match=r"\\C \(any one byte\) is not allowed"):
        sandbox.Pattern(r"x\Cy")
    assert sandbox.Pattern(r"x\\Cy").search("x\\Cy")


def test_text_building_is_bounded() -> None:
    assert sandbox.safe_mul("ab", 3) == "ababab"
    with pytest.raises(sandbox.LimitError, match="repetition would build 1,000,000,000 characters"):
        sandbox.safe_mul("x" * 1000, 10**6)
    with pytest.raises(sandbox.LimitError, match="repetition would build 1,000,000,000 items"):
        sandbox.safe_mul(10**6, ["x"] * 1000)
    with pytest.raises(sandbox.LimitError, match="joining would build 100,001 characters"):
        sandbox.safe_add("x" * sandbox.MAX_STRING_LENGTH, "y")
    with pytest.raises(sandbox.LimitError, match="joining would build 100,001 items"):
        sandbox.safe_add(["x"] * sandbox.MAX_STRING_LENGTH, ["y"])


def test_functions_refuse_the_wrong_kind_of_value() -> None:
    with pytest.raises(TypeError):
        sandbox.lower(3)
    with pytest.raises(TypeError):
        sandbox.contains(["a"], 1) if False else sandbox.contains("abc", 1)
    with pytest.raises(ValueError):
        sandbox.minimum([])


def test_days_between() -> None:
    assert sandbox.days_between(dt.date(2026, 1, 1), dt.date(2026, 2, 1)) == 31
    assert sandbox.days_between("2026-02-01", "2026-01-01") == -31
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert sandbox.days_between(start, start + dt.timedelta(hours=36)) == 1.5
    assert sandbox.days_between(dt.date(2026, 1, 1), start + dt.timedelta(days=2)) == 2


def test_iso_dates_and_times() -> None:
    assert sandbox.parse_date("2026-11-22") == dt.date(2026, 11, 22)
    assert sandbox.parse_date("2026-11-22T10:00") is None
    assert sandbox.parse_datetime("2026-11-22T10:00:00Z").tzinfo is not None
    assert sandbox.parse_datetime("2026-11-22T10:00") == dt.datetime(2026, 11, 22, 10, tzinfo=dt.timezone.utc)
    assert sandbox.parse_datetime("not a date") is None
