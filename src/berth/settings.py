"""The one settings object: every knob Berth has, read from ``BERTH_*`` environment variables.

Build it once (``Settings()``) at the edge (the CLI, a test) and pass it in; nothing else in
Berth reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Berth's configuration. Every field can be set as ``BERTH_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="BERTH_", extra="ignore", frozen=True)

    home: Path = Field(
        default=Path(".berth"),
        description="Berth's home: the SQLite database, job outputs and the model cache.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy-style URL of the job store: sqlite:///PATH, postgresql://... "
        "or memory://. Defaults to SQLite at HOME/berth.db.",
    )
    concurrency: PositiveInt = Field(default=4, description="Jobs one dispatcher runs at once.")
    kind_concurrency: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description='Per-kind limits on running jobs, as JSON: {"sleep": 2}.',
    )
    lease_seconds: PositiveFloat = Field(
        default=30.0, description="How long a claim holds a job without a heartbeat."
    )
    heartbeat_seconds: PositiveFloat = Field(
        default=5.0, description="How often a dispatcher renews its leases."
    )
    poll_seconds: PositiveFloat = Field(
        default=1.0,
        description="Longest an idle dispatcher waits before it looks for work without a wake-up.",
    )
    reap_seconds: PositiveFloat = Field(
        default=5.0, description="How often a dispatcher returns expired leases to the queue."
    )
    retry_base_seconds: PositiveFloat = Field(
        default=1.0, description="Backoff before the first retry; it doubles on each retry."
    )
    retry_max_seconds: PositiveFloat = Field(default=300.0, description="Longest backoff.")
    max_attempts: PositiveInt = Field(default=3, description="Default attempts for a new job.")
    cancel_grace_seconds: PositiveFloat = Field(
        default=10.0,
        description="How long a cancelled or timed-out job may take to stop before it is "
        "stopped hard.",
    )
    drain_seconds: PositiveFloat = Field(
        default=30.0,
        description="On SIGTERM/SIGINT, how long running jobs may take to finish before they "
        "go back to the queue.",
    )
    host: str = Field(default="127.0.0.1", description="Address `berth serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `berth serve` listens on.")
    max_request_bytes: PositiveInt = Field(
        default=25 * 1024 * 1024, description="Largest request body the API accepts."
    )
    max_file_bytes: PositiveInt = Field(
        default=512 * 1024 * 1024, description="Largest file POST /v1/files accepts."
    )
    max_audio_seconds: PositiveFloat = Field(
        default=2 * 3600, description="Longest audio upload (seconds) the API transcribes."
    )
    realtime_transcription_model: str = Field(
        default="whisper-small",
        description="The speech-to-text model a realtime session uses unless it names one.",
    )
    realtime_speech_model: str = Field(
        default="espeak-ng",
        description="The text-to-speech model a realtime session speaks with unless it names one.",
    )
    realtime_vad_model: str = Field(
        default="silero-vad", description="The VAD model of realtime sessions' server VAD."
    )
    tracing: bool = Field(default=False, description="Export traces with OTLP over HTTP.")
    otlp_endpoint: str = Field(
        default="http://127.0.0.1:4318/v1/traces", description="Where traces are sent."
    )
    data_dirs: list[Path] = Field(
        default_factory=list,
        description="Folders besides HOME whose files job inputs may name, as JSON: "
        '["/srv/data"]. Any other path in a job\'s input is refused.',
    )
    tool_http_allow: list[str] = Field(
        default_factory=list,
        description="URL prefixes the built-in http_fetch tool may fetch, as JSON: "
        '["https://example.org/api/"]. Empty (the default): it fetches nothing.',
    )
    mcp_servers: list[Any] = Field(
        default_factory=list,
        description="MCP servers whose tools agents may call, as JSON: a list of "
        '{"name": "files", "command": "python", "args": ["server.py"], "env": {...}, '
        '"timeout": 30, "allow": ["read"]} (a stdio server Berth starts) or {"name": ..., '
        '"url": "http://host/mcp"} (a Streamable HTTP server). Each tool is registered as '
        "<name>__<tool> at start-up; an entry that is wrong or a server that does not answer "
        "is logged and shown in /readyz and GET /v1/agents/tools, and Berth starts without it.",
    )
    metrics_require_key: bool = Field(
        default=False,
        description="Require an API key with the metrics (or admin) scope on /metrics, from "
        "loopback too. By default /metrics is open.",
    )
    require_keys: bool = Field(
        default=False,
        description="Require an API key on every request. By default requests from loopback "
        "(127.0.0.0/8, ::1) need none and all others do.",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where per-key request counts live: memory:// counts per process; "
        "redis://HOST:6379 shares the counts across hosts (needs `pip install coredis`).",
    )
    load_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long an API request waits for its model to load before it is "
        "answered 503 (with Retry-After) while the load goes on.",
    )
    offline: bool = Field(default=True, description="Forbid network access when loading models.")
    cache_dir: Path | None = Field(
        default=None, description="Where pulled model files live. Defaults to HOME/models."
    )
    catalog_file: Path | None = Field(
        default=None,
        description="The user's model catalog (TOML). Defaults to HOME/catalog.toml if present.",
    )
    hub_endpoint: str | None = Field(
        default=None,
        description="Base URL of the model hub that `berth models pull` downloads from.",
    )
    memory_budget: dict[str, str | int] = Field(
        default_factory=dict,
        description='Bytes each device may hold in loaded models, as JSON: {"cpu": "8GiB", '
        '"cuda:0": "20GiB"}. Unset devices get a share of what they have.',
    )
    log_level: Literal["debug", "info", "warning", "error"] | None = Field(
        default=None,
        description="Log level; by default info for serve, worker and db, warning otherwise.",
    )

    @model_validator(mode="after")
    def _check_timing(self) -> Settings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be shorter than "
                f"lease_seconds ({self.lease_seconds}), or leases expire between heartbeats"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The job store's URL, defaulting to SQLite inside ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'berth.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        """The model cache."""
        return self.cache_dir or self.home / "models"

    @property
    def user_catalog(self) -> Path:
        """The user's catalog file (it need not exist)."""
        return self.catalog_file or self.home / "catalog.toml"

    @property
    def files_dir(self) -> Path:
        """Where uploaded files' bytes live: ``HOME/files/<file id>``."""
        return self.home / "files"

    @property
    def outputs_dir(self) -> Path:
        """Where jobs leave their artifacts: ``HOME/outputs/YYYYMMDD/<job-id>/``."""
        return self.home / "outputs"
