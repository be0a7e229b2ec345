"""Uploaded files.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "berth_files",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("owner", sa.String(40)),
        sa.Column("lines", sa.Integer),
    )
    op.create_index("berth_files_owner", "berth_files", ["owner", "purpose"])


def downgrade() -> None:
    op.drop_index("berth_files_owner", "berth_files")
    op.drop_table("berth_files")
