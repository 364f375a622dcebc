"""Reading the history: a filtered list, newest first, by keyset pages; a page by number
(Judge0's list); and the statistics per time bucket, from the roll-ups.

A cursor is the (ended_at, job_id) of the last entry of a page, opaque to clients: the next
page starts strictly after it in the (ended_at, job_id) descending order, so rows written
meanwhile never shift a page. Percentiles are nearest-rank, read from the latency bins
(records.py: exact under 16 ms, within 2.5% above).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from onpyrunner.history import records
from onpyrunner.history.store import HistoryStore
from onpyrunner.history.tables import history, history_counts, history_latency

#: The percentiles /stats reports.
PERCENTILES: tuple[int, ...] = (50, 95, 99)


class CursorError(ValueError):
    """A cursor this server did not make."""


@dataclass(frozen=True)
class Filters:
    """What GET /history may filter on; None means any."""

    status: str | None = None
    outcome: str | None = None
    language: str | None = None
    api: str | None = None
    token_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        found: list[sa.ColumnElement[bool]] = [history.c.deleted_at.is_(None)]
        for name in ("status", "outcome", "language", "api", "token_id"):
            value = getattr(self, name)
            if value is not None:
                found.append(history.c[name] == value)
        if self.since is not None:
            found.append(history.c.ended_at >= self.since)
        if self.until is not None:
            found.append(history.c.ended_at < self.until)
        return found


def encode_cursor(ended_at: datetime, job_id: str) -> str:
    raw = json.dumps([ended_at.astimezone(UTC).isoformat(), job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises: CursorError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, job_id = json.loads(raw)
        at = datetime.fromisoformat(when)
        if not isinstance(job_id, str) or at.tzinfo is None:
            raise ValueError("not a cursor")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as e:
        raise CursorError("not a cursor from this server's GET /history") from e
    return at, job_id


@dataclass(frozen=True)
class Page:
    entries: list[records.Entry]
    next_cursor: str | None


async def page(
    store: HistoryStore, filters: Filters, limit: int, cursor: str | None = None
) -> Page:
    """Entries newest first, at most limit, after cursor.

    Raises:
        CursorError: a cursor this server did not make.
        HistoryUnavailableError: the database cannot be reached.
    """
    query = sa.select(history).where(*filters.where())
    if cursor is not None:
        at, job_id = decode_cursor(cursor)
        query = query.where(
            sa.or_(
                history.c.ended_at < at,
                sa.and_(history.c.ended_at == at, history.c.job_id < job_id),
            )
        )
    query = query.order_by(history.c.ended_at.desc(), history.c.job_id.desc()).limit(limit + 1)
    rows = await store.rows(query, "listing the history")
    entries = [records.Entry.of(row) for row in rows[:limit]]
    more = len(rows) > limit
    last = entries[-1] if entries else None
    return Page(entries, encode_cursor(last.ended_at, last.job_id) if more and last else None)


@dataclass(frozen=True)
class Numbered:
    """A page by number: its entries and how many there are in all."""

    entries: list[records.Entry]
    total: int


async def numbered_page(store: HistoryStore, filters: Filters, number: int, size: int) -> Numbered:
    """Page `number` (from 1) of `size` entries, newest first, and the total count.

    Raises:
        HistoryUnavailableError: the database cannot be reached.
    """
    where = filters.where()
    total = await store.scalar(
        sa.select(sa.func.count()).select_from(history).where(*where), "counting the history"
    )
    query = (
        sa.select(history)
        .where(*where)
        .order_by(history.c.ended_at.desc(), history.c.job_id.desc())
        .limit(size)
        .offset((number - 1) * size)
    )
    rows = await store.rows(query, "listing the history")
    return Numbered([records.Entry.of(row) for row in rows], int(total))


class Latency(BaseModel):
    """Nearest-rank percentiles of one stage, ms; null without a job that reached it."""

    p50: int | None
    p95: int | None
    p99: int | None


class Bucket(BaseModel):
    """One time bucket of /stats."""

    start: datetime
    jobs: int
    by_outcome: dict[str, int]
    by_language: dict[str, int]
    queue_wait_ms: Latency
    run_ms: Latency
    total_ms: Latency


class Stats(BaseModel):
    """GET /stats."""

    since: datetime
    until: datetime
    bucket_s: int
    jobs: int
    by_outcome: dict[str, int]
    by_language: dict[str, int]
    queue_wait_ms: Latency
    run_ms: Latency
    total_ms: Latency
    buckets: list[Bucket]


def _percentile_query(period: int, lo: int, hi: int, bucket_s: int | None) -> sa.Select[Any]:
    """Per (bucket, stage): the bin of each percentile, computed in the database from the
    roll-ups (a running sum over the bins in order; nearest rank: the first bin whose
    running sum reaches p% of the jobs). bucket_s None: one bucket, the whole span."""
    lat = history_latency.c
    bucket: sa.ColumnElement[Any] = (
        ((lat.start_s - lo) // bucket_s) if bucket_s is not None else sa.literal(0)
    )
    binned = (
        sa.select(bucket.label("b"), lat.stage, lat.bin, sa.func.sum(lat.jobs).label("n"))
        .where(lat.period_s == period, lat.start_s >= lo, lat.start_s < hi)
        .group_by(bucket, lat.stage, lat.bin)
        .subquery()
    )
    within = [binned.c.b, binned.c.stage]
    running = (
        sa.select(
            binned.c.b,
            binned.c.stage,
            binned.c.bin,
            sa.func.sum(binned.c.n).over(partition_by=within, order_by=binned.c.bin).label("cum"),
            sa.func.sum(binned.c.n).over(partition_by=within).label("total"),
        )
    ).subquery()
    return sa.select(
        running.c.b,
        running.c.stage,
        *(
            sa.func.min(sa.case((running.c.cum * 100 >= running.c.total * p, running.c.bin))).label(
                f"p{p}"
            )
            for p in PERCENTILES
        ),
    ).group_by(running.c.b, running.c.stage)


def _count_query(period: int, lo: int, hi: int, bucket_s: int) -> sa.Select[Any]:
    """Per bucket: jobs per outcome ("o") and per language ("l")."""
    c = history_counts.c
    bucket = (c.start_s - lo) // bucket_s  # start_s >= lo: the floor on both engines
    where = (c.period_s == period, c.start_s >= lo, c.start_s < hi)
    by = [
        sa.select(
            bucket.label("b"),
            sa.literal(kind).label("kind"),
            column.label("name"),
            sa.func.sum(c.jobs).label("jobs"),
        )
        .where(*where)
        .group_by(bucket, column)
        for kind, column in (("o", c.outcome), ("l", c.language))
    ]
    return sa.union_all(*by)  # type: ignore[return-value]


def _latency(row: Mapping[Any, Any]) -> Latency:
    """A row of _percentile_query: each percentile's bin, as the duration it stands for."""
    found = {f"p{p}": row[f"p{p}"] for p in PERCENTILES}
    return Latency(
        **{k: records.bin_value(int(v)) if v is not None else None for k, v in found.items()}
    )


