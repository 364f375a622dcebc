"""The performance runs of a judge job (docs/performance.md).

After the judge runs, when the submission was accepted on every measured case, each measured
case runs `repeat` times more, each run in a fresh sandbox; with a reference, the reference
runs as often, interleaved: submission, reference, submission, reference... so that run k of
each meets the machine as it was at the same moment, and a slow minute slows both. The cases'
sequences run side by side (up to the pool's concurrency); within one sequence, one run at
a time. Every run is judged again: a submission (or reference) that fails one of them gets
no score, and its timings count for nothing. The score itself is judge/performance.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from onpyrunner.errors import UnknownLanguageError
from onpyrunner.judge.compare import verdict_of
from onpyrunner.judge.performance import CaseRuns, score, unscored
from onpyrunner.models import (
    JobRequest,
    Performance,
    PerformanceBasis,
    PerformanceRequest,
    TestCase,
    TestResult,
    Unscored,
    Usage,
    Verdict,
)
from onpyrunner.sandbox.pool import Prepared, Sandbox

#: Compiler output quoted in the reason a reference that does not compile gets no score.
DETAIL_CHARS = 300


class _NoScore(Exception):
    """Control flow: the measurement ends without a score, for this reason."""

    def __init__(self, reason: Unscored, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def runs_of(performance: PerformanceRequest) -> int:
    """How many runs the measurement makes when it goes ahead."""
    sides = 2 if performance.reference is not None else 1
    return len(performance.cases) * performance.repeat * sides


def basis_of(performance: PerformanceRequest) -> PerformanceBasis:
    if performance.reference is not None:
        return PerformanceBasis.REFERENCE
    return PerformanceBasis.LIMITS


def case_label(index: int, case: TestCase) -> str:
    """A case as the reasons name it: its index in test_cases, and its name if it has one."""
    return f"case {index}" + (f" ({case.name!r})" if case.name else "")


def first_failure(
    performance: PerformanceRequest, cases: list[TestCase], results: list[TestResult]
) -> str | None:
    """Why the submission's judging rules out a score (a measured case not accepted)."""
    for i in performance.cases:
        if results[i].verdict is not Verdict.ACCEPTED:
            return f"{case_label(i, cases[i])}: {results[i].verdict.value}"
    return None


def no_score(performance: PerformanceRequest, reason: Unscored, detail: str) -> Performance:
    return unscored(basis_of(performance), performance.weights, performance.repeat, reason, detail)


async def _prepare_reference(sandbox: Sandbox, performance: PerformanceRequest) -> Prepared:
    reference = performance.reference
    assert reference is not None
    try:
        prepared = await sandbox.prepare(reference.language, reference.source_code.encode())
    except UnknownLanguageError as e:
        raise _NoScore(Unscored.REFERENCE_LANGUAGE_UNAVAILABLE, str(e)) from e
    if prepared.compile_error is not None:
        output = (prepared.compile_error.compile_output or "").strip()
        if len(output) > DETAIL_CHARS:
            output = output[:DETAIL_CHARS] + "..."
        detail = f"the reference does not compile: {output}"
        raise _NoScore(Unscored.REFERENCE_COMPILE_ERROR, detail)
    return prepared


async def measure(
    request: JobRequest,
    sandbox: Sandbox,
    submission: Prepared,
    timeout_s: float,
    on_run: Callable[[], Awaitable[None]],
) -> tuple[float | None, Performance]:
    """Run the measurement of an accepted submission; its score (None when there is none,
    with the reason in the report) and its report.

    Args:
        timeout_s: what is left of the job's max_judge_wall_s.
        on_run: awaited after each run (the job's progress).

    Raises:
        SandboxError: the sandbox failed (the whole job then fails).
    """
    performance = request.performance
    assert performance is not None and request.test_cases is not None
    cases = request.test_cases
    sides: list[tuple[str, Prepared, Unscored]] = [
        ("submission", submission, Unscored.SUBMISSION_FAILED)
    ]
    try:
        if performance.reference is not None:
            reference = await _prepare_reference(sandbox, performance)
            sides.append(("reference", reference, Unscored.REFERENCE_FAILED))
    except _NoScore as e:
        return None, no_score(performance, e.reason, e.detail)

    async def sequence(index: int) -> CaseRuns:
        case = cases[index]
        usages: list[list[Usage]] = [[] for _ in sides]
        for k in range(performance.repeat):
            for side, (who, prepared, failed) in enumerate(sides):
                run = await sandbox.run_prepared(prepared, case.stdin.encode(), request.limits)
                verdict, _ = verdict_of(case.expected_stdout, run, request.checker)
                if verdict is not Verdict.ACCEPTED:
                    where = f"{case_label(index, case)}, run {k + 1} of {performance.repeat}"
                    raise _NoScore(failed, f"the {who} on {where}: {verdict.value}")
                usages[side].append(run.usage)
                await on_run()
        return CaseRuns(index, case.name, usages[0], usages[1] if len(usages) > 1 else ())

    tasks = [asyncio.create_task(sequence(i)) for i in performance.cases]
    try:
        _, pending = await asyncio.wait(
            tasks, timeout=max(timeout_s, 0.0), return_when=asyncio.FIRST_EXCEPTION
        )
    finally:  # a failure, the time-out, or the job cancelled: stop the other sequences
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:  # request order: the first failing case is the one reported
        if task.done() and not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if isinstance(error, _NoScore):
                return None, no_score(performance, error.reason, error.detail)
            assert error is not None
            raise error  # a SandboxError
    if pending:
        cap = sandbox.settings.max_judge_wall_s
        detail = f"the performance runs did not end within the job's max_judge_wall_s ({cap:g} s)"
        return None, no_score(performance, Unscored.OUT_OF_TIME, detail)
    measured = [task.result() for task in tasks]
    return score(measured, performance.weights, performance.repeat, request.limits)
