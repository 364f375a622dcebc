"""The pool around its seam, with fake slots (no nsjail, no root): a sandbox that fails
before its program starts costs the run nothing but a fresh sandbox, a bounded number of
times; any other failure is the run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from onpyrunner.errors import SandboxError, SandboxFault
from onpyrunner.languages.catalogue import spec_of
from onpyrunner.models import Outcome, RunResult, Usage
from onpyrunner.sandbox.cgroup import CgroupLayout, CgroupVersion
from onpyrunner.sandbox.policy import Policy
from onpyrunner.sandbox.pool import SANDBOX_TRIES, Prepared, Sandbox
from onpyrunner.sandbox.runtimes import Phase, Runtime
from onpyrunner.sandbox.slot import Finished, RunSpec
from onpyrunner.settings import Settings

SPEC = spec_of("python")
assert SPEC is not None
PHASE = Phase("python", "run", Policy(Path("python.cfg"), {}), ("/usr/bin/python3",), ())
RUNTIME = Runtime(SPEC, "CPython 3", PHASE, None)
OK = RunResult(
    outcome=Outcome.SUCCESS,
    stdout="1\n",
    stderr="",
    exit_code=0,
    signal=None,
    usage=Usage(cpu_time_ms=1, wall_time_ms=1, memory_kb=1),
)


class FakeSlot:
    """A slot whose next sandboxes fail before the program starts `faults` times."""

    def __init__(self, index: int, faults: int = 0, error: SandboxError | None = None) -> None:
        self.index = index
        self.faults = faults
        self.error = error
        self.runs = 0
        self.phase_key: str | None = None
        self.ready = False

    async def run(self, job: RunSpec) -> Finished:
        self.runs += 1
        if self.faults > 0:
            self.faults -= 1
            raise SandboxFault("nsjail could not start the sandbox in 10 s", "ready_timeout")
        if self.error is not None:
            raise self.error
        return Finished(OK, {})


def pool_of(*slots: FakeSlot) -> Sandbox:
    layout = CgroupLayout(CgroupVersion.V1, {})
    return Sandbox(Settings(concurrency=1), {"python": RUNTIME}, layout, list(slots))  # type: ignore[arg-type]


PREPARED = Prepared(RUNTIME, {"main.py": b"print(1)"}, "main.py", "main")


async def test_a_run_whose_sandbox_failed_first_runs_in_a_fresh_one() -> None:
    slot = FakeSlot(0, faults=SANDBOX_TRIES - 1)
    pool = pool_of(slot)
    assert await pool.run_prepared(PREPARED) == OK
    assert slot.runs == SANDBOX_TRIES
    assert pool.rebuilds == {"ready_timeout": SANDBOX_TRIES - 1}


async def test_a_run_whose_every_sandbox_fails_is_a_sandbox_error_with_the_cause() -> None:
    pool = pool_of(FakeSlot(0, faults=SANDBOX_TRIES + 5))
    with pytest.raises(SandboxError, match=f"in 10 s \\(tried {SANDBOX_TRIES} fresh sandboxes"):
        await pool.run_prepared(PREPARED)
    assert pool.rebuilds == {"ready_timeout": SANDBOX_TRIES}


async def test_a_failure_after_the_program_started_is_not_tried_again() -> None:
    slot = FakeSlot(0, error=SandboxError("the program's output stayed open after it ended"))
    pool = pool_of(slot)
    with pytest.raises(SandboxError, match="stayed open"):
        await pool.run_prepared(PREPARED)
    assert slot.runs == 1 and pool.rebuilds == {}
