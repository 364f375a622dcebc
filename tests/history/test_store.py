"""The history store on both engines: idempotent writes, deletes that stay deleted, the
retention purge, filters and keyset pages over thousands of rows, and the statistics."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exc

from onpyrunner.errors import HistoryUnavailableError
from onpyrunner.history import queries
from onpyrunner.history.store import HistoryStore, _unavailable_on_failure, head_revision
from onpyrunner.models import Job, JobStatus, Outcome, RunResult, Verdict
from onpyrunner.queue.store import utcnow
from tests.history.jobs import ended_job


async def test_a_fresh_database_is_migrated_to_the_newest_schema(history: HistoryStore) -> None:
    assert await history.revision() == head_revision()
    counts = await history.counts()
    assert set(counts) == {"history", "history_content", "history_counts", "history_latency"}


async def test_a_job_written_twice_is_one_row_and_counted_once(history: HistoryStore) -> None:
    job = ended_job()
    assert await history.write([job]) == 1
    assert await history.write([job, job]) == 0  # a redelivered job, even twice in a batch
    assert (await history.counts())["history"] == 1
    now = utcnow()
    stats = await queries.stats(history, now - timedelta(hours=1), now, 60)
    assert stats.jobs == 1
    assert stats.by_outcome == {"SUCCESS": 1}


def test_a_span_ending_within_a_second_of_a_minute_keeps_that_minute() -> None:
    # The statistics of the last hour, asked for half a second into a minute: a job that
    # ended in that half second is in that minute's bucket, so the bucket is in the span.
    # (Truncating until to whole seconds left it out: a suite run that asked in the first
    # second of a minute counted 0 jobs.)
    minute = datetime(2026, 11, 30, 4, 48, tzinfo=UTC)
    until = minute + timedelta(milliseconds=500)
    lo, hi = queries.span(until - timedelta(hours=1), until, 60)
    assert lo == (minute - timedelta(hours=1)).timestamp()
    assert hi == (minute + timedelta(minutes=1)).timestamp()
    assert queries.span(minute, minute, 60) == (lo + 3600, hi)  # an instant: its bucket


async def test_the_row_holds_what_the_job_did(history: HistoryStore) -> None:
    job = ended_job(token_id="t-0123456789ab", api="judge0", wait_ms=7, run_ms=30, keep_bytes=64)
    await history.write([job])
    entry = await history.get(job.id)
    assert entry is not None
    assert (entry.api, entry.token_id, entry.language) == ("judge0", "t-0123456789ab", "python")
    assert (entry.status, entry.outcome, entry.exit_code, entry.worker) == (
        "COMPLETED",
        "SUCCESS",
        0,
        "w-1",
    )
    assert entry.durations.queue_wait_ms == 7
    assert entry.durations.run_ms == 30
    assert entry.durations.total_ms == 38
    assert entry.timestamps.received_at == job.timestamps.received_at
    assert entry.limits == job.limits.model_dump()
    assert job.input is not None
    assert entry.source.sha256 == job.input.source_sha256
    assert entry.source.bytes == len(b"print(1)")
    assert entry.content is not None
    assert (entry.content.source_code, entry.content.stdin, entry.content.stdout) == (
        "print(1)",
        "in",
        "1\n",
    )


async def test_texts_are_kept_only_when_the_job_kept_them_and_are_cut_to_the_cap(
    history: HistoryStore,
) -> None:
    plain = ended_job()  # submitted while texts were not kept
    long = ended_job(source="é" * 100, stdout="x" * 1000, keep_bytes=64)
    await history.write([plain, long])
    found = await history.get(plain.id)
    assert found is not None and found.content is None
    kept = await history.get(long.id)
    assert kept is not None and kept.content is not None
    assert kept.content.source_code == "é" * 32  # 64 bytes, at a character boundary
    assert kept.content.stdout == "x" * 64


async def test_a_deleted_job_stays_deleted_when_its_row_arrives_late(
    history: HistoryStore,
) -> None:
    written, late = ended_job(keep_bytes=64), ended_job()
    await history.write([written])
    assert await history.delete(written.id)
    assert not await history.delete(late.id)  # nothing yet: a tombstone
    assert await history.write([written, late]) == 0  # the backlog, after an outage
    assert await history.get(written.id) is None
    assert await history.get(late.id) is None
    now = utcnow()
    stats = await queries.stats(history, now - timedelta(hours=1), now, 60)
    assert stats.jobs == 0
    counts = await history.counts()
    assert (counts["history_content"], counts["history_counts"], counts["history_latency"]) == (
        0,
        0,
        0,
    )


async def test_retention_purges_old_rows_and_texts_in_batches(history: HistoryStore) -> None:
    now = utcnow()
    old = [ended_job(at=now - timedelta(days=40, minutes=i), keep_bytes=64) for i in range(7)]
    middle = [ended_job(at=now - timedelta(days=10), keep_bytes=64) for _ in range(3)]
    fresh = [ended_job(at=now - timedelta(hours=1), keep_bytes=64) for _ in range(2)]
    await history.write(old + middle + fresh)
    await history.delete(old[0].id)  # its tombstone goes too
    removed = []
    while True:
        n = await history.purge(timedelta(days=30), timedelta(days=7), batch=3)
        removed.append(n)
        if n < 3:
            break
    assert len(removed) > 2  # several small rounds, not one big one
    counts = await history.counts()
    assert counts["history"] == 5
    assert counts["history_content"] == 2  # the middle rows lost their texts, kept their rows
    for job in middle:
        entry = await history.get(job.id)
        assert entry is not None and entry.content is None
    stats = await queries.stats(history, now - timedelta(days=60), now, 86400)
    assert stats.jobs == 5
    assert await history.write(old[1:2], retention=timedelta(days=30)) == 0  # too old to write


async def test_filters_and_keyset_pages_over_thousands_of_rows(history: HistoryStore) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    languages = ["python", "c", "cpp"]
    outcomes = [Outcome.SUCCESS, Outcome.RUNTIME_ERROR, Outcome.TIME_LIMIT_EXCEEDED]
    jobs = [
        ended_job(
            at=start + timedelta(seconds=i // 2),  # pairs end at the same instant
            language=languages[i % 3],
            outcome=outcomes[(i // 3) % 3],
            api="judge0" if i % 5 == 0 else "native",
        )
        for i in range(3000)
    ]
    for i in range(0, len(jobs), 500):
        await history.write(jobs[i : i + 500])

    seen: list[str] = []
    cursor = None
    filters = queries.Filters(language="c", outcome="RUNTIME_ERROR")
    while True:
        page = await queries.page(history, filters, 37, cursor)
        seen += [e.job_id for e in page.entries]
        assert all(e.language == "c" and e.outcome == "RUNTIME_ERROR" for e in page.entries)
        cursor = page.next_cursor
        if cursor is None:
            break
        # rows written meanwhile (newer than the page) never shift the pages
        await history.write([ended_job(at=utcnow(), language="c", outcome=Outcome.RUNTIME_ERROR)])
    expected = sorted(
        (j for j in jobs if j.language == "c" and _outcome(j) == "RUNTIME_ERROR"),
        key=lambda j: (j.timestamps.stored_at, j.id),
        reverse=True,
    )
    assert seen == [j.id for j in expected]  # every one once, newest first, none new

    window = queries.Filters(
        api="judge0", since=start + timedelta(seconds=100), until=start + timedelta(seconds=200)
    )
    page = await queries.page(history, window, 500)
    assert len(page.entries) == 40 and page.next_cursor is None
    numbered = await queries.numbered_page(history, queries.Filters(api="judge0"), 3, 50)
    assert numbered.total == 600
    assert [e.job_id for e in numbered.entries] == [
        e.job_id
        for e in (await queries.page(history, queries.Filters(api="judge0"), 150)).entries[100:]
    ]


async def test_a_cursor_not_from_this_server_is_refused(history: HistoryStore) -> None:
    with pytest.raises(queries.CursorError):
        await queries.page(history, queries.Filters(), 10, "bm90IGEgY3Vyc29y")


def _outcome(job: Job) -> str | None:
    return job.result.outcome.value if isinstance(job.result, RunResult) else None


def _run_ms(job: Job) -> int:
    stamps = job.timestamps
    assert stamps.started_at is not None and stamps.finished_at is not None
    return round((stamps.finished_at - stamps.started_at).total_seconds() * 1000)


def _nearest_rank(values: list[int], p: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


async def test_stats_count_per_bucket_and_read_percentiles_within_the_bins_error(
    history: HistoryStore,
) -> None:
    start = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    jobs = []
    for i in range(600):
        minute = i // 200  # three buckets of a minute
        jobs.append(
            ended_job(
                at=start + timedelta(minutes=minute, seconds=i % 50),
                wait_ms=(i * 7) % 90,
                run_ms=10 + (i * 13) % 400,
                language="python" if i % 4 else "c",
                outcome=Outcome.SUCCESS if i % 3 else Outcome.MEMORY_LIMIT_EXCEEDED,
            )
        )
    jobs.append(ended_job(at=start, status=JobStatus.FAILED, outcome=None))
    jobs.append(ended_job(at=start, verdict=Verdict.WRONG_ANSWER))
    await history.write(jobs)

    stats = await queries.stats(history, start, start + timedelta(minutes=3), 60)
    assert stats.jobs == 602
    assert [b.jobs for b in stats.buckets] == [202, 200, 200]
    assert stats.by_outcome == {
        "SUCCESS": 400,
        "MEMORY_LIMIT_EXCEEDED": 200,
        "FAILED": 1,
        "WRONG_ANSWER": 1,
    }
    assert stats.by_language == {"python": 452, "c": 150}
    first_minute = jobs[:200] + jobs[600:]
    for p in (50, 95, 99):
        exact = _nearest_rank([_run_ms(j) for j in first_minute], p)
        got = getattr(stats.buckets[0].run_ms, f"p{p}")
        assert got is not None and abs(got - exact) <= max(1, 0.026 * exact), (p, got, exact)
    hourly = await queries.stats(history, start, start + timedelta(hours=1), 3600)
    assert hourly.jobs == 602 and len(hourly.buckets) == 1
    assert hourly.run_ms == stats.run_ms  # the hour's roll-up agrees with the minutes'


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "unavailable"),
    [("57P01", True), ("57P03", True), ("08006", True), ("23505", False), ("42P01", False)],
)
def test_a_server_that_went_away_is_unavailable_and_other_errors_are_not(
    sqlstate: str, unavailable: bool
) -> None:
    # 57P01: "terminating connection due to administrator command", what a server that
    # shuts down sends to its sessions; a writer takes that for an outage and waits.
    error = exc.DBAPIError("INSERT ...", None, _PgError(sqlstate))
    raised: type[BaseException] = HistoryUnavailableError if unavailable else exc.DBAPIError
    with pytest.raises(raised), _unavailable_on_failure("writing history rows"):
        raise error
