"""The history database: migrated at start-up, written in batches, read by the queries.

Writes are idempotent by job id (`INSERT ... ON CONFLICT DO NOTHING`): a job delivered to
the writer twice is one row, and only a row really inserted moves the roll-ups. A delete
turns the row into a tombstone in the same table, so the primary key orders it against
any insert of the same job, on both engines: an insert that comes later (a backlog after
an outage) finds the tombstone and does nothing. Every failure to reach the database is a
HistoryUnavailableError; the writer retries, the API answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from onpyrunner.errors import ConfigError, HistoryUnavailableError
from onpyrunner.history import records
from onpyrunner.history.tables import (
    history,
    history_content,
    history_counts,
    history_latency,
)
from onpyrunner.models import Job

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock held while migrating, so API processes starting together
#: migrate one after the other ("OnPyRunner history" as a number).
_MIGRATION_LOCK = 0x4F4E5059_48495354 & 0x7FFFFFFFFFFFFFFF
#: Seconds to connect, and for one statement, before the database counts as unavailable.
CONNECT_TIMEOUT_S = 5.0
STATEMENT_TIMEOUT_S = 30.0

#: Columns that a tombstone keeps; every other column of the row is set to null.
_KEPT_BY_TOMBSTONE = frozenset({"job_id", "ended_at", "deleted_at"})
_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, OSError, TimeoutError)


def utcnow() -> datetime:
    return datetime.now(UTC)


def head_revision() -> str:
    """The newest schema version this code knows."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(_alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _unavailable_on_failure(what: str) -> Iterator[None]:
    """A failure to reach the database, as HistoryUnavailableError."""
    try:
        yield
    except _UNAVAILABLE as e:
        raise HistoryUnavailableError(f"{what}: {e}") from e
    except exc.DBAPIError as e:
        if e.connection_invalidated or _lost_server(e):
            raise HistoryUnavailableError(f"{what}: {e}") from e
        raise


def _lost_server(e: exc.DBAPIError) -> bool:
    """PostgreSQL's own word for a server that went away: SQLSTATE class 08 (connection
    exception) or 57P (operator intervention: shut down, crashed, cannot connect now)."""
    state = getattr(e.orig, "sqlstate", None) or getattr(e.orig, "pgcode", None)
    return isinstance(state, str) and (state.startswith("08") or state.startswith("57P"))


