"""Subtasks, IOI-style: which cases run, and what each subtask scores.

A subtask scores its points times the minimum of its cases' scores (1 accepted, 0 failed,
a custom checker's share for PARTIAL). Within a subtask, the cases after its first failure
(a case scoring 0) are skipped; a subtask that depends on one that scored zero is skipped
whole. Dependencies name earlier subtasks only (the API checks it), so list order is an
order in which every subtask comes after what it needs.

Scheduling (`run_cases`) and scoring (`score`) follow the same rules: the scheduler runs
each case at most once, however many subtasks hold it, starts a subtask's cases together
(up to the sandbox's concurrency) once its dependencies are decided, and stops a case's run
when no subtask still needs it. Scoring reads only the final results, so a case that ran
for one subtask is still reported SKIPPED in another that had failed before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from onpyrunner.models import Subtask, SubtaskResult, TestResult, Verdict


def fraction_of(result: TestResult) -> float:
    """A case's score, 0-1: the checker's share when it gave one, else 1 if accepted."""
    if result.fraction is not None:
        return result.fraction
    return 1.0 if result.verdict is Verdict.ACCEPTED else 0.0


def score(subtasks: Sequence[Subtask], tests: Sequence[TestResult]) -> list[SubtaskResult]:
    """Each subtask's result from the cases' final results (SKIPPED for a case not run)."""
    lowest_of: dict[str, float] = {}
    results = []
    for subtask in subtasks:
        failed_dependency = next((d for d in subtask.depends_on if lowest_of[d] == 0), None)
        if failed_dependency is not None:
            lowest_of[subtask.name] = 0.0
            results.append(
                SubtaskResult(
                    name=subtask.name,
                    points=subtask.points,
                    score=0.0,
                    verdict=Verdict.SKIPPED,
                    cases=list(subtask.cases),
                    verdicts=[Verdict.SKIPPED] * len(subtask.cases),
                    reason=f"it depends on {failed_dependency!r}, which scored zero",
                )
            )
            continue
        lowest = 1.0
        verdicts: list[Verdict] = []
        failure: Verdict | None = None
        for index in subtask.cases:
            if failure is not None:
                verdicts.append(Verdict.SKIPPED)
                continue
            test = tests[index]
            verdicts.append(test.verdict)
            lowest = min(lowest, fraction_of(test))
            if fraction_of(test) == 0:
                failure = test.verdict
        lowest_of[subtask.name] = lowest
        if failure is not None:
            verdict = failure
        elif lowest == 1.0:
            verdict = Verdict.ACCEPTED
        else:
            verdict = Verdict.PARTIAL
        results.append(
            SubtaskResult(
                name=subtask.name,
                points=subtask.points,
                score=round(subtask.points * lowest, 6),
                verdict=verdict,
                cases=list(subtask.cases),
                verdicts=verdicts,
            )
        )
    return results


class _Runs:
    """Each case's run, started on first demand, stopped when no subtask needs it."""

    def __init__(self, evaluate: Callable[[int], Coroutine[Any, Any, TestResult]]) -> None:
        self.evaluate = evaluate
        self.tasks: dict[int, asyncio.Task[TestResult]] = {}
        self.interest: dict[int, int] = {}

    def want(self, index: int) -> asyncio.Task[TestResult]:
        if index not in self.tasks:
            self.tasks[index] = asyncio.create_task(self.evaluate(index))
        self.interest[index] = self.interest.get(index, 0) + 1
        return self.tasks[index]

    def drop(self, index: int) -> None:
        self.interest[index] -= 1
        if self.interest[index] == 0 and not self.tasks[index].done():
            self.tasks[index].cancel()

    def result(self, index: int) -> TestResult | None:
        task = self.tasks.get(index)
        if task is None or not task.done() or task.cancelled():
            return None
        return task.result()

    async def lowest(self, cases: Sequence[int]) -> float:
        """Run a subtask's cases together; its lowest score, stopping at its first zero
        (the runs of its later cases are dropped)."""
        wanted = [(index, self.want(index)) for index in cases]
        lowest = 1.0
        try:
            for _, run in wanted:
                lowest = min(lowest, fraction_of(await run))
                if lowest == 0:
                    break
        finally:
            for index, _ in wanted:
                self.drop(index)
        return lowest


async def run_cases(
    subtasks: Sequence[Subtask],
    total: int,
    evaluate: Callable[[int], Coroutine[Any, Any, TestResult]],
) -> list[TestResult | None]:
    """Run the cases the subtasks need, each at most once; a case in no subtask runs too.

    Returns each case's result, None for a case that was not run (or was stopped because
    no subtask needed it any more). Cancelling this stops every run still going.

    Raises:
        whatever evaluate raises (a SandboxError fails the whole job).
    """
    runs = _Runs(evaluate)
    loop = asyncio.get_running_loop()
    decided: dict[str, asyncio.Future[float]] = {s.name: loop.create_future() for s in subtasks}

    async def run_subtask(subtask: Subtask) -> None:
        lowest = 0.0
        try:
            needs = [await decided[name] for name in subtask.depends_on]
            if all(fraction > 0 for fraction in needs):
                lowest = await runs.lowest(subtask.cases)
        finally:
            if not decided[subtask.name].done():
                decided[subtask.name].set_result(lowest)

    in_some = {index for s in subtasks for index in s.cases}
    alone = [runs.want(index) for index in range(total) if index not in in_some]
    jobs = [asyncio.create_task(run_subtask(s)) for s in subtasks]
    try:
        await asyncio.gather(*jobs, *alone)
    finally:
        for task in [*jobs, *runs.tasks.values()]:
            task.cancel()
        await asyncio.gather(*jobs, *runs.tasks.values(), return_exceptions=True)
    return [runs.result(index) for index in range(total)]
