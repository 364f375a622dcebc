"""Kept texts in their own table (their own retention), and the roll-ups /stats reads,
built from the rows already there.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from alembic import op

# The roll-up keys as this version defines them (records.py); a later change to the bins
# comes with a migration of its own that rebuilds the roll-ups.
from onpyrunner.history.records import STAGES, rollup_keys
from onpyrunner.history.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BACKFILL_CHUNK = 5000


def upgrade() -> None:
    op.create_table(
        "history_content",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_code", sa.Text()),
        sa.Column("stdin", sa.Text()),
        sa.Column("stdout", sa.Text()),
        sa.Column("stderr", sa.Text()),
        sa.Column("compile_output", sa.Text()),
        sa.Column("origin_data", sa.JSON()),
    )
    op.create_index("ix_history_content_ended", "history_content", ["ended_at"])
    counts = op.create_table(
        "history_counts",
        sa.Column("period_s", sa.Integer(), primary_key=True),
        sa.Column("start_s", sa.BigInteger(), primary_key=True),
        sa.Column("language", sa.String(32), primary_key=True),
        sa.Column("outcome", sa.String(32), primary_key=True),
        sa.Column("jobs", sa.Integer(), nullable=False),
    )
    latency = op.create_table(
        "history_latency",
        sa.Column("period_s", sa.Integer(), primary_key=True),
        sa.Column("start_s", sa.BigInteger(), primary_key=True),
        sa.Column("stage", sa.SmallInteger(), primary_key=True),
        sa.Column("bin", sa.SmallInteger(), primary_key=True),
        sa.Column("jobs", sa.Integer(), nullable=False),
    )
    _backfill(counts, latency)


def _backfill(counts: sa.Table, latency: sa.Table) -> None:
    """The roll-ups of the live rows the previous version kept."""
    history = sa.table(
        "history",
        sa.column("deleted_at"),
        sa.column("ended_at", UTCDateTime()),
        sa.column("language"),
        sa.column("status"),
        sa.column("outcome"),
        *(sa.column(stage) for stage in STAGES),
    )
    bind = op.get_bind()
    query = sa.select(*(c for c in history.c if c.name != "deleted_at")).where(
        history.c.deleted_at.is_(None)
    )
    all_counts: Counter[tuple[int, int, str, str]] = Counter()
    all_latency: Counter[tuple[int, int, int, int]] = Counter()
    for chunk in bind.execute(query).mappings().partitions(_BACKFILL_CHUNK):
        moved_counts, moved_latency = rollup_keys(chunk)
        all_counts.update(moved_counts)
        all_latency.update(moved_latency)
    if all_counts:
        op.bulk_insert(
            counts,
            [
                {"period_s": p, "start_s": s, "language": lang, "outcome": o, "jobs": n}
                for (p, s, lang, o), n in sorted(all_counts.items())
            ],
        )
    if all_latency:
        op.bulk_insert(
            latency,
            [
                {"period_s": p, "start_s": s, "stage": st, "bin": b, "jobs": n}
                for (p, s, st, b), n in sorted(all_latency.items())
            ],
        )


def downgrade() -> None:
    op.drop_table("history_latency")
    op.drop_table("history_counts")
    op.drop_table("history_content")