class HistoryStore:
    """The history database behind one SQLAlchemy async engine."""

    def __init__(self, url: str, *, keep_content_bytes: int | None = None) -> None:
        """url: a SQLAlchemy URL with an async driver (postgresql+asyncpg, sqlite+aiosqlite).
        keep_content_bytes: keep each job's texts, cut to this size; None keeps none.

        Raises:
            ConfigError: a URL of another kind of database.
        """
        try:
            parsed = make_url(url)
        except exc.ArgumentError as e:
            raise ConfigError(f"database_url: {e}") from e
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("postgresql", "sqlite"):
            raise ConfigError(
                f"database_url: {self.dialect!r} is not supported; use postgresql:// or sqlite://"
            )
        self.keep_content_bytes = keep_content_bytes
        self.sqlite_path: Path | None = None
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                self.sqlite_path = Path(parsed.database)
            options["connect_args"] = {"timeout": STATEMENT_TIMEOUT_S}
        else:
            options["connect_args"] = {
                "timeout": CONNECT_TIMEOUT_S,
                "command_timeout": STATEMENT_TIMEOUT_S,
            }
            options["pool_size"] = 5
            options["max_overflow"] = 5
        self.engine: AsyncEngine = create_async_engine(parsed, **options)
        if self.dialect == "sqlite":
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self.description = parsed.render_as_string(hide_password=True)

    async def close(self) -> None:
        await self.engine.dispose()

    # --- schema ------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Bring the schema to this code's version (once; later calls return at once).

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            await self.migrate(head_revision())
            self._ready = True

    async def migrate(self, revision: str) -> None:
        """Upgrade the schema to revision, one process at a time.

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        with self._file_lock(), _unavailable_on_failure("migrating the history database"):
            async with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
                before = await conn.run_sync(_current)
                await conn.run_sync(_upgrade, revision)
                after = await conn.run_sync(_current)
        if before != after:
            log.warning("history database %s: schema %s -> %s", self.description, before, after)

    async def revision(self) -> str | None:
        """The schema version the database has."""
        with _unavailable_on_failure("reading the history schema version"):
            async with self.engine.connect() as conn:
                return await conn.run_sync(_current)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """SQLite: an exclusive lock on a file beside the database while migrating."""
        if self.sqlite_path is None:
            yield
            return
        with open(self.sqlite_path.with_name(self.sqlite_path.name + ".migrate-lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextlib.asynccontextmanager
    async def _begin(self, what: str) -> AsyncIterator[AsyncConnection]:
        await self.prepare()
        with _unavailable_on_failure(what):
            async with self.engine.begin() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _connect(self, what: str) -> AsyncIterator[AsyncConnection]:
        await self.prepare()
        with _unavailable_on_failure(what):
            async with self.engine.connect() as conn:
                yield conn

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # --- writing -------------------------------------------------------------------------
    async def write(self, jobs: Sequence[Job], retention: timedelta | None = None) -> int:
        """Write the rows of ended jobs in one transaction; the number really inserted (a
        job already there, or deleted, is not written again). Jobs that ended before the
        retention horizon are skipped.

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        horizon = utcnow() - retention if retention is not None else None
        rows = {}
        for job in jobs:
            row = records.row_of(job)
            if horizon is None or row["ended_at"] >= horizon:
                rows[job.id] = row  # a job twice in one batch is one row
        contents = []
        if self.keep_content_bytes is not None:
            for job in jobs:
                content = records.content_of(job, self.keep_content_bytes)
                if content is not None and job.id in rows:
                    contents.append(content)
        return await self.insert_rows(list(rows.values()), contents)

    async def insert_rows(
        self, rows: Sequence[Mapping[Any, Any]], contents: Sequence[Mapping[Any, Any]] = ()
    ) -> int:
        """Insert history rows (records.row_of) and their texts in one transaction, and move
        the roll-ups by the rows really inserted; their number. The bulk path of write (and
        of the benchmark's million rows).

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        if not rows:
            return 0
        by_id = {row["job_id"]: row for row in rows}
        async with self._begin("writing history rows") as conn:
            stmt = (
                self._insert(history)
                .on_conflict_do_nothing(index_elements=["job_id"])
                .returning(history.c.job_id)
            )
            inserted = set((await conn.execute(stmt, list(by_id.values()))).scalars())
            if not inserted:
                return 0
            await self._move_rollups(conn, [by_id[j] for j in sorted(inserted)], +1)
            kept = {c["job_id"]: c for c in contents if c["job_id"] in inserted}
            if kept:
                await conn.execute(
                    self._insert(history_content).on_conflict_do_nothing(index_elements=["job_id"]),
                    list(kept.values()),
                )
        return len(inserted)

    async def _move_rollups(
        self, conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], sign: int
    ) -> None:
        """Add (+1) or take away (-1) rows from the roll-ups. Keys in sorted order: two
        writers lock the same roll-up rows in the same order, so they never deadlock."""
        counts, latency = records.rollup_keys(rows)
        for table, moved, names in (
            (history_counts, counts, ("period_s", "start_s", "language", "outcome")),
            (history_latency, latency, ("period_s", "start_s", "stage", "bin")),
        ):
            if not moved:
                continue
            params = [
                {**dict(zip(names, key, strict=True)), "jobs": sign * n}
                for key, n in sorted(moved.items())
            ]
            insert = self._insert(table)
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=list(names), set_={"jobs": table.c.jobs + insert.excluded.jobs}
                ),
                params,
            )
            if sign < 0:
                await conn.execute(sa.delete(table).where(table.c.jobs <= 0))

    async def delete(self, job_id: str) -> bool:
        """Remove a job from the history: its row becomes a tombstone, its texts go, the
        roll-ups no longer count it. True when there was a live row.

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        now = utcnow()
        async with self._begin("deleting a history row") as conn:
            # A tombstone now if there is no row yet; if a writer is inserting this very
            # job, this waits for it (the primary key), then finds its row below.
            await conn.execute(
                self._insert(history)
                .values(job_id=job_id, ended_at=now, deleted_at=now)
                .on_conflict_do_nothing(index_elements=["job_id"])
            )
            query = sa.select(history).where(history.c.job_id == job_id)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            row = (await conn.execute(query)).mappings().one()
            await conn.execute(sa.delete(history_content).where(history_content.c.job_id == job_id))
            if row["deleted_at"] is not None:
                return False
            cleared = {c.name: None for c in history.c if c.name not in _KEPT_BY_TOMBSTONE}
            await conn.execute(
                sa.update(history)
                .where(history.c.job_id == job_id)
                .values(deleted_at=now, **cleared)
            )
            await self._move_rollups(conn, [row], -1)
        return True

    async def purge(self, retention: timedelta, content_retention: timedelta, batch: int) -> int:
        """One round of the retention purge: at most `batch` rows (and tombstones) that
        ended before the retention horizon, and at most `batch` kept texts older than
        theirs. The number of rows and texts removed (less than 2 x batch: done for now).

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        now = utcnow()
        removed = 0
        async with self._begin("purging old history rows") as conn:
            ids = sa.select(history.c.job_id).where(history.c.ended_at < now - retention)
            ids = ids.order_by(history.c.ended_at).limit(batch)
            gone = (
                (
                    await conn.execute(
                        sa.delete(history)
                        .where(history.c.job_id.in_(ids.scalar_subquery()))
                        .returning(*history.c)
                    )
                )
                .mappings()
                .all()
            )
            live = [row for row in gone if row["deleted_at"] is None]
            if live:
                await self._move_rollups(conn, live, -1)
            removed += len(gone)
        async with self._begin("purging old history texts") as conn:
            old = sa.select(history_content.c.job_id).where(
                history_content.c.ended_at < now - content_retention
            )
            result = await conn.execute(
                sa.delete(history_content).where(
                    history_content.c.job_id.in_(old.limit(batch).scalar_subquery())
                )
            )
            removed += result.rowcount or 0
        return removed

    # --- reading -------------------------------------------------------------------------
    async def get(self, job_id: str) -> records.Entry | None:
        """The job's entry with its texts (when kept), or None when the history has none.

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        async with self._connect("reading the history") as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(history).where(
                            history.c.job_id == job_id, history.c.deleted_at.is_(None)
                        )
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            content = (
                (
                    await conn.execute(
                        sa.select(history_content).where(history_content.c.job_id == job_id)
                    )
                )
                .mappings()
                .first()
            )
        return records.Entry.of(row, content)

    async def contents(self, job_ids: Sequence[str]) -> dict[str, Mapping[Any, Any]]:
        """The kept texts (and what a compatible API kept, origin_data) of these jobs, by
        id; jobs without any are left out.

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        if not job_ids:
            return {}
        async with self._connect("reading the history") as conn:
            found = await conn.execute(
                sa.select(history_content).where(history_content.c.job_id.in_(list(job_ids)))
            )
            return {row["job_id"]: row for row in found.mappings()}

    async def rows(self, query: sa.Select[Any], what: str) -> list[Mapping[Any, Any]]:
        """The rows of a query on the history's tables (queries.py builds them).

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        return (await self.rows_of([query], what))[0]

    async def rows_of(
        self, queries: Sequence[sa.Select[Any]], what: str
    ) -> list[list[Mapping[Any, Any]]]:
        """The rows of several queries, read on one connection.

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        async with self._connect(what) as conn:
            return [list((await conn.execute(q)).mappings().all()) for q in queries]

    async def scalar(self, query: sa.Select[Any], what: str) -> Any:
        """The one value of a query.

        Raises:
            HistoryUnavailableError: the database cannot be reached.
        """
        async with self._connect(what) as conn:
            return (await conn.execute(query)).scalar_one()

    async def counts(self) -> Counter[str]:
        """Rows per table (tests and benchmarks)."""
        found: Counter[str] = Counter()
        async with self._connect("counting history rows") as conn:
            for table in (history, history_content, history_counts, history_latency):
                found[table.name] = (
                    await conn.execute(sa.select(sa.func.count()).select_from(table))
                ).scalar_one()
        return found


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    """WAL: readers never wait for the writer, and several processes may share the file;
    a busy database is waited for, not an error."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(STATEMENT_TIMEOUT_S * 1000)}")
    cursor.close()
