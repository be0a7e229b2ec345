"""Jobs, their events, workers and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
QUEUED = sa.text("status = 'queued'")
RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "berth_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("input", Json),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
        sa.Column("timeout", sa.Double),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("run_after", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("worker_id", sa.String(100)),
        sa.Column("lease_expires_at", sa.Double),
        sa.Column("progress", sa.Double),
        sa.Column("progress_message", sa.Text),
        sa.Column("result", Json),
        sa.Column("error", Json),
        sa.Column("artifacts", Json),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_event", sa.Integer, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(40)),
        sa.Column("trace_parent", sa.String(64)),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="berth_jobs_status_valid",
        ),
    )
    op.create_index(
        "berth_jobs_queue",
        "berth_jobs",
        ["priority", "id"],
        sqlite_where=QUEUED,
        postgresql_where=QUEUED,
    )
    op.create_index(
        "berth_jobs_running",
        "berth_jobs",
        ["worker_id", "lease_expires_at"],
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_index("berth_jobs_status_kind", "berth_jobs", ["status", "kind"])
    op.create_index("berth_jobs_owner", "berth_jobs", ["owner", "status"])
    op.create_table(
        "berth_job_events",
        sa.Column(
            "job_id",
            sa.String(40),
            sa.ForeignKey("berth_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("data", Json),
        sa.PrimaryKeyConstraint("job_id", "seq"),
    )
    op.create_table(
        "berth_api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("models", Json),
        sa.Column("rate_per_minute", sa.Integer),
        sa.Column("max_jobs", sa.Integer),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_used_at", sa.Double),
        sa.Column("revoked_at", sa.Double),
    )
    op.create_table(
        "berth_workers",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("heartbeat_at", sa.Double, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("running", sa.Integer, nullable=False, server_default="0"),
        sa.Column("models", Json),
    )


def downgrade() -> None:
    op.drop_table("berth_workers")
    op.drop_table("berth_api_keys")
    op.drop_table("berth_job_events")
    op.drop_table("berth_jobs")
