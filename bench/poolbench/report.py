"""The printed table, the targets, and the JSON summary."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from bench.poolbench.pooled import CallerRow, ColdLoad, Saturated

THROUGHPUT_TARGET = 0.95
"""Pool throughput with 32-64 callers over direct throughput at the best batch size."""
RSS_TARGET = 1.15
"""Model process RSS over the RSS of a plain process holding the same model."""
MIB = 2**20


def table(direct: dict[int, float], best: int, rows: list[CallerRow]) -> list[str]:
    top = direct[best]
    lines = [
        f"{'path':<24} {'sentences/s':>11} {'x direct':>9} {'p50 ms':>8} {'p99 ms':>8}",
        "-" * 64,
    ]
    for size, rate in direct.items():
        mark = "  <- best" if size == best else ""
        lines.append(f"{f'direct, batch {size}':<24} {rate:>11.1f} {rate / top:>9.2f}{mark}")
    for row in rows:
        name = f"pool, {row.callers} caller{'s' if row.callers > 1 else ''}"
        lines.append(
            f"{name:<24} {row.sentences_per_s:>11.1f} {row.ratio:>9.2f} "
            f"{row.p50_ms:>8.1f} {row.p99_ms:>8.1f}"
        )
    lines += [
        f"pool: one sentence per call, max_batch_size {best} (the best direct batch), process "
        "transport;",
        f"x direct: median of pool / direct (batch {best}) over windows run in turn; latency "
        "per call",
    ]
    return lines


def saturated_table(rows: list[Saturated], cold: ColdLoad) -> list[str]:
    """Online latency while a job keeps the model busy, the job's lane against FIFO."""
    lines = [
        "",
        f"{'job calls in the':<24} {'online p50':>10} {'online p99':>10} {'job sent/s':>10}",
        "-" * 58,
    ]
    for row in rows:
        lines.append(
            f"{row.lane + ' lane':<24} {row.online_p50_ms:>10.1f} {row.online_p99_ms:>10.1f} "
            f"{row.job_sentences_per_s:>10.1f}"
        )
    lines.append(
        f"online: {rows[0].calls} one-sentence calls, 50 ms apart, while two job callers send "
        f"256-text calls back to back; an idle model answers in {cold.warm_call_ms:.1f} ms (p50)"
    )
    return lines


def targets(
    direct: dict[int, float], best: int, rows: list[CallerRow], cold: ColdLoad, direct_rss: int
) -> tuple[list[str], dict[str, Any]]:
    ratios = {row.callers: row.ratio for row in rows if row.callers >= 32}
    rss_ratio = cold.process_rss / direct_rss
    met = {
        "throughput": all(r >= THROUGHPUT_TARGET for r in ratios.values()),
        "memory": rss_ratio <= RSS_TARGET,
    }
    shown = ", ".join(f"{n} callers {r:.2f}" for n, r in ratios.items())
    lines = [
        f"target: pool >= {THROUGHPUT_TARGET} x direct at 32-64 callers: {shown} -> "
        f"{'met' if met['throughput'] else 'MISSED'}",
        f"target: model process RSS <= {RSS_TARGET} x direct process RSS: "
        f"{cold.process_rss / MIB:.0f} MiB / {direct_rss / MIB:.0f} MiB = {rss_ratio:.2f} -> "
        f"{'met' if met['memory'] else 'MISSED'}",
        f"cold load {cold.load_s:.2f} s (process start, imports, weights), first call "
        f"{cold.first_call_ms:.1f} ms, warm call p50 {cold.warm_call_ms:.1f} ms",
    ]
    return lines, {"ratios": ratios, "rss_ratio": rss_ratio, "met": met}


def summary(**parts: Any) -> dict[str, Any]:
    """Everything as plain data for the JSON line."""
    return {key: _plain(value) for key, value in parts.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value
