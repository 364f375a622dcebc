"""Subtasks: IOI-style scoring, and which cases run (no sandbox: a fake evaluation)."""

from __future__ import annotations

import asyncio

from onpyrunner.judge.subtasks import run_cases, score
from onpyrunner.models import Subtask, TestResult, Verdict

ACCEPTED, WRONG, SKIPPED, PARTIAL = (
    Verdict.ACCEPTED,
    Verdict.WRONG_ANSWER,
    Verdict.SKIPPED,
    Verdict.PARTIAL,
)


def case(verdict: Verdict, fraction: float | None = None) -> TestResult:
    return TestResult(name=None, verdict=verdict, fraction=fraction)


def subtask(name: str, points: float, cases: list[int], *needs: str) -> Subtask:
    return Subtask(name=name, points=points, cases=cases, depends_on=list(needs))


def test_a_subtask_scores_its_points_times_its_lowest_case() -> None:
    tests = [case(ACCEPTED), case(PARTIAL, 0.5), case(PARTIAL, 0.8), case(ACCEPTED)]
    results = score([subtask("a", 30, [0, 3]), subtask("b", 70, [0, 1, 2])], tests)
    assert [(r.name, r.score, r.verdict) for r in results] == [
        ("a", 30.0, ACCEPTED),
        ("b", 35.0, PARTIAL),
    ]
    assert results[1].verdicts == [ACCEPTED, PARTIAL, PARTIAL]


def test_cases_after_the_first_failure_are_skipped_within_the_subtask_only() -> None:
    tests = [case(ACCEPTED), case(WRONG), case(ACCEPTED), case(ACCEPTED)]
    results = score([subtask("a", 50, [0, 1, 2]), subtask("b", 50, [2, 3])], tests)
    assert (results[0].score, results[0].verdict) == (0.0, WRONG)
    assert results[0].verdicts == [ACCEPTED, WRONG, SKIPPED]
    assert (results[1].score, results[1].verdicts) == (50.0, [ACCEPTED, ACCEPTED])


def test_a_subtask_whose_dependency_scored_zero_is_skipped() -> None:
    tests = [case(WRONG), case(ACCEPTED), case(ACCEPTED)]
    results = score(
        [subtask("a", 10, [0]), subtask("b", 40, [1], "a"), subtask("c", 50, [2], "b")], tests
    )
    assert [(r.verdict, r.score) for r in results] == [(WRONG, 0.0), (SKIPPED, 0.0), (SKIPPED, 0.0)]
    assert results[1].reason == "it depends on 'a', which scored zero"
    assert results[1].verdicts == [SKIPPED]
    assert results[2].reason == "it depends on 'b', which scored zero"


def test_a_partial_dependency_does_not_skip() -> None:
    tests = [case(PARTIAL, 0.25), case(ACCEPTED)]
    results = score([subtask("a", 20, [0]), subtask("b", 80, [1], "a")], tests)
    assert [(r.verdict, r.score) for r in results] == [(PARTIAL, 5.0), (ACCEPTED, 80.0)]


class FakeCases:
    """Each case's evaluation waits for the test to release it with its verdict."""

    def __init__(self, total: int) -> None:
        self.gates = [asyncio.Event() for _ in range(total)]
        self.verdicts: list[Verdict] = [ACCEPTED] * total
        self.started: list[int] = []
        self.stopped: list[int] = []

    async def evaluate(self, index: int) -> TestResult:
        self.started.append(index)
        try:
            await self.gates[index].wait()
        except asyncio.CancelledError:
            self.stopped.append(index)
            raise
        return case(self.verdicts[index])

    def release(self, *indexes: int) -> None:
        for index in indexes:
            self.gates[index].set()


async def test_after_a_failure_the_subtasks_other_cases_are_stopped() -> None:
    cases = FakeCases(3)
    cases.verdicts[0] = WRONG
    running = asyncio.create_task(run_cases([subtask("a", 100, [0, 1, 2])], 3, cases.evaluate))
    cases.release(0)
    results = await asyncio.wait_for(running, 10)
    assert results[0] is not None and results[0].verdict is WRONG
    assert results[1:] == [None, None]
    assert sorted(cases.stopped) == [1, 2]


async def test_a_case_another_subtask_needs_keeps_running() -> None:
    cases = FakeCases(3)
    cases.verdicts[0] = WRONG
    running = asyncio.create_task(
        run_cases([subtask("a", 50, [0, 1, 2]), subtask("b", 50, [2])], 3, cases.evaluate)
    )
    cases.release(0)
    cases.release(2)
    results = await asyncio.wait_for(running, 10)
    assert results[2] is not None and results[2].verdict is ACCEPTED
    assert results[1] is None
    assert cases.stopped == [1]


async def test_a_dependent_subtask_never_starts_its_cases_when_the_dependency_failed() -> None:
    cases = FakeCases(4)
    cases.verdicts[1] = WRONG
    running = asyncio.create_task(
        run_cases(
            [subtask("a", 50, [0, 1]), subtask("b", 50, [2], "a")], 4, cases.evaluate
        )  # case 3 is in no subtask: it runs all the same
    )
    cases.release(0, 1, 3)
    results = await asyncio.wait_for(running, 10)
    assert 2 not in cases.started
    assert results[2] is None
    assert results[3] is not None and results[3].verdict is ACCEPTED


async def test_each_case_runs_once_however_many_subtasks_hold_it() -> None:
    cases = FakeCases(2)
    running = asyncio.create_task(
        run_cases(
            [subtask("a", 10, [0, 1]), subtask("b", 20, [0, 1], "a"), subtask("c", 30, [1])],
            2,
            cases.evaluate,
        )
    )
    cases.release(0, 1)
    results = await asyncio.wait_for(running, 10)
    assert sorted(cases.started) == [0, 1]
    assert all(r is not None and r.verdict is ACCEPTED for r in results)
