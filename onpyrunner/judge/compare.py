"""Answer checkers: does a program's output match the expected output?

- "lines"  (default) ignores whitespace at line ends (spaces, tabs, a CR of CRLF) and blank
           lines at the end, like most judges;
- "exact"  compares the text as is;
- "tokens" compares the whitespace-separated tokens;
- float    compares tokens, numerically where both parse as numbers (|a - b| <= abs_tol or
           <= rel_tol * max(|a|, |b|)); NaN matches NaN, inf matches inf of the same sign,
           -0.0 matches 0.0;
- "livecodebench" grades as LiveCodeBench does: the output and the answer stripped, split
           into lines, each line stripped; as many lines; each pair of lines equal as text,
           or else both all tokens that parse as decimals, equal as decimals ("1.0" = "1",
           "1e2" = "100"; exactly, no tolerance).
`values_equal` compares a function_call case's returned value (JSON) with the expected one:
deep equality, numbers within the float checker's tolerance when the job has one (exactly
otherwise), true and false never equal to numbers.
A mismatch comes with a short hint of the first difference, cut to a few hundred characters.
`verdict_of` judges one run on a case: its outcome when it failed, else the comparison.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from onpyrunner.models import Checker, FloatChecker, Outcome, RunResult, Verdict

HINT_CHARS = 120
_OUTCOME_VERDICT = {
    Outcome.TIME_LIMIT_EXCEEDED: Verdict.TIME_LIMIT_EXCEEDED,
    Outcome.MEMORY_LIMIT_EXCEEDED: Verdict.MEMORY_LIMIT_EXCEEDED,
    Outcome.OUTPUT_LIMIT_EXCEEDED: Verdict.OUTPUT_LIMIT_EXCEEDED,
    Outcome.RUNTIME_ERROR: Verdict.RUNTIME_ERROR,
    Outcome.COMPILE_ERROR: Verdict.COMPILE_ERROR,
}
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE
)


@dataclass(frozen=True)
class Comparison:
    """Whether the output matched, and if not, where it first differs."""

    ok: bool
    hint: str | None = None


def _cut(text: str) -> str:
    return repr(text if len(text) <= HINT_CHARS else text[:HINT_CHARS] + "...")


def _first_difference(expected: list[str], got: list[str], unit: str) -> str:
    for i, (e, g) in enumerate(zip(expected, got, strict=False)):
        if e != g:
            return f"{unit} {i + 1}: expected {_cut(e)}, got {_cut(g)}"
    if len(got) < len(expected):
        return f"{unit} {len(got) + 1}: expected {_cut(expected[len(got)])}, got end of output"
    return f"{unit} {len(expected) + 1}: expected end of output, got {_cut(got[len(expected)])}"


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def _number(token: str) -> float | None:
    return float(token) if _NUMBER.fullmatch(token) else None


def _tokens_match_float(e: str, g: str, checker: FloatChecker) -> bool:
    if e == g:
        return True
    a, b = _number(e), _number(g)
    if a is None or b is None:
        return False
    return _floats_match(a, b, checker)


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(token) for token in line.split()]
    except InvalidOperation:
        return None


def _livecodebench(expected: str, got: str) -> Comparison:
    e_lines = [line.strip() for line in expected.strip().split("\n")]
    g_lines = [line.strip() for line in got.strip().split("\n")]
    if len(e_lines) != len(g_lines):
        return Comparison(
            False,
            f"expected {len(e_lines)} lines, got {len(g_lines)}: "
            + _first_difference(e_lines, g_lines, "line"),
        )
    for i, (e, g) in enumerate(zip(e_lines, g_lines, strict=True)):
        if e == g:
            continue
        e_numbers, g_numbers = _decimals(e), _decimals(g)
        if e_numbers is None or g_numbers is None or e_numbers != g_numbers:
            return Comparison(False, f"line {i + 1}: expected {_cut(e)}, got {_cut(g)}")
    return Comparison(True)


def compare(expected: str, got: str, checker: Checker) -> Comparison:
    """Compare a program's stdout with the expected stdout under a checker."""
    if checker == "livecodebench":
        return _livecodebench(expected, got)
    if checker == "exact":
        if expected == got:
            return Comparison(True)
        return Comparison(False, _first_difference(expected.split("\n"), got.split("\n"), "line"))
    if checker == "lines":
        e_lines, g_lines = _lines(expected), _lines(got)
        if e_lines == g_lines:
            return Comparison(True)
        return Comparison(False, _first_difference(e_lines, g_lines, "line"))
    e_tokens, g_tokens = expected.split(), got.split()
    if isinstance(checker, FloatChecker):
        same = len(e_tokens) == len(g_tokens) and all(
            _tokens_match_float(e, g, checker) for e, g in zip(e_tokens, g_tokens, strict=True)
        )
        if same:
            return Comparison(True)
        for i, (e, g) in enumerate(zip(e_tokens, g_tokens, strict=False)):
            if not _tokens_match_float(e, g, checker):
                return Comparison(False, f"token {i + 1}: expected {_cut(e)}, got {_cut(g)}")
        return Comparison(False, _first_difference(e_tokens, g_tokens, "token"))
    if e_tokens == g_tokens:
        return Comparison(True)
    return Comparison(False, _first_difference(e_tokens, g_tokens, "token"))


