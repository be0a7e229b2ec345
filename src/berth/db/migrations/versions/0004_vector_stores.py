"""Vector stores, their files and batches, and their chunks' texts.

The vectors themselves go in ``berth_vec_<dimensions>`` tables that the index adapter makes
on first use (their width is the embedding model's), so this migration needs no extension.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "berth_vector_stores",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(256)),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(40)),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("expires_after", Json),
        sa.Column("expires_at", sa.Double),
        sa.Column("last_active_at", sa.Double, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("berth_vector_stores_owner", "berth_vector_stores", ["owner"])
    op.create_table(
        "berth_vector_store_files",
        sa.Column(
            "store_id",
            sa.String(40),
            sa.ForeignKey("berth_vector_stores.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("file_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("chunking", Json, nullable=False),
        sa.Column("attributes", Json, nullable=False),
        sa.Column("last_error", Json),
        sa.Column("usage_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("batch_id", sa.String(40)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("job_id", sa.String(40)),
        sa.PrimaryKeyConstraint("store_id", "file_id"),
    )
    op.create_index(
        "berth_vector_store_files_batch", "berth_vector_store_files", ["store_id", "batch_id"]
    )
    op.create_table(
        "berth_vector_file_batches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "store_id",
            sa.String(40),
            sa.ForeignKey("berth_vector_stores.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "berth_vector_chunks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("store_id", sa.String(40), nullable=False),
        sa.Column("file_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.UniqueConstraint("store_id", "file_id", "seq", name="berth_vector_chunks_place"),
    )


def downgrade() -> None:
    op.drop_table("berth_vector_chunks")
    op.drop_table("berth_vector_file_batches")
    op.drop_index("berth_vector_store_files_batch", "berth_vector_store_files")
    op.drop_table("berth_vector_store_files")
    op.drop_index("berth_vector_stores_owner", "berth_vector_stores")
    op.drop_table("berth_vector_stores")
