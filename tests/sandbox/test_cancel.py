"""A run cancelled at any point (a judge's early stop cancels the cases still running)
closes its own descriptors once and nobody else's.

The service runs on uvloop (uvicorn picks it), whose pipe transports close a descriptor
through libuv: a run cancelled while its pipes were being connected once left a file
object that closed the same number again later, by then another job's pipe or socket,
and that job ended FAILED with "Bad file descriptor". So these runs are on uvloop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os

import pytest
import uvloop

from onpyrunner.models import Outcome
from onpyrunner.sandbox.live import Live
from onpyrunner.sandbox.pool import RunOptions, Sandbox
from onpyrunner.settings import Settings
from tests.service import uid_base

pytestmark = pytest.mark.sandbox

#: How many loop turns a run is given before it is cancelled: from at once to well past
#: the go (a warm hello world ends within a few dozen turns).
TURNS = range(0, 80, 3)


def _sentinels(count: int) -> list[tuple[int, int]]:
    """Another job's descriptors, opened right after a cancel: they take the lowest free
    numbers, the ones a cancelled run just gave back. Each with its inode."""
    fds: list[tuple[int, int]] = []
    for _ in range(count // 2):
        for fd in os.pipe2(os.O_CLOEXEC):
            fds.append((fd, os.fstat(fd).st_ino))
    return fds


def _still_theirs(fds: list[tuple[int, int]]) -> list[int]:
    """The sentinels closed, or replaced, by someone else."""
    lost = []
    for fd, inode in fds:
        try:
            if os.fstat(fd).st_ino != inode:
                lost.append(fd)
        except OSError:
            lost.append(fd)
    return lost


async def _cancel_runs(live: bool) -> tuple[list[int], int, list[str]]:
    """Cancel a run after each number of TURNS; return the sentinels lost, how many more
    descriptors are open than before (the pool's own ready both times), and the last
    (uncancelled) run's result."""
    pool = await Sandbox.start(Settings(sandbox_uid_base=uid_base()), slots=1)
    lost: list[int] = []
    try:
        await pool.run("python", b"print(1)")
        await pool.settle()
        baseline = len(os.listdir("/proc/self/fd"))  # the pool's own, its sandbox ready
        for turns in TURNS:
            options = RunOptions(live=Live()) if live else None
            task = asyncio.ensure_future(
                pool.run("python", b"print(input())", b"x\n", options=options)
            )
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            theirs = _sentinels(8)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 30)
            gc.collect()  # a file object that still thinks it owns a number closes it here
            for _ in range(10):  # and a close scheduled by the loop happens within these
                await asyncio.sleep(0)
            lost += _still_theirs(theirs)
            for fd, _ in theirs:
                with contextlib.suppress(OSError):
                    os.close(fd)
        await pool.settle()
        result = await pool.run("python", b"print(input())", b"after\n")
        await pool.settle()
        leaked = len(os.listdir("/proc/self/fd")) - baseline
        return lost, leaked, [result.outcome.value, result.stdout]
    finally:
        await pool.close()


@pytest.mark.parametrize("live", [False, True], ids=["plain", "live"])
def test_a_cancelled_run_closes_only_its_own_descriptors(live: bool) -> None:
    lost, leaked, last = uvloop.run(_cancel_runs(live))
    assert lost == [], f"descriptors of another job closed by a cancelled run: {lost}"
    assert last == [Outcome.SUCCESS.value, "after\n"]
    # A run that leaked a pipe per cancel, or an nsjail left running, would leave dozens.
    assert leaked <= 2, leaked
