"""testlib's protocol: exit codes, points and messages to verdicts (no sandbox)."""

from __future__ import annotations

import signal

import pytest

from onpyrunner.judge.testlib import first_line, judgement
from onpyrunner.models import Outcome, RunResult, Usage, Verdict

USAGE = Usage(cpu_time_ms=1, wall_time_ms=1, memory_kb=1)


def ran(exit_code: int | None, stderr: str = "", **changes: object) -> RunResult:
    outcome = Outcome.SUCCESS if exit_code == 0 else Outcome.RUNTIME_ERROR
    base: dict[str, object] = {
        "outcome": outcome,
        "stdout": "",
        "stderr": stderr,
        "exit_code": exit_code,
        "signal": None if exit_code is not None else signal.SIGSEGV,
        "usage": USAGE,
    }
    base.update(changes)
    return RunResult.model_validate(base)


@pytest.mark.parametrize(
    ("code", "verdict", "fraction"),
    [(0, Verdict.ACCEPTED, 1.0), (1, Verdict.WRONG_ANSWER, 0.0), (3, Verdict.CHECKER_ERROR, 0.0)],
)
def test_exit_codes_give_the_verdicts(code: int, verdict: Verdict, fraction: float) -> None:
    said = judgement(ran(code, "ok 3 numbers\n"), "checker", 500)
    assert (said.verdict, said.fraction) == (verdict, fraction)


def test_the_message_is_the_first_line_of_stderr() -> None:
    said = judgement(ran(1, "\nwrong answer 2nd numbers differ\nmore\n"), "checker", 500)
    assert said.message == "wrong answer 2nd numbers differ"


@pytest.mark.parametrize("code", [2, 4, 8])
def test_presentation_errors_are_wrong_answers_with_a_note(code: int) -> None:
    said = judgement(ran(code, "wrong output format Expected int\n"), "checker", 500)
    assert said.verdict is Verdict.WRONG_ANSWER
    assert said.message == "presentation error: wrong output format Expected int"


def test_a_checker_failure_is_the_services_and_says_so() -> None:
    said = judgement(ran(3, "FAIL answer file is broken\n"), "checker", 500)
    assert said.verdict is Verdict.CHECKER_ERROR
    assert (
        said.message
        == "the checker failed (testlib's fail, exit code 3): FAIL answer file is broken"
    )


@pytest.mark.parametrize(
    ("stderr", "verdict", "fraction"),
    [
        ("points 0.25 three of four\n", Verdict.PARTIAL, 0.25),
        ("points 1\n", Verdict.ACCEPTED, 1.0),
        ("points 0.0\n", Verdict.WRONG_ANSWER, 0.0),
        ("points 5e-1\n", Verdict.PARTIAL, 0.5),
    ],
)
def test_points_are_a_fraction_of_the_case(stderr: str, verdict: Verdict, fraction: float) -> None:
    said = judgement(ran(7, stderr), "checker", 500)
    assert (said.verdict, said.fraction) == (verdict, fraction)
    assert said.message == stderr.strip()


@pytest.mark.parametrize("stderr", ["points 1.5\n", "points -0.1\n", "ok\n", ""])
def test_points_outside_zero_to_one_or_missing_are_a_checker_error(stderr: str) -> None:
    said = judgement(ran(7, stderr), "checker", 500)
    assert said.verdict is Verdict.CHECKER_ERROR
    assert said.fraction == 0.0


def test_an_undefined_exit_code_is_a_checker_error() -> None:
    said = judgement(ran(42), "interactor", 500)
    assert said.verdict is Verdict.CHECKER_ERROR
    assert said.message == (
        "the interactor exited with code 42, which testlib's protocol does not define"
    )


def test_a_signal_or_a_limit_is_a_checker_error_with_the_reason() -> None:
    crashed = judgement(ran(None), "checker", 500)
    assert (crashed.verdict, crashed.message) == (
        Verdict.CHECKER_ERROR,
        "the checker was killed by signal 11",
    )
    slow = judgement(
        ran(None, outcome=Outcome.TIME_LIMIT_EXCEEDED, signal=signal.SIGKILL), "checker", 500
    )
    assert (slow.verdict, slow.message) == (
        Verdict.CHECKER_ERROR,
        "the checker went over its time limit",
    )


def test_the_message_is_bounded() -> None:
    assert first_line("x" * 1000, 20) == "x" * 17 + "..."
    said = judgement(ran(1, "y" * 10_000), "checker", 100)
    assert said.message is not None and len(said.message) == 100
    assert first_line("   \n", 20) is None


def test_a_python_checker_that_crashes_is_a_checker_error_not_a_wrong_answer() -> None:
    stderr = 'Traceback (most recent call last):\n  File "main.py", line 3\nValueError: bad\n'
    said = judgement(ran(1, stderr), "checker", 500)
    assert said.verdict is Verdict.CHECKER_ERROR
    assert said.message == "the checker crashed (an uncaught Python exception): ValueError: bad"
