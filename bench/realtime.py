"""Realtime benchmark: from the end of the user's speech to the first byte of the reply's audio.

Berth's ``/v1/realtime`` is driven by the official ``openai`` client as a voice client would:
espeak-ng speech (a different sentence each turn) streamed in real time in 20 ms chunks,
then silence until the reply ends. Per turn it records the time from the last chunk of speech
sent to the first ``response.output_audio.delta`` received, and the server's own split by
stage from ``response.done``'s metadata (VAD, speech to text, first token, first speech).
Against it, in the same run, the same models are called one after another in-process, the
way a script glues them: VAD over the turn's audio, speech to text, the chat model's first
token, the first sentence spoken. Server VAD must hear ``--silence-ms`` of silence before a
turn ends; the table shows the latency with and without that wait. The models are the
offline ones: Silero VAD, a tiny Whisper built here (random weights), the echo chat model and
espeak-ng. Prints a table and, as its last line, one JSON object with every figure::

    .venv/bin/python bench/realtime.py             # 20 turns
    .venv/bin/python bench/realtime.py --quick     # 5 turns
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# Run as a script, this file's folder heads sys.path, and bench/queue.py would shadow the
# standard library's ``queue`` for everything imported after it.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(BENCH_DIR.parent))

SENTENCES = [
    "What is the weather like today?",
    "Please tell me a short story.",
    "How far away is the moon?",
    "Turn on the lights in the kitchen.",
    "What time does the train leave?",
    "Can you remind me to call my sister?",
    "Which ships are in the harbour tonight?",
    "How do I make a cup of tea?",
]
RATE = 24_000
CHUNK_MS = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def speech_pcm(text: str) -> bytes:
    import numpy as np

    from berth.media.audio import resample
    from berth.runners.espeak import synthesize

    samples, rate = synthesize(text)
    audio = np.clip(resample(samples, rate, RATE), -1, 1)
    return (audio * 32767).astype("<i2").tobytes()


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    env |= {
        "BERTH_HOME": str(home),
        "BERTH_PORT": str(port),
        "BERTH_REALTIME_TRANSCRIPTION_MODEL": "tiny-whisper",
    }
    log = (home / "serve.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "berth", "serve"], env=env, stdout=log, stderr=log
    )


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("berth serve exited; see its serve.log")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("berth serve was not ready in 120 s")


def preload(url: str) -> None:
    """Load the session's models before the first turn (a cold load is not what is measured)."""
    import httpx

    for alias in ("silero-vad", "tiny-whisper", "echo", "espeak-ng"):
        httpx.post(f"{url}/v1/models/{alias}/load", timeout=300).raise_for_status()


async def one_turn(connection: Any, pcm: bytes) -> tuple[float | None, Any]:
    """Speak ``pcm`` in real time, then silence until the reply is done: the seconds from the
    last chunk of speech to the first audio of the reply, and the ``response.done``."""
    step = RATE * 2 * CHUNK_MS // 1000
    silence = b"\0" * step
    paced = time.monotonic()

    async def send(chunk: bytes) -> None:
        nonlocal paced
        await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        paced += CHUNK_MS / 1000
        await asyncio.sleep(max(0.0, paced - time.monotonic()))

    for start in range(0, len(pcm), step):
        await send(pcm[start : start + step])
    spoken_end = time.monotonic()

    async def feed_silence() -> None:
        while True:
            await send(silence)

    feeder = asyncio.create_task(feed_silence())
    first_audio: float | None = None
    try:
        while True:
            event = await asyncio.wait_for(connection.recv(), 60)
            if event.type == "response.output_audio.delta" and first_audio is None:
                first_audio = time.monotonic() - spoken_end
            elif event.type == "response.done":
                return first_audio, event
            elif event.type == "error":
                raise SystemExit(f"error event: {event.error}")
    finally:
        feeder.cancel()


