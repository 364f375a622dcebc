"""The history table: one row per ended job, a tombstone once deleted.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
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
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("picked_up_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("stored_at", sa.DateTime(timezone=True)),
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
    )
    op.create_index("ix_history_ended", "history", ["ended_at", "job_id"])
    op.create_index("ix_history_api_ended", "history", ["api", "ended_at"])


def downgrade() -> None:
    op.drop_table("history")
