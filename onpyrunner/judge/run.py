"""A judge job: every test case in its own fresh sandbox, verdicts, score.

Cases run in parallel up to the sandbox pool's concurrency; results keep the request's
order. The program is prepared once per job (for a compiled language, compiled once, or taken
from the compile cache) and its files are put into each case's sandbox; so is the
problem's own program (a custom checker or an interactor), at the same time, and cached
the same way. A case is judged by the built-in comparison, by the custom checker after the
program ran (judge/checker.py), or by the interactor it talks with (judge/interact.py).
With stop_on_first_failure, once a case fails every later case (in request order) is
reported SKIPPED and the runs of later cases still going are stopped. With subtasks, the
cases run and are scored IOI-style (judge/subtasks.py). The whole job is capped at
`max_judge_wall_s`: cases not finished by then are SKIPPED and, if nothing failed before
them, the job's verdict is TIME_LIMIT_EXCEEDED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from onpyrunner.errors import UnknownLanguageError
from onpyrunner.judge import subtasks as subtask_rules
from onpyrunner.judge.checker import check
from onpyrunner.judge.compare import compare
from onpyrunner.judge.interact import exchange, verdict_of
from onpyrunner.judge.testlib import Judgement
from onpyrunner.models import (
    SERVICE_VERDICTS,
    Interactor,
    JobRequest,
    JudgeResult,
    Outcome,
    ProgramChecker,
    Progress,
    RunResult,
    SubtaskResult,
    TestCase,
    TestResult,
    Transcript,
    Usage,
    Verdict,
)
from onpyrunner.sandbox.pool import Prepared, Sandbox

_OUTCOME_VERDICT = {
    Outcome.TIME_LIMIT_EXCEEDED: Verdict.TIME_LIMIT_EXCEEDED,
    Outcome.MEMORY_LIMIT_EXCEEDED: Verdict.MEMORY_LIMIT_EXCEEDED,
    Outcome.OUTPUT_LIMIT_EXCEEDED: Verdict.OUTPUT_LIMIT_EXCEEDED,
    Outcome.RUNTIME_ERROR: Verdict.RUNTIME_ERROR,
    Outcome.COMPILE_ERROR: Verdict.COMPILE_ERROR,
}


def case_result(
    case: TestCase,
    run: RunResult,
    verdict: Verdict,
    diff: str | None = None,
    judged: Judgement | None = None,
    transcript: Transcript | None = None,
) -> TestResult:
    """One case's result; a hidden case keeps only name, verdict, fraction and usage."""
    fraction = judged.fraction if judged is not None else None
    if case.hidden:
        return TestResult(
            name=case.name, verdict=verdict, hidden=True, usage=run.usage, fraction=fraction
        )
    return TestResult(
        name=case.name,
        verdict=verdict,
        outcome=run.outcome,
        stdout=run.stdout,
        stderr=run.stderr,
        exit_code=run.exit_code,
        signal=run.signal,
        usage=run.usage,
        diff=diff,
        fraction=fraction,
        message=judged.message if judged is not None else None,
        transcript=transcript,
    )


async def evaluate(
    case: TestCase,
    request: JobRequest,
    sandbox: Sandbox,
    program: Prepared,
    helper: Prepared | None,
) -> TestResult:
    """Run one case and judge it: by the interactor, the custom checker, or the built-in
    comparison (helper is the prepared checker or interactor, when there is one).

    Raises:
        SandboxError: the sandbox failed.
    """
    if request.interactor is not None and helper is not None:
        talk = await exchange(sandbox, program, helper, case, request.limits)
        settings = sandbox.settings
        judged = verdict_of(talk, settings.interactor_grace_ms, settings.checker_message_chars)
        return case_result(case, talk.program, judged.verdict, None, judged, talk.transcript)
    run = await sandbox.run_prepared(program, case.stdin.encode(), request.limits)
    if run.outcome is not Outcome.SUCCESS:
        return case_result(case, run, _OUTCOME_VERDICT[run.outcome])
    if helper is not None:
        judged = await check(sandbox, helper, case, run.stdout)
        return case_result(case, run, judged.verdict, None, judged)
    comparison = compare(case.expected_stdout, run.stdout, request.checker)
    verdict = Verdict.ACCEPTED if comparison.ok else Verdict.WRONG_ANSWER
    return case_result(case, run, verdict, comparison.hint)


def skipped(case: TestCase) -> TestResult:
    return TestResult(name=case.name, verdict=Verdict.SKIPPED, hidden=case.hidden)


def summarize(
    cases: list[TestCase],
    results: list[TestResult],
    cut_short: bool,
    subtasks: list[SubtaskResult] | None = None,
) -> JudgeResult:
    """Overall verdict (first failing case in request order; CHECKER_ERROR when any case
    has it, as the judgement is then incomplete), passed, score, usage.

    Without subtasks the score is 0-100, weighted by the cases' points (a PARTIAL case
    earns its share); with subtasks it is the sum of the subtasks' scores.
    """
    passed = sum(r.verdict is Verdict.ACCEPTED for r in results)
    failing: Verdict | None = next(
        (r.verdict for r in results if r.verdict not in (Verdict.ACCEPTED, Verdict.SKIPPED)),
        None,
    )
    if failing is None:
        failing = Verdict.TIME_LIMIT_EXCEEDED if cut_short else Verdict.ACCEPTED
    if any(r.verdict in SERVICE_VERDICTS for r in results):  # the judgement is incomplete
        failing = Verdict.CHECKER_ERROR
    if subtasks is not None:
        score = round(sum(s.score for s in subtasks), 6)
    else:
        score = _weighted_score(cases, results, passed)
    ran = [r.usage for r in results if r.usage is not None]
    usage = Usage(
        cpu_time_ms=max((u.cpu_time_ms for u in ran), default=0),
        wall_time_ms=max((u.wall_time_ms for u in ran), default=0),
        memory_kb=max((u.memory_kb for u in ran), default=0),
    )
    return JudgeResult(
        verdict=failing,
        passed=passed,
        total=len(cases),
        score=score,
        usage=usage,
        tests=results,
        subtasks=subtasks,
    )


