"""Following a live job: its changes and, for a job that publishes it (interactive or
`stream`), its output as written, in one ordered sequence whose last item is the finished
job, every output entry before it. Behind the session WebSocket, the events WebSocket's
`stream` option, and every compatible API's live protocol (Piston's /connect).

Two readers feed one small queue: the job's changes (api/waiting.py's follower) and its
output log (queue/session.py), read batch by batch from a cursor. The queue is bounded:
a client slower than the program holds the readers back, never the worker (the log waits
in the store, bounded by the run's output limit). When the finished job comes, the output
reader stops and whatever the log still holds after its cursor is read before the job is
given: the worker publishes all output before it stores the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from onpyrunner.aio import stop
from onpyrunner.api import waiting
from onpyrunner.models import TERMINAL_STATUSES, Job
from onpyrunner.queue.session import START, Output
from onpyrunner.queue.store import JobStore

#: Longest blocking read of the output log (then it reads again).
READ_BLOCK_S = 4.0
#: Items waiting between the readers and the consumer.
QUEUE_ITEMS = 64


@dataclass(frozen=True)
class Change:
    """The job as it is now (the last one is the finished job)."""

    job: Job


@dataclass(frozen=True)
class Written:
    """Output the program wrote (or its start mark)."""

    entries: list[Output]


@dataclass(frozen=True)
class Gone:
    """The job is unknown or expired."""


Item = Change | Written | Gone


class LiveFollower:
    """One follow of a job; use `following()`."""

    def __init__(self, store: JobStore, job_id: str, with_output: bool, timeout_s: float) -> None:
        self.store = store
        self.job_id = job_id
        self.with_output = with_output
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[Change | tuple[Written, str] | Gone | None] = asyncio.Queue(
            QUEUE_ITEMS
        )
        self._cursor = START
        self._tasks: list[asyncio.Task[None]] = []

    def _start(self, follower: waiting.Follower) -> None:
        self._tasks.append(asyncio.create_task(self._changes(follower)))
        if self.with_output:
            self._tasks.append(asyncio.create_task(self._output()))

    async def _changes(self, follower: waiting.Follower) -> None:
        async for job in follower.changes(self.timeout_s):
            await self._queue.put(Change(job))
        await self._queue.put(Gone() if follower.gone else None)

    async def _output(self) -> None:
        cursor = self._cursor
        while True:
            entries, cursor = await self.store.sessions.read(self.job_id, cursor, READ_BLOCK_S)
            if entries:
                await self._queue.put((Written(entries), cursor))

    async def _rest(self) -> list[Output]:
        """The output log after the last batch given, to its end."""
        rest: list[Output] = []
        while True:
            entries, self._cursor = await self.store.sessions.read(self.job_id, self._cursor, 0)
            if not entries:
                return rest
            rest += entries

    async def items(self) -> AsyncIterator[Item]:
        """Changes and output in order; ends after the finished job, after Gone, or (not
        finished when timeout_s passed) after the last change."""
        while True:
            item = await self._queue.get()
            if item is None or isinstance(item, Gone):
                if item is not None:
                    yield item
                return
            if isinstance(item, tuple):
                written, self._cursor = item
                yield written
                continue
            if item.job.status in TERMINAL_STATUSES and self.with_output:
                rest = await self._stop_output()
                rest += await self._rest()
                if rest:
                    yield Written(rest)
            yield item
            if item.job.status in TERMINAL_STATUSES:
                return

    async def _stop_output(self) -> list[Output]:
        """Stop the output reader; the output it had queued, in order."""
        if len(self._tasks) > 1:
            await stop([self._tasks.pop()])
        queued: list[Output] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, tuple):
                queued += item[0].entries
                self._cursor = item[1]
        return queued

    async def close(self) -> None:
        await stop(self._tasks)


@contextlib.asynccontextmanager
async def following(
    store: JobStore, job_id: str, with_output: bool, timeout_s: float
) -> AsyncIterator[LiveFollower]:
    """Follow a job (and its output, with_output) for at most timeout_s."""
    async with waiting.follow(store, job_id) as follower:
        live = LiveFollower(store, job_id, with_output, timeout_s)
        live._start(follower)
        try:
            yield live
        finally:
            await live.close()
