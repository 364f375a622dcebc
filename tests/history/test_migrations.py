"""Schema versions on both engines: from an empty database to the newest, and from the
previous version with rows in it (the roll-ups built from them)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from onpyrunner.history import queries, records
from onpyrunner.history.store import HistoryStore, head_revision
from onpyrunner.history.tables import history
from onpyrunner.queue.store import utcnow
from tests.history.jobs import ended_job


async def test_from_empty_to_the_newest_version(db_url: str) -> None:
    store = HistoryStore(db_url)
    try:
        assert await store.revision() is None
        await store.prepare()
        assert await store.revision() == head_revision() == "0002"
        await store.migrate(head_revision())  # again: nothing to do
        assert await store.revision() == "0002"
    finally:
        await store.close()


async def test_from_the_previous_version_the_rows_stay_and_the_rollups_are_built(
    db_url: str,
) -> None:
    store = HistoryStore(db_url)
    try:
        await store.migrate("0001")
        assert await store.revision() == "0001"
        now = utcnow()
        jobs = [ended_job(at=now - timedelta(minutes=i % 3), run_ms=10 + i) for i in range(50)]
        # rows as version 0001 holds them (its history table is the same as now), no roll-ups
        async with store.engine.begin() as conn:
            await conn.execute(sa.insert(history), [records.row_of(job) for job in jobs])
            assert not await conn.run_sync(lambda c: sa.inspect(c).has_table("history_counts"))
        await store.prepare()
        assert await store.revision() == "0002"
        assert (await store.counts())["history"] == 50
        stats = await queries.stats(store, now - timedelta(hours=1), now, 60)
        assert stats.jobs == 50
        assert stats.by_outcome == {"SUCCESS": 50}
        assert stats.run_ms.p99 is not None and abs(stats.run_ms.p99 - 59) <= 2
        entry = await store.get(jobs[0].id)
        assert entry is not None and entry.durations.run_ms == 10
    finally:
        await store.close()