def _weighted_score(cases: list[TestCase], results: list[TestResult], passed: int) -> float:
    # Points relative to the largest: a sum of huge finite points would overflow to inf
    # (and the score to NaN, which JSON cannot carry).
    top = max((c.points for c in cases), default=0.0)
    total_points = sum(c.points / top for c in cases) if top > 0 else 0.0
    earned = sum(
        c.points / top * subtask_rules.fraction_of(r)
        for c, r in zip(cases, results, strict=True)
        if top > 0
    )
    if total_points > 0:
        return round(100 * earned / total_points, 2)
    return 100.0 if passed == len(cases) else 0.0


def _helper_of(request: JobRequest) -> Interactor | ProgramChecker | None:
    if request.interactor is not None:
        return request.interactor
    return request.checker if isinstance(request.checker, ProgramChecker) else None


async def _prepare_helper(
    sandbox: Sandbox, helper: Interactor | ProgramChecker | None
) -> Prepared | str | None:
    """The checker or interactor, prepared; or why it cannot run here (a message)."""
    if helper is None:
        return None
    role = "interactor" if isinstance(helper, Interactor) else "checker"
    try:
        prepared = await sandbox.prepare(
            helper.language,
            helper.source_code.encode(),
            files={name: text.encode() for name, text in helper.files.items()},
        )
    except UnknownLanguageError as e:
        return f"the {role}'s language is not available on this worker: {e}"
    if prepared.compile_error is not None:
        output = prepared.compile_error.compile_output or ""
        return f"the {role} does not compile\n{output}".strip()
    return prepared


async def judge(
    request: JobRequest,
    sandbox: Sandbox,
    on_progress: Callable[[Progress], Awaitable[None]],
) -> JudgeResult:
    """Run every case of a judge job and judge it.

    Raises:
        SandboxError: the sandbox failed (the whole job then fails).
        UnknownLanguageError: this worker does not have the request's runtime.
    """
    cases = request.test_cases or []
    prepared, helper = await asyncio.gather(
        sandbox.prepare(request.language, request.source_code.encode()),
        _prepare_helper(sandbox, _helper_of(request)),
    )
    if prepared.compile_error is not None:  # nothing to run: every case is skipped
        failed = summarize(cases, [skipped(c) for c in cases], cut_short=False)
        return failed.model_copy(
            update={
                "verdict": Verdict.COMPILE_ERROR,
                "compile_output": prepared.compile_error.compile_output,
            }
        )
    if isinstance(helper, str):  # the problem's own program cannot run: not the contestant's
        failed = summarize(cases, [skipped(c) for c in cases], cut_short=False)
        return failed.model_copy(
            update={"verdict": Verdict.CHECKER_ERROR, "checker_compile_output": helper}
        )
    results: list[TestResult | None] = [None] * len(cases)
    done = 0

    async def run_case(i: int) -> TestResult:
        nonlocal done
        result = await evaluate(cases[i], request, sandbox, prepared, helper)
        results[i] = result
        done += 1
        await on_progress(Progress(done=done, total=len(cases)))
        return result

    if request.subtasks is not None:
        cut_short = await _within_cap(
            sandbox,
            [asyncio.create_task(subtask_rules.run_cases(request.subtasks, len(cases), run_case))],
        )
        final = [r if r is not None else skipped(c) for c, r in zip(cases, results, strict=True)]
        return summarize(cases, final, cut_short, subtask_rules.score(request.subtasks, final))
    first_failure = len(cases)  # index of the earliest failing case seen so far
    tasks: list[asyncio.Task[None]] = []

    async def run_flat(i: int) -> None:
        nonlocal first_failure
        if i > first_failure:
            return
        result = await run_case(i)
        if request.stop_on_first_failure and result.verdict is not Verdict.ACCEPTED:
            if i < first_failure:
                first_failure = i
                for later in tasks[i + 1 :]:
                    later.cancel()

    tasks = [asyncio.create_task(run_flat(i)) for i in range(len(cases))]
    cut_short = await _within_cap(sandbox, tasks)
    final = [
        skipped(case) if result is None or i > first_failure else result
        for i, (case, result) in enumerate(zip(cases, results, strict=True))
    ]
    return summarize(cases, final, cut_short=cut_short)


async def _within_cap(sandbox: Sandbox, tasks: list[asyncio.Task[Any]]) -> bool:
    """Wait for the tasks up to max_judge_wall_s, then stop the rest; whether any was cut.

    Raises:
        SandboxError: of any task.
    """
    try:
        _, unfinished = await asyncio.wait(tasks, timeout=sandbox.settings.max_judge_wall_s)
    finally:  # on time-out, and when the job itself is cancelled
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()  # re-raises a SandboxError of any case
    return bool(unfinished)
