"""The performance runs around their seam: a fake sandbox in place of nsjail records every run
in order, so the order of the runs, the judging of each, the reasons for no score and the
progress can be checked exactly (the real sandbox: test_performance_runs.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from onpyrunner.errors import UnknownLanguageError
from onpyrunner.judge.measure import measure
from onpyrunner.judge.run import judge
from onpyrunner.limits import Limits
from onpyrunner.models import (
    JobRequest,
    Outcome,
    Performance,
    PerformanceRequest,
    Progress,
    Reference,
    RunResult,
    TestCase,
    Unscored,
    Usage,
    Verdict,
)
from onpyrunner.sandbox.pool import Prepared, Sandbox
from onpyrunner.settings import Settings

#: A fake program: (stdin, its run number on that stdin, from 1) -> (stdout, cpu_time_ms).
Behaviour = Callable[[str, int], tuple[str, int]]


def echo(cpu_time_ms: int) -> Behaviour:
    return lambda stdin, _: (stdin, cpu_time_ms)


@dataclass(frozen=True)
class FakePrepared:
    source: str
    compile_error: RunResult | None = None
    compile_ms: int | None = None


@dataclass
class FakeSandbox:
    """Runs "programs" by name; every run is logged as (program, stdin)."""

    programs: dict[str, Behaviour]
    settings: Settings = field(default_factory=Settings)
    languages: tuple[str, ...] = ("python",)
    log: list[tuple[str, str]] = field(default_factory=list)
    blocked: asyncio.Event = field(default_factory=asyncio.Event)

    async def prepare(
        self,
        language: str,
        source: bytes,
        compile_options: tuple[str, ...] = (),
        files: Mapping[str, bytes] | None = None,
        compile_limits: Limits | None = None,
    ) -> Prepared:
        if language not in self.languages:
            raise UnknownLanguageError(language, list(self.languages))
        name = source.decode()
        error = None
        if name == "does-not-compile":
            error = RunResult(
                outcome=Outcome.COMPILE_ERROR,
                stdout="",
                stderr="",
                exit_code=1,
                signal=None,
                usage=Usage(cpu_time_ms=0, wall_time_ms=0, memory_kb=0),
                compile_output="main.c:1: error: expected ';'",
            )
        return cast(Prepared, FakePrepared(name, error))

    async def run_prepared(
        self, prepared: Prepared, stdin: bytes = b"", limits: Limits | None = None
    ) -> RunResult:
        name = cast(FakePrepared, prepared).source
        text = stdin.decode()
        self.log.append((name, text))
        if name == "blocks":
            await self.blocked.wait()
        number = self.log.count((name, text))
        stdout, cpu = self.programs[name](text, number)
        return RunResult(
            outcome=Outcome.SUCCESS,
            stdout=stdout,
            stderr="",
            exit_code=0,
            signal=None,
            usage=Usage(cpu_time_ms=cpu, wall_time_ms=cpu, memory_kb=1000),
        )


CASES = [TestCase(stdin=f"{i}\n", expected_stdout=f"{i}\n", name=f"c{i}") for i in range(3)]


def request(
    source: str = "submission",
    reference: str | None = "reference",
    cases: list[int] | None = None,
    repeat: int = 3,
    language: str = "python",
) -> JobRequest:
    ref = None if reference is None else Reference(language=language, source_code=reference)
    performance = PerformanceRequest(
        reference=ref, cases=cases if cases is not None else [0, 1, 2], repeat=repeat
    )
    return JobRequest(
        language="python",
        source_code=source,
        limits=Limits(),
        test_cases=CASES,
        performance=performance,
    )


def sandbox(**programs: Behaviour) -> FakeSandbox:
    return FakeSandbox({"submission": echo(200), "reference": echo(100), **programs})


async def no_progress() -> None:
    return None


async def measure_with(
    fake: FakeSandbox, job: JobRequest, timeout_s: float = 60.0
) -> tuple[float | None, Performance]:
    prepared = await fake.prepare("python", job.source_code.encode())
    return await measure(job, cast(Sandbox, fake), prepared, timeout_s, no_progress)


async def test_each_case_alternates_submission_and_reference_runs() -> None:
    fake = sandbox()
    value, report = await measure_with(fake, request(repeat=3))
    for case in CASES:
        order = [name for name, stdin in fake.log if stdin == case.stdin]
        assert order == ["submission", "reference"] * 3
    # twice the reference's CPU time (weight 0.75), the same memory (weight 0.25)
    assert report.ratio == round(2**0.75, 3)
    assert value == round(100 / (1 + 2**0.75), 2)


async def test_only_the_listed_cases_are_measured_in_their_order() -> None:
    fake = sandbox()
    _, report = await measure_with(fake, request(cases=[2, 0], repeat=1))
    assert {stdin for _, stdin in fake.log} == {"2\n", "0\n"}
    assert [c.case for c in report.cases] == [2, 0]
    assert [c.name for c in report.cases] == ["c2", "c0"]


async def test_without_a_reference_only_the_submission_runs() -> None:
    fake = sandbox()
    value, report = await measure_with(fake, request(reference=None, repeat=2))
    assert {name for name, _ in fake.log} == {"submission"}
    assert len(fake.log) == 3 * 2
    assert report.basis == "LIMITS"
    assert value is not None and 0 < value < 100


async def test_a_submission_that_fails_a_later_run_gets_no_score() -> None:
    def flaky(stdin: str, number: int) -> tuple[str, int]:
        return (stdin if number < 2 or stdin != "1\n" else "wrong\n"), 200

    fake = sandbox(submission=flaky)
    value, report = await measure_with(fake, request(repeat=3))
    assert value is None
    assert report.reason is Unscored.SUBMISSION_FAILED
    assert report.detail == "the submission on case 1 ('c1'), run 2 of 3: WRONG_ANSWER"
    assert report.cases == []
    # its sequence stopped at the failing run: no reference run after it on that case
    assert [n for n, s in fake.log if s == "1\n"] == ["submission", "reference", "submission"]


async def test_a_reference_that_fails_gets_no_score_and_says_so() -> None:
    fake = sandbox(reference=lambda stdin, _: ("nope\n", 100))
    value, report = await measure_with(fake, request(cases=[0]))
    assert value is None
    assert report.reason is Unscored.REFERENCE_FAILED
    assert report.detail == "the reference on case 0 ('c0'), run 1 of 3: WRONG_ANSWER"


async def test_a_reference_that_does_not_compile_gets_no_score() -> None:
    fake = sandbox()
    value, report = await measure_with(fake, request(reference="does-not-compile"))
    assert value is None
    assert report.reason is Unscored.REFERENCE_COMPILE_ERROR
    assert report.detail is not None and "expected ';'" in report.detail
    assert fake.log == []


async def test_a_reference_language_this_worker_lacks_gets_no_score() -> None:
    fake = sandbox()
    value, report = await measure_with(fake, request(language="cobol"))
    assert value is None
    assert report.reason is Unscored.REFERENCE_LANGUAGE_UNAVAILABLE
    assert report.detail is not None and "cobol" in report.detail


async def test_runs_not_ended_within_the_time_left_get_no_score() -> None:
    fake = sandbox(blocks=echo(1))
    value, report = await measure_with(fake, request(source="blocks"), timeout_s=0.01)
    assert value is None
    assert report.reason is Unscored.OUT_OF_TIME
    assert fake.log == [("blocks", c.stdin) for c in CASES]  # one run each, then cancelled


async def test_progress_counts_the_performance_runs_and_ends_at_its_total() -> None:
    seen: list[Progress] = []

    async def on_progress(p: Progress) -> None:
        seen.append(p)

    fake = sandbox()
    result = await judge(request(repeat=2, cases=[0, 2]), cast(Sandbox, fake), on_progress)
    assert result.verdict is Verdict.ACCEPTED
    assert result.performance_score is not None
    total = 3 + 2 * 2 * 2  # the cases, then 2 cases x 2 repeats x 2 programs
    assert [p.done for p in seen] == list(range(1, total + 1))
    assert {p.total for p in seen} == {total}


async def test_a_submission_failing_a_measured_case_is_not_measured() -> None:
    seen: list[Progress] = []

    async def on_progress(p: Progress) -> None:
        seen.append(p)

    fake = sandbox(submission=lambda stdin, _: ("2\n" if stdin == "1\n" else stdin, 5))
    result = await judge(request(cases=[0, 1]), cast(Sandbox, fake), on_progress)
    assert result.verdict is Verdict.WRONG_ANSWER
    assert result.performance_score is None
    assert result.performance is not None
    assert result.performance.reason is Unscored.SUBMISSION_FAILED
    assert result.performance.detail == "the submission on case 1 ('c1'): WRONG_ANSWER"
    assert len(fake.log) == 3  # the judge runs only
    assert seen[-1] == Progress(done=3 + 2 * 3 * 2, total=3 + 2 * 3 * 2)


async def test_failing_a_case_that_is_not_measured_still_gets_a_score() -> None:
    fake = sandbox(submission=lambda stdin, _: ("x\n" if stdin == "1\n" else stdin, 5))
    result = await judge(request(cases=[0, 2], repeat=1), cast(Sandbox, fake), _ignore)
    assert result.verdict is Verdict.WRONG_ANSWER
    assert result.performance_score is not None


async def test_a_judge_job_without_performance_has_none() -> None:
    fake = sandbox()
    plain = request().model_copy(update={"performance": None})
    result = await judge(plain, cast(Sandbox, fake), _ignore)
    assert result.performance is None and result.performance_score is None
    assert len(fake.log) == 3


async def _ignore(_: Progress) -> None:
    return None
