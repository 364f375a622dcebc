"""From the raw facts of a finished run to its Outcome, in one documented priority order.

Priority (the first rule that applies wins):
  1. MEMORY_LIMIT_EXCEEDED  the kernel's OOM killer killed a process of the run's cgroup
                            (the program or any of its children: the limit is the tree's).
  2. OUTPUT_LIMIT_EXCEEDED  the service stopped the program because stdout or stderr went
                            over output_kb, or it died of SIGXFSZ with a file written up to
                            max_file_kb (the init looked: see init.c).
  3. TIME_LIMIT_EXCEEDED    the service stopped it for CPU or wall time, or the measured CPU
                            time or wall time is over its limit, or it died of SIGXCPU with
                            its CPU time at the limit (the per-process CPU rlimit, a backstop
                            set well above the limit: see limits.rlimit_cpu_s).
  4. MEMORY_LIMIT_EXCEEDED  it failed and its runtime reported running out of memory (e.g.
                            Python's MemoryError when an allocation is refused).
  5. RUNTIME_ERROR          non-zero exit, or death by a signal no limit explains.
  6. SUCCESS                exit 0.
A signal is blamed on a limit only with evidence (rules 1-3: the OOM counter, the host's
own reason for stopping the program, the time measured at the limit, the file at the size
limit); otherwise a death by signal is a RUNTIME_ERROR with that signal. A program that
sends itself SIGKILL, SIGXCPU or SIGXFSZ far below its limits is a RUNTIME_ERROR.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import StrEnum

from onpyrunner.limits import Limits
from onpyrunner.models import Outcome


class KillReason(StrEnum):
    """Why the service itself stopped a run."""

    OUTPUT = "OUTPUT"
    CPU_TIME = "CPU_TIME"
    WALL_TIME = "WALL_TIME"


@dataclass(frozen=True)
class ExitFacts:
    """Everything known about how a run ended."""

    exit_code: int | None
    signal: int | None
    killed_for: KillReason | None
    cpu_time_ms: int
    wall_time_ms: int
    oom_kills: int
    runtime_memory_error: bool
    #: Died of SIGXFSZ with a file at the file-size limit (the init's evidence).
    file_size_hit: bool
    limits: Limits


def classify(facts: ExitFacts) -> Outcome:
    """The outcome of a run; see the module docstring for the order."""
    clean_exit = facts.exit_code == 0 and facts.signal is None and facts.killed_for is None
    if facts.oom_kills > 0:
        return Outcome.MEMORY_LIMIT_EXCEEDED
    if facts.killed_for is KillReason.OUTPUT or (
        facts.signal == signal.SIGXFSZ and facts.file_size_hit
    ):
        return Outcome.OUTPUT_LIMIT_EXCEEDED
    if (
        facts.killed_for in (KillReason.CPU_TIME, KillReason.WALL_TIME)
        or facts.cpu_time_ms > facts.limits.cpu_time_ms
        or facts.wall_time_ms > facts.limits.wall_time_ms
        or (facts.signal == signal.SIGXCPU and facts.cpu_time_ms >= facts.limits.cpu_time_ms)
    ):
        return Outcome.TIME_LIMIT_EXCEEDED
    if clean_exit:
        return Outcome.SUCCESS
    if facts.runtime_memory_error:
        return Outcome.MEMORY_LIMIT_EXCEEDED
    return Outcome.RUNTIME_ERROR
