"""Every Prometheus collector Berth exports at ``/metrics``, in one place.

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` and ``_bytes`` units).
Labels stay low-cardinality: routes are templates (``/v1/jobs/{job_id}``), never raw paths.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

http_requests = Counter(
    "berth_http_requests_total",
    "HTTP requests answered, by route template, method, status and model.",
    ["route", "method", "status", "model"],
)
http_latency = Histogram(
    "berth_http_request_seconds",
    "Time to answer an HTTP request (to the first byte of a stream's end), by route and model.",
    ["route", "model"],
    buckets=LATENCY_BUCKETS,
)
jobs = Gauge("berth_jobs", "Jobs in the store, by status and kind.", ["status", "kind"])
job_duration = Histogram(
    "berth_job_duration_seconds",
    "Time one attempt of a job ran, by kind and outcome.",
    ["kind", "outcome"],
    buckets=JOB_BUCKETS,
)
job_queue_wait = Histogram(
    "berth_job_queue_wait_seconds",
    "Time from submit to the start of the first attempt, by kind.",
    ["kind"],
    buckets=JOB_BUCKETS,
)
batch_size = Histogram(
    "berth_batch_size", "Inputs per batch a model ran, by model.", ["model"], buckets=BATCH_BUCKETS
)
model_loads = Counter(
    "berth_model_loads_total", "Model loads, by model and outcome.", ["model", "outcome"]
)
model_load_seconds = Histogram(
    "berth_model_load_seconds",
    "Time to load a model, by model.",
    ["model"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
model_evictions = Counter(
    "berth_model_evictions_total",
    "Models unloaded, by model and reason (budget, keep_alive, request, crash).",
    ["model", "reason"],
)
model_memory = Gauge(
    "berth_model_memory_bytes",
    "Memory a loaded model holds, by model and device.",
    ["model", "device"],
)
device_budget = Gauge(
    "berth_device_memory_budget_bytes", "The memory budget of a device.", ["device"]
)
realtime_sessions = Gauge("berth_realtime_sessions", "Realtime sessions open now.")
realtime_sessions_opened = Counter(
    "berth_realtime_sessions_opened_total", "Realtime sessions opened since the start."
)
realtime_responses = Counter(
    "berth_realtime_responses_total",
    "Realtime responses, by how they ended (completed, cancelled, failed).",
    ["status"],
)
agent_sessions = Gauge("berth_agent_sessions_active", "Agent runs active in this process (worker).")
agent_session_slots = Gauge(
    "berth_agent_session_slots", "Agent sessions this process runs at once (the agent pool's size)."
)
agent_sessions_by_worker = Gauge(
    "berth_agent_sessions_running",
    "Agent runs running, by worker (from the job store).",
    ["worker"],
)
tool_breaker = Gauge(
    "berth_tool_breaker_state",
    "Each tool's circuit breaker: 0 closed, 1 half-open, 2 open.",
    ["tool"],
)
tool_calls = Counter(
    "berth_tool_calls_total", "Tool calls, by tool and outcome.", ["tool", "outcome"]
)
