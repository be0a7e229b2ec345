"""Evals, their runs and the runs' output items.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "berth_evals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("data_source_config", Json, nullable=False),
        sa.Column("testing_criteria", Json, nullable=False),
        sa.Column("metadata", Json),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("owner", sa.String(40)),
    )
    op.create_index("berth_evals_owner", "berth_evals", ["owner"])
    op.create_table(
        "berth_eval_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "eval_id",
            sa.String(40),
            sa.ForeignKey("berth_evals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("data_source", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("job_id", sa.String(40)),
        sa.Column("result_counts", Json),
        sa.Column("per_criteria", Json),
        sa.Column("error", Json),
        sa.Column("metadata", Json),
        sa.Column("owner", sa.String(40)),
    )
    op.create_index("berth_eval_runs_eval", "berth_eval_runs", ["eval_id", "status"])
    op.create_table(
        "berth_eval_items",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column(
            "run_id",
            sa.String(40),
            sa.ForeignKey("berth_eval_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("eval_id", sa.String(40), nullable=False),
        sa.Column("item_index", sa.Integer, nullable=False),
        sa.Column("item", Json, nullable=False),
        sa.Column("sample", Json, nullable=False),
        sa.Column("results", Json, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("run_id", "item_index", name="berth_eval_items_one_per_index"),
    )
    op.create_index("berth_eval_items_run", "berth_eval_items", ["run_id", "status"])


def downgrade() -> None:
    op.drop_index("berth_eval_items_run", "berth_eval_items")
    op.drop_table("berth_eval_items")
    op.drop_index("berth_eval_runs_eval", "berth_eval_runs")
    op.drop_table("berth_eval_runs")
    op.drop_index("berth_evals_owner", "berth_evals")
    op.drop_table("berth_evals")
