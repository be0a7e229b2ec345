"""Eval runs record the tokens each model spent (per_model_usage).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("berth_eval_runs") as batch:
        batch.add_column(sa.Column("per_model_usage", Json))


def downgrade() -> None:
    with op.batch_alter_table("berth_eval_runs") as batch:
        batch.drop_column("per_model_usage")
