"""The pool around its seam, with fake slots (no nsjail, no root): a sandbox that fails
before its program starts costs the run nothing but a fresh sandbox, a bounded number of
times; any other failure is the run's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from onpyrunner.errors import SandboxError, SandboxFault
from onpyrunner.languages.catalogue import spec_of
from onpyrunner.models import Outcome, RunResult, Usage
from onpyrunner.sandbox.cgroup import CgroupLayout, CgroupVersion
from onpyrunner.sandbox.policy import Policy
from onpyrunner.sandbox.pool import SANDBOX_TRIES, Prepared, Sandbox
from onpyrunner.sandbox.runtimes import Phase, Runtime
from onpyrunner.sandbox.slot import Finished, RunSpec, Slot
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


class BlockingSlot(FakeSlot):
    """A slot whose run waits until released."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.running = asyncio.Event()
        self.release = asyncio.Event()

    async def run(self, job: RunSpec) -> Finished:
        self.running.set()
        await self.release.wait()
        return await super().run(job)


async def test_a_waiter_cancelled_as_a_slot_comes_free_strands_nothing() -> None:
    # Three runs, one slot: the first runs, two wait. The slot comes free and the first
    # waiter is cancelled in the same moment (a judge's early stop cancels its later
    # cases). The other waiter must get the slot: with asyncio.Condition (Python 3.11) the
    # one wake-up went to the cancelled waiter and the other waited for ever.
    slot = BlockingSlot(0)
    layout = CgroupLayout(CgroupVersion.V1, {})
    pool = Sandbox(Settings(concurrency=3), {"python": RUNTIME}, layout, [slot])  # type: ignore[list-item]
    first = asyncio.create_task(pool.run_prepared(PREPARED))
    await asyncio.wait_for(slot.running.wait(), 5)
    cancelled = asyncio.create_task(pool.run_prepared(PREPARED))
    waiting = asyncio.create_task(pool.run_prepared(PREPARED))
    for _ in range(10):  # both reach the wait for a slot
        await asyncio.sleep(0)
    give_back = pool._release

    def give_back_then_cancel(freed: Slot) -> None:  # the waiter woken, then cancelled
        give_back(freed)
        cancelled.cancel()

    pool._release = give_back_then_cancel  # type: ignore[method-assign, assignment]
    slot.release.set()
    assert await asyncio.wait_for(first, 5) == OK
    assert await asyncio.wait_for(waiting, 5) == OK
    assert cancelled.cancelled()
