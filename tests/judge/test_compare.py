"""Answer checkers on the inputs that trip judges up."""

from __future__ import annotations

import pytest

from onpyrunner.judge.compare import HINT_CHARS, compare, values_equal
from onpyrunner.models import Checker, FloatChecker

FLOAT = FloatChecker(type="float", abs_tol=1e-6, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("checker", "expected", "got", "ok"),
    [
        # lines: whitespace at line ends and blank lines at the end do not matter
        ("lines", "1\n2\n", "1\r\n2\r\n", True),
        ("lines", "a b\n", "a b   \t\n", True),
        ("lines", "a\nb\n", "a\nb", True),
        ("lines", "a\nb", "a\nb\n\n\n", True),
        ("lines", "", "\n\n", True),
        ("lines", "", "x", False),
        ("lines", "a b\n", "a  b\n", False),  # inner whitespace matters
        ("lines", " a\n", "a\n", False),  # leading whitespace matters
        ("lines", "a\n\nb\n", "a\nb\n", False),  # blank lines inside matter
        ("lines", "héllo wörld ✓\n", "héllo wörld ✓", True),
        ("lines", "日本\n", "日本 \n", True),
        # exact: byte for byte
        ("exact", "1\n", "1\n", True),
        ("exact", "1\n", "1", False),
        ("exact", "1\n", "1\r\n", False),
        ("exact", "", "", True),
        # tokens: any whitespace between tokens
        ("tokens", "1 2 3\n", "1\n2\t3", True),
        ("tokens", "1 2 3", "1 2", False),
        ("tokens", "", "   \n", True),
        ("tokens", "ü ✓", "ü\n✓\n", True),
        # float: numerically where both are numbers
        (FLOAT, "0.1 0.2", "0.1000000001 0.2", True),
        (FLOAT, "0.0", "-0.0", True),
        (FLOAT, "-0.0", "0", True),
        (FLOAT, "1.0", "1.0000011", False),  # 1.1e-6 away: past both tolerances
        (FLOAT, "1.0", "1.0000009", True),
        (FLOAT, "1000000", "1000000.9", True),  # relative: 0.9 <= 1e-6 * 1e6
        (FLOAT, "1000000", "1000001.1", False),
        (FLOAT, "1e-7", "0", True),  # 1e-7 <= abs_tol
        (FLOAT, "1e-7", "3e-6", False),
        (FLOAT, "nan", "NaN", True),
        (FLOAT, "nan", "0", False),
        (FLOAT, "inf", "Infinity", True),
        (FLOAT, "inf", "-inf", False),
        (FLOAT, "inf", "1e308", False),
        (FLOAT, "yes 1.5", "yes 1.5000000001", True),
        (FLOAT, "yes", "YES", False),  # words compare exactly
        (FLOAT, "1_000", "1000", False),  # not a number token: compared as text
        (FLOAT, "1 2", "1 2 3", False),
        (FLOAT, "", "", True),
    ],
)
def test_checker(checker: Checker, expected: str, got: str, ok: bool) -> None:
    result = compare(expected, got, checker)
    assert result.ok is ok
    assert (result.hint is None) is ok


def test_hint_names_the_first_differing_line() -> None:
    result = compare("a\nb\nc\n", "a\nB\nc\n", "lines")
    assert result.hint == "line 2: expected 'b', got 'B'"


def test_hint_for_missing_and_extra_output() -> None:
    assert compare("a\nb\n", "a\n", "lines").hint == "line 2: expected 'b', got end of output"
    assert compare("a\n", "a\nb\n", "lines").hint == "line 2: expected end of output, got 'b'"


def test_hint_is_bounded() -> None:
    result = compare("x" * 10_000, "y" * 10_000, "exact")
    assert result.hint is not None
    assert len(result.hint) < 2 * HINT_CHARS + 80


def test_float_hint_names_the_token() -> None:
    assert compare("1 2 3", "1 2.5 3", FLOAT).hint == "token 2: expected '2', got '2.5'"


@pytest.mark.parametrize(
    ("expected", "got", "ok"),
    [
        ("1 2.50\n3\n", "1.0 2.5\n3e0", True),  # numbers as decimals, lines stripped
        ("  7  \n\n", "7", True),  # the whole stripped first
        ("100\n", "1e2\n", True),
        ("0.1\n", "0.10000001\n", False),  # exactly: no tolerance
        ("a 1\n", "a 1.0\n", False),  # a line with a word matches only as text
        ("1\n2\n", "1 2\n", False),  # as many lines
        ("x y\n", "x  y\n", False),  # a text line is compared whole
        ("nan\n", "nan\n", True),  # equal as text
        ("nan\n", "NaN\n", False),  # NaN never equals NaN as a decimal
    ],
)
def test_livecodebench_checker_grades_as_livecodebench(expected: str, got: str, ok: bool) -> None:
    assert compare(expected, got, "livecodebench").ok is ok


@pytest.mark.parametrize(
    ("expected", "got", "checker", "ok"),
    [
        ([1, [2, 3.0], {"a": None}], [1, [2, 3], {"a": None}], "lines", True),
        (1, True, "lines", False),  # a boolean is not a number
        (False, 0, "lines", False),
        (0.3, 0.1 + 0.2, "lines", False),
        (0.3, 0.1 + 0.2, FLOAT, True),
        (10**30, 10**30 + 1, FLOAT, False),  # integers compare exactly
        (10**400, 1e308, FLOAT, False),  # too large for a float: no overflow
        ({"a": 1}, {"a": 1, "b": 2}, "lines", False),
        ("1", 1, "lines", False),
        ([], None, "lines", False),
    ],
)
def test_values_equal(expected: object, got: object, checker: Checker, ok: bool) -> None:
    assert values_equal(expected, got, checker).ok is ok


def test_values_equal_names_where_they_differ_and_goes_deep() -> None:
    hint = values_equal({"v": [1, [2, 3]]}, {"v": [1, [2, 4]]}, "lines").hint
    assert hint == 'at ["v"][1][1]: expected 3, got 4'
    deep: object = 1
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    assert values_equal(deep, deep, "lines").ok
