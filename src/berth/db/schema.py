"""The job store's tables, in SQLAlchemy Core. Migrations under ``migrations/`` create them.

Times are Unix seconds (double precision) so that SQLite and PostgreSQL compare them alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")

jobs = sa.Table(
    "berth_jobs",
    metadata,
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
    sa.Index(
        "berth_jobs_queue",
        "priority",
        "id",
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    ),
    sa.Index(
        "berth_jobs_running",
        "worker_id",
        "lease_expires_at",
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
    sa.Index("berth_jobs_status_kind", "status", "kind"),
    sa.Index("berth_jobs_owner", "owner", "status"),
)

job_events = sa.Table(
    "berth_job_events",
    metadata,
    sa.Column(
        "job_id", sa.String(40), sa.ForeignKey("berth_jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("data", Json),
    sa.PrimaryKeyConstraint("job_id", "seq"),
)

api_keys = sa.Table(
    "berth_api_keys",
    metadata,
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

workers = sa.Table(
    "berth_workers",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("running", sa.Integer, nullable=False, server_default="0"),
    sa.Column("models", Json),
)

files = sa.Table(
    "berth_files",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("owner", sa.String(40)),
    sa.Column("lines", sa.Integer),
    sa.Index("berth_files_owner", "owner", "purpose"),
)

evals = sa.Table(
    "berth_evals",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("data_source_config", Json, nullable=False),
    sa.Column("testing_criteria", Json, nullable=False),
    sa.Column("metadata", Json),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("owner", sa.String(40)),
    sa.Index("berth_evals_owner", "owner"),
)

eval_runs = sa.Table(
    "berth_eval_runs",
    metadata,
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
    sa.Column("per_model_usage", Json),
    sa.Column("error", Json),
    sa.Column("metadata", Json),
    sa.Column("owner", sa.String(40)),
    sa.Index("berth_eval_runs_eval", "eval_id", "status"),
)

eval_items = sa.Table(
    "berth_eval_items",
    metadata,
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
    sa.Index("berth_eval_items_run", "run_id", "status"),
)
vector_stores = sa.Table(
    "berth_vector_stores",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(256)),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(40)),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("expires_after", Json),
    sa.Column("expires_at", sa.Double),
    sa.Column("last_active_at", sa.Double, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("berth_vector_stores_owner", "owner"),
)

vector_store_files = sa.Table(
    "berth_vector_store_files",
    metadata,
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
    sa.Index("berth_vector_store_files_batch", "store_id", "batch_id"),
)

vector_file_batches = sa.Table(
    "berth_vector_file_batches",
    metadata,
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

vector_chunks = sa.Table(
    "berth_vector_chunks",
    metadata,
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
"""Each chunk's text; its vector is in ``berth_vec_<dimensions>`` (made by the index adapter
on first use: a sqlite-vec virtual table, or a pgvector table with an HNSW index)."""
fine_tuning_jobs = sa.Table(
    "berth_fine_tuning_jobs",
    metadata,
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
    sa.Index("berth_fine_tuning_jobs_owner", "owner", "id"),
)

fine_tuning_events = sa.Table(
    "berth_fine_tuning_events",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "job_id",
        sa.String(40),
        sa.ForeignKey("berth_fine_tuning_jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("level", sa.String(8), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", Json),
    sa.Index("berth_fine_tuning_events_job", "job_id", "id"),
)

fine_tuning_checkpoints = sa.Table(
    "berth_fine_tuning_checkpoints",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "job_id",
        sa.String(40),
        sa.ForeignKey("berth_fine_tuning_jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("metrics", Json, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("fine_tuned_model_checkpoint", sa.String(300), nullable=False),
    sa.UniqueConstraint("job_id", "step", name="berth_fine_tuning_checkpoints_step"),
)

agent_steps = sa.Table(
    "berth_agent_steps",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "job_id", sa.String(40), sa.ForeignKey("berth_jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("data", Json),
    sa.Index("berth_agent_steps_job", "job_id", "seq"),
)
