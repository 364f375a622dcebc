"""Answer checkers: does a program's output match the expected output?

- "lines"  (default) ignores whitespace at line ends (spaces, tabs, a CR of CRLF) and blank
           lines at the end, like most judges;
- "exact"  compares the text as is;
- "tokens" compares the whitespace-separated tokens;
- float    compares tokens, numerically where both parse as numbers (|a - b| <= abs_tol or
           <= rel_tol * max(|a|, |b|)); NaN matches NaN, inf matches inf of the same sign,
           -0.0 matches 0.0.
A mismatch comes with a short hint of the first difference, cut to a few hundred characters.
`verdict_of` judges one run on a case: its outcome when it failed, else the comparison.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

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
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(checker.abs_tol, checker.rel_tol * max(abs(a), abs(b)))


def compare(expected: str, got: str, checker: Checker) -> Comparison:
    """Compare a program's stdout with the expected stdout under a checker."""
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


def verdict_of(expected: str, run: RunResult, checker: Checker) -> tuple[Verdict, str | None]:
    """The verdict of one run on a case, and the hint of a wrong answer."""
    if run.outcome is not Outcome.SUCCESS:
        return _OUTCOME_VERDICT[run.outcome], None
    comparison = compare(expected, run.stdout, checker)
    return (Verdict.ACCEPTED if comparison.ok else Verdict.WRONG_ANSWER), comparison.hint