def _numbers_equal(a: int | float, b: int | float, checker: FloatChecker | None) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    try:
        x, y = float(a), float(b)
    except OverflowError:  # an int too large for a float: only equal as is
        return a == b
    if checker is None:
        return x == y or (math.isnan(x) and math.isnan(y))
    return _floats_match(x, y, checker)


def _floats_match(a: float, b: float, checker: FloatChecker) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(checker.abs_tol, checker.rel_tol * max(abs(a), abs(b)))


def _value_text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= HINT_CHARS else text[:HINT_CHARS] + "..."


def _scalars_equal(e: Any, g: Any, tolerance: FloatChecker | None) -> bool:
    if isinstance(e, bool) or isinstance(g, bool):
        return isinstance(e, bool) and isinstance(g, bool) and e == g
    if isinstance(e, int | float) and isinstance(g, int | float):
        return _numbers_equal(e, g, tolerance)
    return type(e) is type(g) and e == g


def values_equal(expected: Any, got: Any, checker: Checker) -> Comparison:
    """Whether a returned value (decoded JSON) equals the expected one: deep equality,
    numbers within the float checker's tolerance when the job's checker is one (else
    exactly; 1 equals 1.0), a boolean never equal to a number; with the path of the first
    difference."""
    tolerance = checker if isinstance(checker, FloatChecker) else None
    pending: list[tuple[str, Any, Any]] = [("", expected, got)]  # no recursion: deep values
    while pending:
        path, e, g = pending.pop()
        where = f"at {path}: " if path else ""
        if isinstance(e, list) and isinstance(g, list):
            if len(e) != len(g):
                hint = f"{where}expected a list of {len(e)}, got {len(g)}: {_value_text(g)}"
                return Comparison(False, hint)
            pending += [
                (f"{path}[{i}]", x, y)
                for i, (x, y) in reversed(list(enumerate(zip(e, g, strict=True))))
            ]
        elif isinstance(e, dict) and isinstance(g, dict):
            if e.keys() != g.keys():
                hint = f"{where}expected keys {sorted(e)}, got {sorted(g)}"
                return Comparison(False, _cut(hint))
            pending += [(f"{path}[{json.dumps(k)}]", e[k], g[k]) for k in sorted(e, reverse=True)]
        elif (
            isinstance(e, list | dict)
            or isinstance(g, list | dict)
            or not _scalars_equal(e, g, tolerance)
        ):
            return Comparison(False, f"{where}expected {_value_text(e)}, got {_value_text(g)}")
    return Comparison(True)


def verdict_of(expected: str, run: RunResult, checker: Checker) -> tuple[Verdict, str | None]:
    """The verdict of one run on a case, and the hint of a wrong answer."""
    if run.outcome is not Outcome.SUCCESS:
        return _OUTCOME_VERDICT[run.outcome], None
    comparison = compare(expected, run.stdout, checker)
    return (Verdict.ACCEPTED if comparison.ok else Verdict.WRONG_ANSWER), comparison.hint
