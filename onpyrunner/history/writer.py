"""The history writer: ended jobs from the job store's outbox to the database, in batches;
and the retention purge, in small batches, in the background.

The outbox is the bounded buffer (queue/store.py): in memory for the embedded default, a
Redis stream shared by every API process otherwise. The writer takes up to
history_batch_size jobs, writes them in one transaction, then acknowledges them; while the
database is down it keeps retrying the batch it holds (backing off up to 5 s) and takes no
more, so the backlog waits in the outbox, where its bound and drops are counted. Nothing
here can fail or delay a job: the jobs ended before they reached the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta

from onpyrunner.aio import stop
from onpyrunner.errors import BackendUnavailableError, HistoryUnavailableError
from onpyrunner.history.store import HistoryStore
from onpyrunner.metrics import Metrics
from onpyrunner.queue.store import Ended, JobStore
from onpyrunner.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_MAX_S = 5.0
#: How long one read of the outbox waits for an ended job.
READ_BLOCK_S = 1.0


class HistoryWriter:
    """Writes ended jobs to the history, and purges it, until stopped."""

    def __init__(
        self, store: JobStore, history: HistoryStore, settings: Settings, metrics: Metrics
    ) -> None:
        self.store = store
        self.history = history
        self.settings = settings
        self.metrics = metrics
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.retention = timedelta(days=settings.history_retention_days)
        self.content_retention = timedelta(days=settings.history_content_retention_days)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: Set whenever a batch was written (tests and the benchmark wait on it).
        self.wrote = asyncio.Event()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="history-writer"),
            asyncio.create_task(self._purge_loop(), name="history-purge"),
        ]

    async def stop(self, grace_s: float) -> None:
        """Stop; the batch in hand gets up to grace_s to be written."""
        self._stopping.set()
        if not self._tasks:
            return
        await asyncio.wait(self._tasks, timeout=grace_s)
        await stop(self._tasks)  # those still going after the grace
        with contextlib.suppress(Exception):
            waiting = (await self.store.backlog()).waiting
            if waiting:
                log.warning(
                    "history writer stopped with %d ended jobs not written: with Redis they "
                    "wait there for an API process; in memory they are lost",
                    waiting,
                )

    async def _pause(self, seconds: float) -> None:
        """Wait seconds, or less when stopping."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    # --- writing -------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        delay = 0.1
        opened = False
        # A batch stays in hand until it is written and acknowledged: a failure of any kind
        # retries it. Dropped, its entries would wait in the outbox, taken and never
        # acknowledged, until their hold of 10 leases ran out (5 minutes by default).
        batch: list[Ended] = []
        while not self._stopping.is_set():
            try:
                if not opened:
                    await self.store.open_outbox()
                    opened = True
                if not batch:
                    batch = await self._read()
                size = len(batch)
                if batch and await self._write(batch):
                    await self.store.recorded(self.consumer, [e.token for e in batch])
                    batch = []
                delay = 0.1
            except BackendUnavailableError as e:
                log.warning("history writer: %s; retrying in %.1f s", e, delay)
                await self._pause(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            except Exception:
                log.exception("history writer failed; retrying in %.1f s", delay)
                await self._pause(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if size < self.settings.history_batch_size:
                await self._pause(self.settings.history_flush_interval_s)

    async def _read(self) -> list[Ended]:
        """The next batch of ended jobs; none when stopping comes first. A read cut short
        is safe: what it had taken is not acknowledged, and goes to a writer again."""
        read = asyncio.ensure_future(
            self.store.ended(self.consumer, self.settings.history_batch_size, READ_BLOCK_S)
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        cut_short = False
        try:
            await asyncio.wait([read, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not read.done():
                cut_short = read.cancel()
                await asyncio.gather(read, return_exceptions=True)
        return [] if cut_short else read.result()

    async def _write(self, batch: list[Ended]) -> bool:
        """Write a batch, retrying while the database is down; False when stopped first."""
        jobs = [e.job for e in batch if e.job is not None]
        expired = len(batch) - len(jobs)
        if expired:
            log.warning("history writer: %d ended jobs expired before they were written", expired)
            self.metrics.history_drops["expired"] += expired
        delay = 0.1
        failing = False
        while True:
            try:
                written = await self.history.write(jobs, self.retention)
            except HistoryUnavailableError as e:
                if not failing:
                    log.warning(
                        "history database unavailable (%s): %d jobs wait in the outbox; "
                        "retrying until it is back",
                        e,
                        len(jobs),
                    )
                    failing = True
                self.metrics.history_write_failures.inc()
                if self._stopping.is_set():
                    return False
                await self._pause(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if failing:
                log.warning("history database is back: writing the backlog")
            self.metrics.history_written.inc(written)
            self.wrote.set()
            return True

    # --- retention ---------------------------------------------------------------------
    async def _purge_loop(self) -> None:
        batch = self.settings.history_purge_batch
        while not self._stopping.is_set():
            try:
                while not self._stopping.is_set():
                    removed = await self.history.purge(
                        self.retention, self.content_retention, batch
                    )
                    if removed:
                        log.info("history purge: %d old rows and texts removed", removed)
                    if removed < batch:
                        break
                    await asyncio.sleep(0)  # small batches: let the rest of the process run
            except HistoryUnavailableError as e:
                log.warning("history purge: %s; trying again later", e)
            except Exception:
                log.exception("history purge failed; trying again later")
            await self._pause(self.settings.history_purge_interval_s)
