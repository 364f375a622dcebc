"""The performance score's arithmetic: medians, ratios, spreads, the two bases, weights."""

from __future__ import annotations

import json
import math
import sys

import pytest

from onpyrunner.judge.performance import (
    CaseRuns,
    normalized,
    reference_score,
    score,
    unscored,
)
from onpyrunner.limits import Limits
from onpyrunner.models import PerformanceBasis, Unscored, Usage, Weights

CPU_ONLY = Weights(cpu_time=1, memory=0)
MEMORY_ONLY = Weights(cpu_time=0, memory=1)


def runs(*pairs: tuple[int, int]) -> list[Usage]:
    """Usages from (cpu_time_ms, memory_kb) pairs."""
    return [Usage(cpu_time_ms=c, wall_time_ms=c, memory_kb=m) for c, m in pairs]


def case(submission: list[Usage], reference: list[Usage] | None = None, i: int = 0) -> CaseRuns:
    return CaseRuns(i, f"c{i}", submission, reference or [])


def test_the_same_cost_as_the_reference_scores_50() -> None:
    same = runs((100, 5000), (120, 5100), (110, 4900))
    value, report = score([case(same, same)], Weights(), repeat=3)
    assert value == 50.0
    assert report.basis is PerformanceBasis.REFERENCE
    assert report.ratio == 1.0
    assert report.score_range == (50.0, 50.0)
    (measured,) = report.cases
    assert (measured.cpu_time_ratio, measured.memory_ratio) == (1.0, 1.0)
    assert measured.submission == measured.baseline


@pytest.mark.parametrize(
    ("cpu_ratio", "expected"),
    [(2, 33.33), (0.5, 66.67), (10, 9.09), (0.1, 90.91), (4, 20.0)],
)
def test_the_score_is_the_references_share_of_the_combined_cost(
    cpu_ratio: float, expected: float
) -> None:
    submission = runs((int(100 * cpu_ratio), 5000))
    value, _ = score([case(submission, runs((100, 5000)))], CPU_ONLY, repeat=1)
    assert value == expected


def test_the_score_falls_as_the_ratio_rises_and_stays_within_0_and_100() -> None:
    ratios = [10.0**e for e in range(-12, 13)]
    scores = [reference_score(r) for r in ratios]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False))
    assert all(0 < s < 100 for s in scores)
    assert scores[0] > 99.99 and scores[-1] < 0.01


def test_slower_on_either_figure_always_scores_lower() -> None:
    base, _ = score([case(runs((100, 5000)), runs((100, 5000)))], Weights(), repeat=1)
    slower, _ = score([case(runs((130, 5000)), runs((100, 5000)))], Weights(), repeat=1)
    hungrier, _ = score([case(runs((100, 6500)), runs((100, 5000)))], Weights(), repeat=1)
    assert slower < base and hungrier < base


def test_cpu_time_weighs_more_than_memory_by_default() -> None:
    reference = runs((100, 5000))
    twice_the_cpu, _ = score([case(runs((200, 5000)), reference)], Weights(), repeat=1)
    twice_the_memory, _ = score([case(runs((100, 10000)), reference)], Weights(), repeat=1)
    assert twice_the_cpu < twice_the_memory < 50
    # 2 ** 0.75 and 2 ** 0.25: the weights are exponents of a geometric mean
    assert twice_the_cpu == round(100 / (1 + 2**0.75), 2)
    assert twice_the_memory == round(100 / (1 + 2**0.25), 2)


def test_a_weight_of_zero_ignores_that_figure() -> None:
    reference = runs((100, 5000))
    hungry = runs((100, 50000))
    assert score([case(hungry, reference)], CPU_ONLY, repeat=1)[0] == 50.0
    assert score([case(hungry, reference)], MEMORY_ONLY, repeat=1)[0] == round(100 / 11, 2)


def test_weights_count_by_their_proportion_even_when_huge() -> None:
    assert normalized(Weights(cpu_time=3, memory=1)) == (0.75, 0.25)
    huge = sys.float_info.max
    assert normalized(Weights(cpu_time=huge, memory=huge)) == (0.5, 0.5)


def test_weights_of_zero_both_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one weight must be above 0"):
        Weights(cpu_time=0, memory=0)


def test_the_case_ratio_is_the_median_of_the_paired_per_run_ratios() -> None:
    """Run k of the submission is paired with run k of the reference: a run both sides
    had slow (the third) cancels out, where the ratio of the medians would not."""
    submission = runs((200, 1000), (220, 1000), (900, 1000), (190, 1000), (210, 1000))
    reference = runs((100, 1000), (100, 1000), (450, 1000), (150, 1000), (100, 1000))
    _, report = score([case(submission, reference)], CPU_ONLY, repeat=5)
    (measured,) = report.cases
    assert measured.submission.cpu_time_ms == 210.0  # the medians, as measured
    assert measured.baseline.cpu_time_ms == 100.0
    assert measured.cpu_time_ratio == 2.0  # median of 2, 2.2, 2, 1.267, 2.1
    assert measured.cpu_time_ratio_range == (1.267, 2.2)
    assert measured.runs == 5


