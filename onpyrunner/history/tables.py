"""The history's schema, as the latest migration leaves it (migrations/versions/).

`history` has one row per ended job (its facts, never its texts) and, once a job is deleted,
a tombstone in its place: the id, `ended_at` and `deleted_at`, every other column null, so a
late copy of the job (a backlog written after an outage, a redelivery) cannot bring it back.
`history_content` keeps the texts, when the setting says so. `history_counts` and
`history_latency` are roll-ups per minute and per hour, kept in the same transactions as
the rows, so /stats reads a few thousand roll-up rows instead of every job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime: timestamptz on PostgreSQL; on SQLite naive UTC text, which
    sorts in time order (SQLAlchemy writes it with microseconds, always)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

history = sa.Table(
    "history",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("ended_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime()),
    sa.Column("api", sa.String(32)),
    sa.Column("token_id", sa.String(32)),
    sa.Column("language", sa.String(32)),
    sa.Column("status", sa.String(16)),
    sa.Column("outcome", sa.String(32)),
    sa.Column("judge", sa.Boolean()),
    sa.Column("passed", sa.Integer()),
    sa.Column("total", sa.Integer()),
    sa.Column("score", sa.Float()),
    sa.Column("cpu_time_ms", sa.Integer()),
    sa.Column("wall_time_ms", sa.Integer()),
    sa.Column("memory_kb", sa.Integer()),
    sa.Column("exit_code", sa.Integer()),
    sa.Column("signal", sa.Integer()),
    sa.Column("worker", sa.String(200)),
    sa.Column("attempts", sa.Integer()),
    sa.Column("error", sa.Text()),
    sa.Column("limits", sa.JSON()),
    sa.Column("received_at", UTCDateTime()),
    sa.Column("picked_up_at", UTCDateTime()),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("stored_at", UTCDateTime()),
    sa.Column("queue_wait_ms", sa.Integer()),
    sa.Column("run_ms", sa.Integer()),
    sa.Column("total_ms", sa.Integer()),
    sa.Column("source_sha256", sa.String(64)),
    sa.Column("source_bytes", sa.Integer()),
    sa.CheckConstraint(
        "deleted_at IS NOT NULL OR (api IS NOT NULL AND language IS NOT NULL AND status IS "
        "NOT NULL AND received_at IS NOT NULL AND attempts IS NOT NULL)",
        name="ck_history_live_row_complete",
    ),
    sa.Index("ix_history_ended", "ended_at", "job_id"),
    sa.Index("ix_history_api_ended", "api", "ended_at"),
)

history_content = sa.Table(
    "history_content",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("ended_at", UTCDateTime(), nullable=False),
    sa.Column("source_code", sa.Text()),
    sa.Column("stdin", sa.Text()),
    sa.Column("stdout", sa.Text()),
    sa.Column("stderr", sa.Text()),
    sa.Column("compile_output", sa.Text()),
    sa.Column("origin_data", sa.JSON()),
    sa.Index("ix_history_content_ended", "ended_at"),
)

history_counts = sa.Table(
    "history_counts",
    metadata,
    sa.Column("period_s", sa.Integer(), primary_key=True),
    sa.Column("start_s", sa.BigInteger(), primary_key=True),
    sa.Column("language", sa.String(32), primary_key=True),
    sa.Column("outcome", sa.String(32), primary_key=True),
    sa.Column("jobs", sa.Integer(), nullable=False),
)

history_latency = sa.Table(
    "history_latency",
    metadata,
    sa.Column("period_s", sa.Integer(), primary_key=True),
    sa.Column("start_s", sa.BigInteger(), primary_key=True),
    sa.Column("stage", sa.SmallInteger(), primary_key=True),
    sa.Column("bin", sa.SmallInteger(), primary_key=True),
    sa.Column("jobs", sa.Integer(), nullable=False),
)
