"""The classification priority order, one rule at a time."""

from __future__ import annotations

import signal

import pytest

from onpyrunner.limits import Limits
from onpyrunner.models import Outcome
from onpyrunner.sandbox.verdict import ExitFacts, KillReason, classify

LIMITS = Limits(cpu_time_ms=1000, wall_time_ms=2000)


def facts(**changes: object) -> ExitFacts:
    base: dict[str, object] = {
        "exit_code": 0,
        "signal": None,
        "killed_for": None,
        "cpu_time_ms": 10,
        "wall_time_ms": 12,
        "oom_kills": 0,
        "runtime_memory_error": False,
        "file_size_hit": False,
        "limits": LIMITS,
    }
    base.update(changes)
    return ExitFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        ({}, Outcome.SUCCESS),
        ({"exit_code": 3}, Outcome.RUNTIME_ERROR),
        ({"exit_code": None, "signal": signal.SIGSEGV}, Outcome.RUNTIME_ERROR),
        # A SIGKILL without evidence of a limit is not blamed on one.
        ({"exit_code": None, "signal": signal.SIGKILL}, Outcome.RUNTIME_ERROR),
        (
            {"exit_code": None, "signal": signal.SIGKILL, "oom_kills": 1},
            Outcome.MEMORY_LIMIT_EXCEEDED,
        ),
        (
            {"exit_code": None, "signal": signal.SIGKILL, "killed_for": KillReason.WALL_TIME},
            Outcome.TIME_LIMIT_EXCEEDED,
        ),
        # SIGXCPU is the CPU rlimit only when the CPU time is at the limit; self-sent, it
        # is the program's own doing.
        ({"exit_code": None, "signal": signal.SIGXCPU}, Outcome.RUNTIME_ERROR),
        (
            {"exit_code": None, "signal": signal.SIGXCPU, "cpu_time_ms": 1000},
            Outcome.TIME_LIMIT_EXCEEDED,
        ),
        # SIGXFSZ is the file-size limit only with a file at that size.
        ({"exit_code": None, "signal": signal.SIGXFSZ}, Outcome.RUNTIME_ERROR),
        (
            {"exit_code": None, "signal": signal.SIGXFSZ, "file_size_hit": True},
            Outcome.OUTPUT_LIMIT_EXCEEDED,
        ),
        ({"exit_code": 0, "file_size_hit": True}, Outcome.SUCCESS),
        ({"cpu_time_ms": 1001}, Outcome.TIME_LIMIT_EXCEEDED),
        ({"wall_time_ms": 2001}, Outcome.TIME_LIMIT_EXCEEDED),
        ({"exit_code": 1, "runtime_memory_error": True}, Outcome.MEMORY_LIMIT_EXCEEDED),
        ({"exit_code": 0, "runtime_memory_error": True}, Outcome.SUCCESS),
        (
            {"killed_for": KillReason.OUTPUT, "exit_code": None, "signal": signal.SIGKILL},
            Outcome.OUTPUT_LIMIT_EXCEEDED,
        ),
        # Priority: memory evidence beats output, output beats time.
        ({"killed_for": KillReason.OUTPUT, "oom_kills": 1}, Outcome.MEMORY_LIMIT_EXCEEDED),
        ({"killed_for": KillReason.OUTPUT, "cpu_time_ms": 5000}, Outcome.OUTPUT_LIMIT_EXCEEDED),
        (
            {"killed_for": KillReason.CPU_TIME, "exit_code": 1, "runtime_memory_error": True},
            Outcome.TIME_LIMIT_EXCEEDED,
        ),
    ],
)
def test_classification(changes: dict[str, object], outcome: Outcome) -> None:
    assert classify(facts(**changes)) is outcome
