"""Agent runs' steps.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "berth_agent_steps",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "job_id",
            sa.String(40),
            sa.ForeignKey("berth_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("data", Json),
    )
    op.create_index("berth_agent_steps_job", "berth_agent_steps", ["job_id", "seq"])


def downgrade() -> None:
    op.drop_index("berth_agent_steps_job", "berth_agent_steps")
    op.drop_table("berth_agent_steps")
