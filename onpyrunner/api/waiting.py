"""Waiting for a job: the one event-driven, bounded wait behind `?wait`, the events
WebSocket, and every compatible API's own waiting (Judge0's `wait`, its callbacks).

A follower watches the job's announcements from the moment it is entered, so entering it
before submitting misses nothing. It re-reads the job on every announcement, and at least
every REREAD_S in case one was missed (announcements are best effort; the store is the
truth). Every wait is bounded by the caller's timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from onpyrunner.models import TERMINAL_STATUSES, Job
from onpyrunner.queue.store import JobStore, Watch

#: Longest pause between two reads of a followed job.
REREAD_S = 5.0


class Follower:
    """Reads of one job, woken by its announcements."""

    def __init__(self, store: JobStore, job_id: str, watch: Watch) -> None:
        self.store = store
        self.job_id = job_id
        self.watch = watch
        #: The job was unknown or expired at the last read.
        self.gone = False

    async def changes(self, timeout_s: float, current: Job | None = None) -> AsyncIterator[Job]:
        """The job now (`current`, if the caller has just read or made it), then after
        each change; ends after the job finishes, when it is gone (unknown or expired),
        or once timeout_s has passed (after a last read)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        job = current if current is not None else await self.store.get(self.job_id)
        while job is not None:
            yield job
            remaining = deadline - loop.time()
            if job.status in TERMINAL_STATUSES or remaining <= 0:
                return
            await self.watch.changed(min(REREAD_S, remaining))
            job = await self.store.get(self.job_id)
        self.gone = True

    async def until_done(self, timeout_s: float, current: Job | None = None) -> Job | None:
        """The job once it finished, or as it is when timeout_s has passed; None when it
        is gone."""
        last: Job | None = None
        async for job in self.changes(timeout_s, current):
            last = job
        return None if self.gone else last


class ManyFollower:
    """Reads of several jobs (a batch), woken by any one's announcements; only the jobs
    that changed are read again (all the unfinished ones every REREAD_S)."""

    def __init__(self, store: JobStore, job_ids: list[str], watch: Watch) -> None:
        self.store = store
        self.job_ids = job_ids
        self.watch = watch
        #: Each job as last read (None: unknown or expired).
        self.jobs: list[Job | None] = []

    async def finished(self, timeout_s: float) -> AsyncIterator[int]:
        """The index of each job as it finishes (or is gone), those finished already
        first; ends when every one has, or once timeout_s has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self.jobs = await self.store.get_many(self.job_ids)
        index = {job_id: i for i, job_id in enumerate(self.job_ids)}
        pending = set(range(len(self.job_ids)))
        while True:
            for i in sorted(pending):
                job = self.jobs[i]
                if job is None or job.status in TERMINAL_STATUSES:
                    pending.discard(i)
                    yield i
            remaining = deadline - loop.time()
            if not pending or remaining <= 0:
                return
            if await self.watch.changed(min(REREAD_S, remaining)):
                taken = self.watch.take_changed()
                changed = {index[j] for j in taken if j in index} & pending
            else:
                changed = set(pending)  # an announcement may have been missed
            ordered = sorted(changed)
            for i, job in zip(
                ordered, await self.store.get_many([self.job_ids[i] for i in ordered]), strict=True
            ):
                self.jobs[i] = job


@asynccontextmanager
async def follow_many(store: JobStore, job_ids: list[str]) -> AsyncIterator[ManyFollower]:
    """Follow several jobs: announcements count from here on."""
    async with store.watch_many(job_ids) as watch:
        yield ManyFollower(store, job_ids, watch)


@asynccontextmanager
async def follow(store: JobStore, job_id: str) -> AsyncIterator[Follower]:
    """Follow a job: announcements count from here on."""
    async with store.watch(job_id) as watch:
        yield Follower(store, job_id, watch)
