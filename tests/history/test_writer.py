"""The history writer between a real job store's outbox and a real database (both engines):
ended jobs become rows in batches, and a job delivered to the writers twice is one row."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from onpyrunner.history import queries
from onpyrunner.history.store import HistoryStore
from onpyrunner.history.writer import HistoryWriter
from onpyrunner.metrics import Metrics
from onpyrunner.queue.memory import MemoryStore
from onpyrunner.queue.store import JobStore, utcnow
from onpyrunner.settings import Settings
from tests.queue.test_store_contract import claim, ending, submitted

PATIENCE_S = 20.0


def _settings(**changes: object) -> Settings:
    base: dict[str, object] = {"lease_s": 0.2, "history_flush_interval_s": 0.05}
    base.update(changes)
    return Settings(**base)  # type: ignore[arg-type]


async def _rows_become(history: HistoryStore, writer: HistoryWriter, n: int) -> None:
    """Wait for the writer's batches until the history holds n rows."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while True:
        # Cleared before the count is read: a batch written after it sets the event again
        # (cleared after, the last batch's news could be lost and the wait ran out).
        writer.wrote.clear()
        if (await history.counts())["history"] >= n:
            return
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"the history never held {n} rows"
        try:
            await asyncio.wait_for(writer.wrote.wait(), remaining)
        except TimeoutError:
            continue


async def _finish_jobs(store: JobStore, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        job = await submitted(store)
        await store.finish(await claim(store), ending())
        ids.append(job.id)
    return ids


async def test_ended_jobs_become_history_rows_in_batches(history: HistoryStore) -> None:
    settings = _settings(history_batch_size=7)
    store = MemoryStore(settings)
    metrics = Metrics()
    metrics.watch_history()
    writer = HistoryWriter(store, history, settings, metrics)
    await store.open_outbox()
    ids = await _finish_jobs(store, 30)
    writer.start()
    try:
        await _rows_become(history, writer, 30)
        assert (await store.backlog()).waiting == 0
    finally:
        await writer.stop(5.0)
    for job_id in ids:
        entry = await history.get(job_id)
        assert entry is not None and entry.status == "COMPLETED" and entry.worker == "w1"
    assert metrics.history_written._value.get() == 30


async def test_a_job_delivered_to_the_writers_twice_is_one_row(history: HistoryStore) -> None:
    settings = _settings(lease_s=0.05)  # the dead writer's hold (10 leases) passes in 0.5 s
    store = MemoryStore(settings)
    await store.open_outbox()
    [job_id] = await _finish_jobs(store, 1)
    # a first writer writes the row, then dies before it acknowledges the job
    taken = await store.ended("dead-writer", 10, 1.0)
    assert [e.job_id for e in taken] == [job_id]
    assert await history.write([e.job for e in taken if e.job is not None]) == 1
    metrics = Metrics()
    metrics.watch_history()
    writer = HistoryWriter(store, history, settings, metrics)
    writer.start()
    try:  # after 10 x lease_s the job goes to this writer, which finds the row there
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        while (await store.backlog()).waiting:
            assert asyncio.get_running_loop().time() < deadline, "never taken over"
            await asyncio.sleep(0.05)  # time must pass: the dead writer's lease
    finally:
        await writer.stop(5.0)
    assert (await history.counts())["history"] == 1
    assert metrics.history_written._value.get() == 0  # nothing inserted the second time
    now = utcnow()
    assert (await queries.stats(history, now - timedelta(hours=1), now, 60)).jobs == 1


async def test_a_batch_whose_write_failed_unexpectedly_is_written_again(
    history: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any failure, not only "database unavailable" (a server shut down mid-query was once
    # another kind of error): the batch stays in hand and is written again. Dropped, its
    # jobs waited in the outbox, taken and never acknowledged, for 10 leases (here 10 min).
    settings = _settings(lease_s=60.0)
    store = MemoryStore(settings)
    await store.open_outbox()
    real_write = history.write
    failures: list[str] = []

    async def write_failing_once(*args: Any, **kwargs: Any) -> int:
        if not failures:
            failures.append("failed")
            raise RuntimeError("the server went away mid-query (injected)")
        return await real_write(*args, **kwargs)

    monkeypatch.setattr(history, "write", write_failing_once)
    writer = HistoryWriter(store, history, settings, Metrics())
    ids = await _finish_jobs(store, 3)
    writer.start()
    try:
        await _rows_become(history, writer, 3)
    finally:
        await writer.stop(5.0)
    assert failures == ["failed"]
    assert (await store.backlog()).waiting == 0
    assert all([await history.get(job_id) for job_id in ids])
