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
them, the job's verdict is TIME_LIMIT_EXCEEDED; the performance runs (judge/measure.py),
when the request asks for them, get what is left of it. Progress counts runs: one per case,
plus the performance runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from onpyrunner.errors import UnknownLanguageError
from onpyrunner.judge import compare, kinds
from onpyrunner.judge import subtasks as subtask_rules
from onpyrunner.judge.checker import check
from onpyrunner.judge.interact import exchange, verdict_of
from onpyrunner.judge.measure import first_failure, measure, no_score, runs_of
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
    TestKind,
    TestResult,
    Transcript,
    Unscored,
    Usage,
    Verdict,
)
from onpyrunner.sandbox.pool import Prepared, Sandbox


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
    """Run one case and judge it: through the language's harness (a function_call or an
    assert case, judge/kinds.py), by the interactor, the custom checker, or the built-in
    comparison (helper is the prepared checker or interactor, when there is one).

    Raises:
        SandboxError: the sandbox failed.
    """
    if request.interactor is not None and helper is not None:
        talk = await exchange(sandbox, program, helper, case, request.limits)
        settings = sandbox.settings
        judged = verdict_of(talk, settings.interactor_grace_ms, settings.checker_message_chars)
        return case_result(case, talk.program, judged.verdict, None, judged, talk.transcript)
    if case.kind is not TestKind.STDIO:
        done = await kinds.evaluate(case, request, sandbox, program)
        result = case_result(case, done.run, done.verdict, done.diff)
        if case.hidden or done.message is None:
            return result
        return result.model_copy(update={"message": done.message})
    run = await sandbox.run_prepared(program, case.stdin.encode(), request.limits)
    if helper is not None and run.outcome is Outcome.SUCCESS:
        judged = await check(sandbox, helper, case, run.stdout)
        return case_result(case, run, judged.verdict, None, judged)
    verdict, diff = compare.verdict_of(case.expected_stdout, run, request.checker)
    return case_result(case, run, verdict, diff)


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


async def prepare_program(sandbox: Sandbox, request: JobRequest) -> Prepared:
    """The job's program, prepared with what the request adds: its compiler options and
    compile limits, its files (beside the source when it compiles, and beside the program
    when it runs) and its arguments (after the run command of every run).

    Raises:
        UnknownLanguageError: this worker does not have the request's runtime.
        SandboxError: the sandbox failed.
    """
    files = {path: base64.b64decode(content) for path, content in request.files.items()}
    prepared = await sandbox.prepare(
        request.language,
        request.source_code.encode(),
        tuple(request.compiler_options),
        files,
        compile_limits=request.compile_limits,
    )
    return dataclasses.replace(prepared, args=tuple(request.args)) if request.args else prepared


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


class _Counter:
    """The job's progress: runs done of all it will make."""

    def __init__(self, total: int, on_progress: Callable[[Progress], Awaitable[None]]) -> None:
        self.done = 0
        self.total = total
        self.on_progress = on_progress

    async def step(self) -> None:
        self.done += 1
        await self.on_progress(Progress(done=self.done, total=self.total))

    async def finish(self) -> None:
        """The runs that will not be made count as done: the progress ends at its total."""
        if self.done < self.total:
            self.done = self.total
            await self.on_progress(Progress(done=self.done, total=self.total))


async def judge(
    request: JobRequest,
    sandbox: Sandbox,
    on_progress: Callable[[Progress], Awaitable[None]],
) -> JudgeResult:
    """Run every case of a judge job and judge it; then measure its performance when the
    request asks (judge/measure.py).

    Raises:
        SandboxError: the sandbox failed (the whole job then fails).
        UnknownLanguageError: this worker does not have the request's runtime.
    """
    cases = request.test_cases or []
    performance = request.performance
    extra = runs_of(performance) if performance is not None else 0
    progress = _Counter(len(cases) + extra, on_progress)
    deadline = asyncio.get_running_loop().time() + sandbox.settings.max_judge_wall_s
    prepared, helper = await asyncio.gather(
        prepare_program(sandbox, request),
        _prepare_helper(sandbox, _helper_of(request)),
    )
    cut_short = False
    if prepared.compile_error is not None:  # nothing to run: every case is skipped
        failed = summarize(cases, [skipped(c) for c in cases], cut_short=False)
        result = failed.model_copy(
            update={
                "verdict": Verdict.COMPILE_ERROR,
                "compile_output": prepared.compile_error.compile_output,
            }
        )
    elif isinstance(helper, str):  # the problem's own program cannot run: not the contestant's
        failed = summarize(cases, [skipped(c) for c in cases], cut_short=False)
        result = failed.model_copy(
            update={"verdict": Verdict.CHECKER_ERROR, "checker_compile_output": helper}
        )
    else:
        result, cut_short = await _judge_cases(request, sandbox, prepared, helper, progress)
    result = result.model_copy(update={"compile_time_ms": prepared.compile_ms})
    if performance is None:
        return result
    failing = first_failure(performance, cases, result.tests)
    if failing is not None:
        if cut_short:
            detail = f"the cases did not end within the job's max_judge_wall_s ({failing})"
            report = no_score(performance, Unscored.OUT_OF_TIME, detail)
        else:
            detail = f"the submission on {failing}"
            report = no_score(performance, Unscored.SUBMISSION_FAILED, detail)
        await progress.finish()
        return result.model_copy(update={"performance": report})
    remaining_s = deadline - asyncio.get_running_loop().time()
    value, report = await measure(request, sandbox, prepared, remaining_s, progress.step)
    await progress.finish()
    return result.model_copy(update={"performance_score": value, "performance": report})


async def _judge_cases(
    request: JobRequest,
    sandbox: Sandbox,
    prepared: Prepared,
    helper: Prepared | None,
    progress: _Counter,
) -> tuple[JudgeResult, bool]:
    """Every case in its own fresh sandbox, in parallel (by subtasks when there are): the
    verdicts and the score, and whether max_judge_wall_s cut the cases short."""
    cases = request.test_cases or []
    results: list[TestResult | None] = [None] * len(cases)

    async def run_case(i: int) -> TestResult:
        result = await evaluate(cases[i], request, sandbox, prepared, helper)
        results[i] = result
        await progress.step()
        return result

    if request.subtasks is not None:
        cut_short = await _within_cap(
            sandbox,
            [asyncio.create_task(subtask_rules.run_cases(request.subtasks, len(cases), run_case))],
        )
        final = [r if r is not None else skipped(c) for c, r in zip(cases, results, strict=True)]
        scored = subtask_rules.score(request.subtasks, final)
        return summarize(cases, final, cut_short, scored), cut_short
    first_failing = len(cases)  # index of the earliest failing case seen so far
    tasks: list[asyncio.Task[None]] = []

    async def run_flat(i: int) -> None:
        nonlocal first_failing
        if i > first_failing:
            return
        result = await run_case(i)
        if request.stop_on_first_failure and result.verdict is not Verdict.ACCEPTED:
            if i < first_failing:
                first_failing = i
                for later in tasks[i + 1 :]:
                    later.cancel()

    tasks = [asyncio.create_task(run_flat(i)) for i in range(len(cases))]
    cut_short = await _within_cap(sandbox, tasks)
    final = [
        skipped(case) if result is None or i > first_failing else result
        for i, (case, result) in enumerate(zip(cases, results, strict=True))
    ]
    return summarize(cases, final, cut_short=cut_short), cut_short


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
