"""The score of a judge job, from its cases' points and verdicts."""

from __future__ import annotations

import json
import sys

from onpyrunner.judge.run import summarize
from onpyrunner.models import TestCase, TestResult, Verdict


def score(points: list[float], verdicts: list[Verdict]) -> float:
    cases = [TestCase(expected_stdout="", points=p) for p in points]
    results = [TestResult(name=None, verdict=v) for v in verdicts]
    return summarize(cases, results, cut_short=False).score


def test_score_weighs_cases_by_points() -> None:
    accepted, wrong = Verdict.ACCEPTED, Verdict.WRONG_ANSWER
    assert score([1, 1, 1, 1], [accepted, accepted, accepted, wrong]) == 75.0
    assert score([1, 2], [wrong, accepted]) == 66.67
    assert score([0, 0], [accepted, accepted]) == 100.0
    assert score([0, 0], [accepted, wrong]) == 0.0


def test_huge_points_give_a_finite_score() -> None:
    """Points near the float maximum would sum to inf and give a NaN score."""
    huge = sys.float_info.max
    result = score([huge, huge, huge], [Verdict.ACCEPTED, Verdict.WRONG_ANSWER, Verdict.ACCEPTED])
    assert result == 66.67
    json.dumps(result, allow_nan=False)  # what an answer needs