def span(since: datetime, until: datetime, bucket_s: int) -> tuple[int, int]:
    """since and until as epoch seconds rounded outward to whole buckets: a bucket that
    holds any instant from since to until is in (until's fraction of a second included:
    truncated, 12:00:00.5 would end the span at 12:00 and leave out the bucket of a job
    that ended a moment before)."""
    lo = math.floor(since.timestamp() / bucket_s) * bucket_s
    hi = math.ceil(until.timestamp() / bucket_s) * bucket_s
    return lo, max(hi, lo + bucket_s)


async def stats(store: HistoryStore, since: datetime, until: datetime, bucket_s: int) -> Stats:
    """Counts per outcome and per language, and latency percentiles per stage, for each
    bucket of bucket_s seconds (a multiple of 60) and for the whole span. Buckets without
    a job are left out. The database does the sums and finds the percentiles' bins: a
    few hundred rows come back, however many jobs there are.

    Raises:
        HistoryUnavailableError: the database cannot be reached.
    """
    lo, hi = span(since, until, bucket_s)
    period = max(p for p in records.PERIODS if bucket_s % p == 0)
    counts, per_bucket, whole_span = await store.rows_of(
        [
            _count_query(period, lo, hi, bucket_s),
            _percentile_query(period, lo, hi, bucket_s),
            _percentile_query(period, lo, hi, None),
        ],
        "reading the statistics",
    )
    jobs: defaultdict[int, int] = defaultdict(int)
    by: dict[str, defaultdict[int, dict[str, int]]] = {
        "o": defaultdict(dict),
        "l": defaultdict(dict),
    }
    totals: dict[str, defaultdict[str, int]] = {"o": defaultdict(int), "l": defaultdict(int)}
    for row in counts:
        b, n = int(row["b"]), int(row["jobs"])
        by[row["kind"]][b][row["name"]] = n
        totals[row["kind"]][row["name"]] += n
        if row["kind"] == "o":
            jobs[b] += n
    empty = Latency(p50=None, p95=None, p99=None)
    latency: defaultdict[int, dict[str, Latency]] = defaultdict(
        lambda: dict.fromkeys(records.STAGES, empty)
    )
    for row in per_bucket:
        latency[int(row["b"])][records.STAGES[int(row["stage"])]] = _latency(row)
    whole = dict.fromkeys(records.STAGES, empty)
    for row in whole_span:
        whole[records.STAGES[int(row["stage"])]] = _latency(row)
    buckets = [
        Bucket(
            start=datetime.fromtimestamp(lo + b * bucket_s, UTC),
            jobs=n,
            by_outcome=by["o"][b],
            by_language=by["l"][b],
            **latency[b],
        )
        for b, n in sorted(jobs.items())
        if n
    ]
    return Stats(
        since=datetime.fromtimestamp(lo, UTC),
        until=datetime.fromtimestamp(hi, UTC),
        bucket_s=bucket_s,
        jobs=sum(jobs.values()),
        by_outcome=dict(totals["o"]),
        by_language=dict(totals["l"]),
        buckets=buckets,
        **whole,
    )
