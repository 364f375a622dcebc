"""Performance scores of real programs in the real sandbox: solutions of one problem (count
inversions, tests/judge/programs.py) against an O(n log n) reference.

The assertions are on scores, which come from CPU time and memory the kernel measured, so
they hold with wide margins: the O(n^2) solution costs about 15 times the reference on these
cases, the O(n log n) ones about the same, the hungry one about 15 times its memory.
"""

from __future__ import annotations

import pytest

from onpyrunner.judge.run import judge
from onpyrunner.limits import Limits
from onpyrunner.models import (
    JobRequest,
    JudgeResult,
    PerformanceBasis,
    PerformanceRequest,
    Progress,
    Reference,
    TestCase,
    Unscored,
    Verdict,
    Weights,
)
from onpyrunner.sandbox.pool import Sandbox
from tests.judge import programs
from tests.toolchains import need

pytestmark = pytest.mark.sandbox

N = 3000
CASES = [TestCase.model_validate(programs.case(N, seed)) for seed in (1, 2)]
LIMITS = Limits(cpu_time_ms=5000, wall_time_ms=15000, memory_mb=128)
REPEAT = 3


def request(
    source: str,
    reference: str | None = programs.FENWICK,
    weights: Weights | None = None,
    reference_language: str = "python",
) -> JobRequest:
    performance = PerformanceRequest(
        reference=(
            None
            if reference is None
            else Reference(language=reference_language, source_code=reference)
        ),
        cases=[0, 1],
        repeat=REPEAT,
        weights=weights or Weights(),
    )
    return JobRequest(
        language="python",
        source_code=source,
        limits=LIMITS,
        test_cases=CASES,
        performance=performance,
    )


async def scored(sandbox: Sandbox, job: JobRequest) -> tuple[JudgeResult, list[Progress]]:
    seen: list[Progress] = []

    async def on_progress(p: Progress) -> None:
        seen.append(p)

    return await judge(job, sandbox, on_progress), seen


async def test_quadratic_scores_clearly_below_50_and_n_log_n_about_50(sandbox: Sandbox) -> None:
    slow, progress = await scored(sandbox, request(programs.QUADRATIC))
    fast, _ = await scored(sandbox, request(programs.MERGE_SORT))
    for result in (slow, fast):
        assert result.verdict is Verdict.ACCEPTED
        assert result.performance is not None and result.performance.reason is None
        assert result.performance.basis is PerformanceBasis.REFERENCE
        assert [c.case for c in result.performance.cases] == [0, 1]
        assert all(c.runs == REPEAT for c in result.performance.cases)
    assert slow.performance_score is not None and fast.performance_score is not None
    assert slow.performance_score < 30, slow.performance
    assert 40 <= fast.performance_score <= 60, fast.performance
    assert slow.performance is not None
    assert all(c.cpu_time_ratio > 4 for c in slow.performance.cases), slow.performance
    # the spread is reported beside the score, and holds it
    low, high = slow.performance.score_range or (0, 0)
    assert low <= slow.performance_score <= high
    # progress: the 2 cases, then 2 cases x REPEAT runs x 2 programs, one at a time
    total = 2 + 2 * REPEAT * 2
    assert [p.done for p in progress] == list(range(1, total + 1))


async def test_memory_hungry_scores_lower_than_lean_when_memory_weighs(
    sandbox: Sandbox,
) -> None:
    memory = Weights(cpu_time=0, memory=1)
    lean, _ = await scored(sandbox, request(programs.MERGE_SORT, weights=memory))
    hungry, _ = await scored(sandbox, request(programs.MEMORY_HUNGRY, weights=memory))
    assert lean.verdict is hungry.verdict is Verdict.ACCEPTED
    assert lean.performance_score is not None and hungry.performance_score is not None
    assert hungry.performance_score < lean.performance_score - 20, (lean, hungry)
    assert hungry.performance is not None
    for measured in hungry.performance.cases:
        assert measured.memory_ratio > 4
        assert measured.submission.memory_kb > 48 * 1024  # the ballast is measured
        assert measured.memory_ratio_range[0] <= measured.memory_ratio_range[1]


async def test_a_wrong_solution_gets_no_score_and_the_reason(sandbox: Sandbox) -> None:
    result, progress = await scored(sandbox, request(programs.WRONG))
    assert result.verdict is Verdict.WRONG_ANSWER
    assert result.performance_score is None
    assert result.performance is not None
    assert result.performance.reason is Unscored.SUBMISSION_FAILED
    assert result.performance.detail == "the submission on case 0: WRONG_ANSWER"
    assert result.performance.cases == []
    assert progress[-1].done == progress[-1].total == 2 + 2 * REPEAT * 2


async def test_a_wrong_reference_gets_no_score(sandbox: Sandbox) -> None:
    result, _ = await scored(sandbox, request(programs.MERGE_SORT, reference=programs.WRONG))
    assert result.verdict is Verdict.ACCEPTED
    assert result.performance_score is None
    assert result.performance is not None
    assert result.performance.reason is Unscored.REFERENCE_FAILED
    assert result.performance.detail is not None
    assert result.performance.detail.endswith("run 1 of 3: WRONG_ANSWER")


async def test_without_a_reference_the_limits_are_the_basis(sandbox: Sandbox) -> None:
    fast, _ = await scored(sandbox, request(programs.MERGE_SORT, reference=None))
    slow, _ = await scored(sandbox, request(programs.QUADRATIC, reference=None))
    assert fast.performance is not None and slow.performance is not None
    assert fast.performance.basis is slow.performance.basis is PerformanceBasis.LIMITS
    for measured in fast.performance.cases:
        assert measured.baseline.cpu_time_ms == LIMITS.cpu_time_ms
        assert measured.baseline.memory_kb == LIMITS.memory_mb * 1024
    assert fast.performance_score is not None and slow.performance_score is not None
    assert slow.performance_score < fast.performance_score < 100
    assert fast.performance_score > 90  # a few ms and MiB of 5 s and 128 MiB


async def test_a_reference_in_another_language(sandbox: Sandbox) -> None:
    need(sandbox, "c")
    result, _ = await scored(
        sandbox,
        request(programs.MERGE_SORT, reference=programs.C_MERGE_SORT, reference_language="c"),
    )
    assert result.performance is not None and result.performance.reason is None
    assert result.performance_score is not None
    assert result.performance_score < 40  # CPython against C