async def both_turns(
    url: str, turns: int, silence_ms: int, local: InProcess
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Each turn through Berth, then the same turn in-process, so both see the same load."""
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    results: list[dict[str, float]] = []
    sequential: list[dict[str, float]] = []
    async with client.realtime.connect(model="echo") as connection:
        await connection.recv()
        vad = {"type": "server_vad", "silence_duration_ms": silence_ms}
        await connection.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": vad}}}
        )
        while (await connection.recv()).type != "session.updated":
            pass
        for turn in range(turns + 1):  # the first turn warms the models up and is not counted
            sentence = SENTENCES[turn % len(SENTENCES)]
            first_audio, done = await one_turn(connection, speech_pcm(sentence))
            in_process = local.turn(sentence, silence_ms)
            if turn == 0 or first_audio is None:
                continue
            sequential.append(in_process)
            stages = {
                key.removeprefix("berth_"): float(value)
                for key, value in (done.response.metadata or {}).items()
            }
            results.append({**stages, "first_audio_ms": first_audio * 1000})
    return results, sequential


class InProcess:
    """The same models, loaded in this process and called one after another."""

    def __init__(self, home: Path) -> None:
        from berth.models.cache import ModelCache
        from berth.models.catalog import Catalog
        from berth.plugins import discover
        from berth.settings import Settings

        settings = Settings(home=home)
        runner_types = discover().runners
        catalog, cache = Catalog.load(settings, runner_types), ModelCache(settings)
        self.loaded: dict[str, Any] = {}
        for alias in ("silero-vad", "tiny-whisper", "echo", "espeak-ng"):
            spec = catalog.get(alias)
            runner: Any = runner_types[spec.runner].create()
            runner.load(spec, cache.path_for(spec), "cpu")
            self.loaded[alias] = runner

    def turn(self, sentence: str, silence_ms: int) -> dict[str, float]:
        import numpy as np

        from berth.media.audio import resample
        from berth.tasks.generate import ChatMessage, GenerationRequest
        from berth.tasks.speak import SpeechRequest
        from berth.tasks.transcribe import SAMPLE_RATE, TranscriptionRequest
        from berth.tasks.vad import VadRequest

        loaded = self.loaded
        pcm = speech_pcm(sentence)
        samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
        audio = resample(samples, RATE, SAMPLE_RATE)
        audio = np.concatenate([audio, np.zeros(SAMPLE_RATE * silence_ms // 1000, np.float32)])
        t0 = time.monotonic()
        vad = VadRequest(audio, min_silence_ms=silence_ms, pad_ms=0)
        [spans] = loaded["silero-vad"].run([vad])
        t1 = time.monotonic()
        # the audio a session commits: from the prefix padding before the speech to its end
        begin = max(0.0, spans.spans[0].start - 0.3) if spans.spans else 0.0
        end = spans.spans[-1].end if spans.spans else len(audio) / SAMPLE_RATE
        turn_audio = audio[int(begin * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        [text] = loaded["tiny-whisper"].run([TranscriptionRequest(turn_audio)])
        t2 = time.monotonic()
        request = GenerationRequest(messages=(ChatMessage("user", sentence),))
        _, first = next(iter(loaded["echo"].stream([request])))
        t3 = time.monotonic()
        loaded["espeak-ng"].run([SpeechRequest(str(getattr(first, "text", "")) or text.text)])
        t4 = time.monotonic()
        return {
            "first_audio_ms": (t4 - t0) * 1000,
            "vad_ms": (t1 - t0) * 1000,
            "stt_ms": (t2 - t1) * 1000,
            "llm_first_token_ms": (t3 - t2) * 1000,
            "tts_first_audio_ms": (t4 - t3) * 1000,
        }


def summary(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = sorted({key for row in rows for key in row})
    return {
        key: {
            "p50": round(percentile([r[key] for r in rows if key in r], 0.5), 1),
            "p95": round(percentile([r[key] for r in rows if key in r], 0.95), 1),
        }
        for key in keys
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 turns")
    parser.add_argument("--silence-ms", type=int, default=300)
    args = parser.parse_args(argv)
    turns = 5 if args.quick else args.turns
    from tests.tiny.whisper import write_whisper

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="berth-realtime-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        whisper = write_whisper(home / "tiny-whisper")
        (home / "catalog.toml").write_text(
            f'[models.tiny-whisper]\ntask = "transcribe"\nrunner = "transformers-asr"\n'
            f'source = "local:{whisper}"\n'
        )
        from tests.acceptance.live import free_port

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_server(home, port)
        try:
            wait_ready(url, process)
            preload(url)
            local = InProcess(home)
            berth_rows, sequential_rows = asyncio.run(
                both_turns(url, turns, args.silence_ms, local)
            )
        finally:
            process.terminate()
            process.wait(30)
            if process.returncode not in (0, -15):
                print((home / "serve.log").read_text()[-3000:], file=sys.stderr)
    berth, sequential = summary(berth_rows), summary(sequential_rows)
    wait = float(args.silence_ms)
    print(f"end of speech -> first audio byte, {turns} turns, silence_duration_ms={wait:.0f}")
    print(f"{'stage':<22}{'berth p50':>12}{'berth p95':>12}{'in-process p50':>16}{'p95':>10}")
    for key in ("vad_ms", "stt_ms", "llm_first_token_ms", "tts_first_audio_ms", "first_audio_ms"):
        b, s = berth.get(key, {}), sequential.get(key, {})
        print(
            f"{key:<22}{b.get('p50', float('nan')):>12.1f}{b.get('p95', float('nan')):>12.1f}"
            f"{s.get('p50', float('nan')):>16.1f}{s.get('p95', float('nan')):>10.1f}"
        )
    after_wait = [r["first_audio_ms"] - wait for r in berth_rows]
    ratio = percentile(after_wait, 0.5) / sequential["first_audio_ms"]["p50"]
    print(
        f"client-measured first audio p50 {berth['first_audio_ms']['p50']:.0f} ms "
        f"({percentile(after_wait, 0.5):.0f} ms after the {wait:.0f} ms silence wait); "
        f"in-process one after another p50 {sequential['first_audio_ms']['p50']:.0f} ms; "
        f"ratio berth/in-process (after the wait) {ratio:.2f}"
    )
    print(
        json.dumps(
            {
                "benchmark": "realtime",
                "turns": turns,
                "silence_ms": args.silence_ms,
                "berth": berth,
                "in_process": sequential,
                "berth_after_silence_wait_p50_ms": round(percentile(after_wait, 0.5), 1),
                "ratio_after_wait_p50": round(ratio, 3),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_before": load_before,
                "load_after": os.getloadavg(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