def test_the_spread_is_the_lowest_and_highest_per_run_ratio_and_their_scores() -> None:
    submission = runs((200, 1000), (220, 2000), (150, 1000))
    reference = runs((100, 1000), (100, 1000), (100, 1000))
    value, report = score([case(submission, reference)], CPU_ONLY, repeat=3)
    (measured,) = report.cases
    assert measured.cpu_time_ratio_range == (1.5, 2.2)
    assert measured.memory_ratio_range == (1.0, 2.0)
    assert report.ratio_range == (1.5, 2.2)
    assert report.score_range == (round(100 / 3.2, 2), 40.0)
    assert value == round(100 / 3, 2)


def test_the_job_range_combines_every_cases_best_and_worst_runs_and_holds_the_score() -> None:
    one = case(
        runs((300, 1000), (100, 1000), (110, 1000)),
        runs(
            (100, 1000),
        )
        * 3,
        i=0,
    )
    two = case(
        runs((100, 1000), (400, 1000), (120, 1000)),
        runs(
            (100, 1000),
        )
        * 3,
        i=1,
    )
    value, report = score([one, two], CPU_ONLY, repeat=3)
    assert report.ratio_range == (1.0, round(math.sqrt(3 * 4), 3))
    low, high = report.score_range or (0.0, 0.0)
    assert (low, high) == (round(100 / (1 + math.sqrt(12)), 2), 50.0)
    assert low <= value <= high
    assert report.ratio == 1.149  # sqrt(1.1 * 1.2), to four significant digits


def test_the_job_ratio_is_the_geometric_mean_over_the_cases() -> None:
    reference = runs((100, 1000))
    cases = [case(runs((400, 1000)), reference, 0), case(runs((100, 1000)), reference, 1)]
    value, report = score(cases, CPU_ONLY, repeat=1)
    assert report.ratio == 2.0  # sqrt(4 * 1)
    assert value == 33.33
    assert [c.score for c in report.cases] == [20.0, 50.0]


def test_a_figure_of_zero_is_counted_as_its_unit() -> None:
    value, report = score([case(runs((0, 0)), runs((2, 1000)))], Weights(), repeat=1)
    assert report.cases[0].cpu_time_ratio == 0.5
    assert report.cases[0].memory_ratio == 0.001
    assert math.isfinite(value) and value > 50


def test_without_a_reference_the_score_is_the_headroom_under_the_limits() -> None:
    limits = Limits(cpu_time_ms=1000, memory_mb=100)
    half = runs((500, 51200), (500, 51200))
    value, report = score([case(half)], Weights(), repeat=2, limits=limits)
    assert value == 50.0
    assert report.basis is PerformanceBasis.LIMITS
    assert report.cases[0].baseline.cpu_time_ms == 1000
    assert report.cases[0].baseline.memory_kb == 100 * 1024
    tenth, _ = score([case(runs((100, 1024)))], CPU_ONLY, repeat=1, limits=limits)
    assert tenth == 90.0
    lean, _ = score([case(runs((100, 1024)))], MEMORY_ONLY, repeat=1, limits=limits)
    assert lean == 99.0


def test_the_limits_basis_needs_the_limits() -> None:
    with pytest.raises(ValueError, match="limits"):
        score([case(runs((1, 1)))], Weights(), repeat=1)


def test_sides_with_different_numbers_of_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="as many reference runs"):
        score([case(runs((1, 1), (1, 1)), runs((1, 1)))], Weights(), repeat=2)
    with pytest.raises(ValueError, match="at least one run"):
        score([case([])], Weights(), repeat=1, limits=Limits())


def test_extreme_figures_give_a_report_json_can_carry() -> None:
    top = 2**62
    value, report = score([case(runs((top, top)), runs((0, 0)))], Weights(), repeat=1)
    json.dumps({"score": value, **report.model_dump(mode="json")}, allow_nan=False)
    assert 0 <= value < 1e-10


def test_no_score_says_why() -> None:
    report = unscored(
        PerformanceBasis.REFERENCE, Weights(), 5, Unscored.SUBMISSION_FAILED, "case 0: WA"
    )
    assert (report.reason, report.detail, report.cases) == (
        Unscored.SUBMISSION_FAILED,
        "case 0: WA",
        [],
    )
    assert report.ratio is None and report.score_range is None
