"""Fine-tuning jobs, their events and checkpoints.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _job_fk() -> sa.Column[str]:
    return sa.Column(
        "job_id",
        sa.String(40),
        sa.ForeignKey("berth_fine_tuning_jobs.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "berth_fine_tuning_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("training_file", sa.String(40), nullable=False),
        sa.Column("validation_file", sa.String(40)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("hyperparameters", Json, nullable=False),
        sa.Column("lora", Json, nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("suffix", sa.String(64)),
        sa.Column("owner", sa.String(40)),
        sa.Column("job_id", sa.String(40)),
        sa.Column("fine_tuned_model", sa.String(300)),
        sa.Column("trained_tokens", sa.BigInteger),
        sa.Column("error", Json),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("estimated_finish", sa.Double),
        sa.Column("metadata", Json),
    )
    op.create_index("berth_fine_tuning_jobs_owner", "berth_fine_tuning_jobs", ["owner", "id"])
    op.create_table(
        "berth_fine_tuning_events",
        sa.Column("id", sa.String(40), primary_key=True),
        _job_fk(),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", Json),
    )
    op.create_index("berth_fine_tuning_events_job", "berth_fine_tuning_events", ["job_id", "id"])
    op.create_table(
        "berth_fine_tuning_checkpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        _job_fk(),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("fine_tuned_model_checkpoint", sa.String(300), nullable=False),
        sa.UniqueConstraint("job_id", "step", name="berth_fine_tuning_checkpoints_step"),
    )


def downgrade() -> None:
    op.drop_table("berth_fine_tuning_checkpoints")
    op.drop_index("berth_fine_tuning_events_job", "berth_fine_tuning_events")
    op.drop_table("berth_fine_tuning_events")
    op.drop_index("berth_fine_tuning_jobs_owner", "berth_fine_tuning_jobs")
    op.drop_table("berth_fine_tuning_jobs")
