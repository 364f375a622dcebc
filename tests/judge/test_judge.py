"""Judge jobs through the real sandbox: verdicts, score, order, skipping, hiding, isolation."""

from __future__ import annotations

import pytest

from onpyrunner.judge.run import judge
from onpyrunner.limits import Limits
from onpyrunner.models import JobRequest, Progress, TestCase, Verdict
from onpyrunner.sandbox.pool import Sandbox

pytestmark = pytest.mark.sandbox

DOUBLE = "print(int(input()) * 2)\n"


def request(source: str, cases: list[TestCase], **changes: object) -> JobRequest:
    base: dict[str, object] = {
        "language": "python",
        "source_code": source,
        "limits": Limits(cpu_time_ms=1000, wall_time_ms=3000),
        "test_cases": cases,
    }
    base.update(changes)
    return JobRequest.model_validate(base)


async def test_three_pass_one_wrong_scores_by_points(sandbox: Sandbox) -> None:
    cases = [
        TestCase(stdin="1\n", expected_stdout="2\n", points=1, name="one"),
        TestCase(stdin="2\n", expected_stdout="4\n", points=1, name="two"),
        TestCase(stdin="3\n", expected_stdout="7\n", points=2, name="three-wrong"),
        TestCase(stdin="5\n", expected_stdout="10\n", points=4, name="five"),
    ]
    progress: list[Progress] = []
    result = await judge(request(DOUBLE, cases), sandbox, _collect(progress))
    assert result.verdict is Verdict.WRONG_ANSWER
    assert (result.passed, result.total) == (3, 4)
    assert result.score == 75.0  # 6 of 8 points
    assert [t.verdict for t in result.tests] == [
        Verdict.ACCEPTED,
        Verdict.ACCEPTED,
        Verdict.WRONG_ANSWER,
        Verdict.ACCEPTED,
    ]
    wrong = result.tests[2]
    assert wrong.name == "three-wrong"
    assert wrong.stdout == "6\n"
    assert wrong.diff == "line 1: expected '7', got '6'"
    assert [p.done for p in progress] == [1, 2, 3, 4]
    assert all(p.total == 4 for p in progress)
    assert result.usage.cpu_time_ms == max(t.usage.cpu_time_ms for t in result.tests if t.usage)


async def test_all_pass_is_accepted_with_full_score(sandbox: Sandbox) -> None:
    cases = [TestCase(stdin=f"{i}\n", expected_stdout=f"{2 * i}\n") for i in range(5)]
    result = await judge(request(DOUBLE, cases), sandbox, _collect([]))
    assert result.verdict is Verdict.ACCEPTED
    assert (result.passed, result.total, result.score) == (5, 5, 100.0)


async def test_tle_in_one_case_while_others_pass(sandbox: Sandbox) -> None:
    source = "n = int(input())\nwhile n == 2:\n    pass\nprint(n)\n"
    cases = [TestCase(stdin=f"{i}\n", expected_stdout=f"{i}\n") for i in (1, 2, 3)]
    result = await judge(request(source, cases), sandbox, _collect([]))
    assert [t.verdict for t in result.tests] == [
        Verdict.ACCEPTED,
        Verdict.TIME_LIMIT_EXCEEDED,
        Verdict.ACCEPTED,
    ]
    assert result.verdict is Verdict.TIME_LIMIT_EXCEEDED
    assert result.passed == 2


async def test_stop_on_first_failure_skips_the_later_cases(sandbox: Sandbox) -> None:
    cases = [
        TestCase(stdin="1\n", expected_stdout="2\n"),
        TestCase(stdin="2\n", expected_stdout="5\n"),
        TestCase(stdin="3\n", expected_stdout="6\n"),
        TestCase(stdin="4\n", expected_stdout="8\n"),
    ]
    result = await judge(request(DOUBLE, cases, stop_on_first_failure=True), sandbox, _collect([]))
    assert [t.verdict for t in result.tests] == [
        Verdict.ACCEPTED,
        Verdict.WRONG_ANSWER,
        Verdict.SKIPPED,
        Verdict.SKIPPED,
    ]
    assert result.verdict is Verdict.WRONG_ANSWER
    assert result.tests[2].usage is None


async def test_without_stop_every_case_runs(sandbox: Sandbox) -> None:
    cases = [
        TestCase(stdin="1\n", expected_stdout="3\n"),
        TestCase(stdin="2\n", expected_stdout="4\n"),
    ]
    result = await judge(request(DOUBLE, cases), sandbox, _collect([]))
    assert [t.verdict for t in result.tests] == [Verdict.WRONG_ANSWER, Verdict.ACCEPTED]


async def test_hidden_cases_keep_only_name_verdict_and_usage(sandbox: Sandbox) -> None:
    cases = [
        TestCase(
            stdin="SECRET-INPUT\n",
            expected_stdout="SECRET-EXPECTED\n",
            hidden=True,
            name="hidden-1",
        ),
        TestCase(stdin="visible\n", expected_stdout="visible\n", name="open"),
    ]
    source = "import sys\nline = input()\nprint(line)\nprint('SECRET-ERR', file=sys.stderr)\n"
    result = await judge(request(source, cases), sandbox, _collect([]))
    hidden, visible = result.tests
    assert hidden.verdict is Verdict.WRONG_ANSWER and hidden.hidden
    assert (hidden.stdout, hidden.stderr, hidden.outcome, hidden.diff, hidden.exit_code) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert hidden.usage is not None
    assert "SECRET" not in result.model_dump_json().replace("SECRET-ERR\\n", "", 1)
    assert visible.stdout == "visible\n"


async def test_hundred_cases_finish_in_request_order(sandbox: Sandbox) -> None:
    cases = [
        TestCase(stdin=f"{i}\n", expected_stdout=f"{2 * i}\n", name=f"c{i}") for i in range(100)
    ]
    result = await judge(request(DOUBLE, cases), sandbox, _collect([]))
    assert result.verdict is Verdict.ACCEPTED
    assert [t.name for t in result.tests] == [f"c{i}" for i in range(100)]
    assert [t.stdout for t in result.tests] == [f"{2 * i}\n" for i in range(100)]


async def test_no_state_leaks_from_one_case_to_the_next(sandbox: Sandbox) -> None:
    source = (
        "import os\n"
        "seen = os.path.exists('/tmp/probe') or os.path.exists('/dev/shm/probe')\n"
        "open('/tmp/probe', 'w').write('x'); open('/dev/shm/probe', 'w').write('x')\n"
        "print('leak' if seen else 'clean')\n"
    )
    cases = [TestCase(expected_stdout="clean\n") for _ in range(6)]
    result = await judge(request(source, cases), sandbox, _collect([]))
    assert [t.stdout for t in result.tests] == ["clean\n"] * 6


async def test_runtime_error_and_output_limit_verdicts(sandbox: Sandbox) -> None:
    source = "n = int(input())\nif n == 1: raise SystemExit(3)\nif n == 2: print('x' * 10**6)\n"
    cases = [TestCase(stdin="1\n", expected_stdout=""), TestCase(stdin="2\n", expected_stdout="")]
    result = await judge(request(source, cases, limits=Limits(output_kb=8)), sandbox, _collect([]))
    assert [t.verdict for t in result.tests] == [
        Verdict.RUNTIME_ERROR,
        Verdict.OUTPUT_LIMIT_EXCEEDED,
    ]
    assert result.tests[0].exit_code == 3


def _collect(into: list[Progress]):  # type: ignore[no-untyped-def]
    async def on_progress(p: Progress) -> None:
        into.append(p)

    return on_progress
