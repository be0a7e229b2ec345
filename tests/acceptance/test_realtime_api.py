"""``/v1/realtime`` driven by the official ``openai`` client's ``realtime.connect`` against
``berth serve``: real speech (espeak-ng) into server VAD (Silero), a tiny Whisper, the echo
chat model and espeak-ng speaking the reply; barge-in; G.711; keys on the upgrade."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from websockets.exceptions import InvalidStatus

from berth.media.audio import resample
from berth.runners.espeak import synthesize
from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.whisper import write_whisper

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
RATE = 24_000
BERTH = (sys.executable, "-m", "berth")
LONG_REPLY = " ".join(f"Sentence number {n} is here." for n in range(1, 13))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("realtime") / "home"
    home.mkdir()
    whisper = write_whisper(home / "tiny-whisper")
    (home / "catalog.toml").write_text(
        f'[models.tiny-whisper]\ntask = "transcribe"\nrunner = "transformers-asr"\n'
        f'source = "local:{whisper}"\n\n'
        '[models.slow-echo]\ntask = "chat"\nrunner = "echo"\nsource = "none:"\n'
        "[models.slow-echo.options]\nrunner_options = { chunk_delay_ms = 60 }\n"
    )
    with live_server(home, BERTH_REALTIME_TRANSCRIPTION_MODEL="tiny-whisper") as live:
        yield live


@pytest.fixture(scope="module")
def secret(server: LiveServer) -> str:
    return create_key(server, "voice", "infer")


def client(server: LiveServer, secret: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0)


def speech(text: str, seconds_after: float = 1.2) -> bytes:
    """``text`` spoken by espeak-ng, as pcm16 at 24 kHz with silence before and after."""
    samples, rate = synthesize(text)
    audio = resample(samples, rate, RATE)
    padded = np.concatenate([np.zeros(int(0.4 * RATE)), audio, np.zeros(int(seconds_after * RATE))])
    return (np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes()


async def append(connection: Any, pcm: bytes, chunk_ms: int = 100) -> None:
    step = RATE * 2 * chunk_ms // 1000
    for start in range(0, len(pcm), step):
        await connection.input_audio_buffer.append(
            audio=base64.b64encode(pcm[start : start + step]).decode()
        )


async def events_until(connection: Any, kind: str, count: int = 1) -> list[Any]:
    seen: list[Any] = []
    async for event in _events(connection):
        seen.append(event)
        if event.type == "error":
            raise AssertionError(f"error event: {event.error}")
        if sum(1 for e in seen if e.type == kind) >= count:
            return seen
    raise AssertionError(f"the connection closed before {kind}")


async def _events(connection: Any) -> AsyncIterator[Any]:
    while True:
        yield await connection.recv()


def of(events: list[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


GA_SESSION: dict[str, Any] = {
    "type": "realtime",
    "instructions": "Answer briefly.",
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": RATE},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 600},
        },
        "output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "alloy"},
    },
}


async def test_a_spoken_turn_through_the_whole_pipeline(server: LiveServer, secret: str) -> None:
    async with client(server, secret).realtime.connect(model="echo") as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        await connection.session.update(session=GA_SESSION)  # type: ignore[arg-type]
        updated = (await events_until(connection, "session.updated"))[-1]
        assert updated.session.instructions == "Answer briefly."
        await append(connection, speech("Hello Berth, what is the weather like today?"))
        seen = await events_until(connection, "response.done")
        kinds = [e.type for e in seen]
        for kind in (
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.input_audio_transcription.completed",
            "response.created",
        ):
            assert kind in kinds, kinds
        started = of(seen, "input_audio_buffer.speech_started")[0]
        stopped = of(seen, "input_audio_buffer.speech_stopped")[0]
        assert 300 <= started.audio_start_ms < stopped.audio_end_ms
        [done] = of(seen, "response.done")
        assert done.response.status == "completed"
        assert done.response.usage.total_tokens >= 1
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/readyz")).json()["realtime_sessions"] == 1
            scraped = (await http.get("/metrics")).text
        assert 'berth_realtime_responses_total{status="completed"}' in scraped
        transcript = of(seen, "conversation.item.input_audio_transcription.completed")[0]
        assert isinstance(transcript.transcript, str)


async def test_a_text_turn_is_spoken_sentence_by_sentence(server: LiveServer, secret: str) -> None:
    async with client(server, secret).realtime.connect(model="echo") as connection:
        await connection.recv()
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Good morning. The sun is up."}],
            }
        )
        await connection.response.create()
        seen = await events_until(connection, "response.done")
        transcript = "".join(e.delta for e in of(seen, "response.output_audio_transcript.delta"))
        assert transcript == "Good morning. The sun is up."
        audio = b"".join(base64.b64decode(e.delta) for e in of(seen, "response.output_audio.delta"))
        samples = np.frombuffer(audio, "<i2").astype(np.float32) / 32768
        assert len(samples) / RATE > 1.0  # two sentences of espeak-ng speech at 24 kHz
        assert np.sqrt(np.mean(samples**2)) > 0.01
        first_audio = kinds_index(seen, "response.output_audio.delta")
        assert first_audio < kinds_index(seen, "response.output_audio_transcript.done")
        [done] = of(seen, "response.done")
        assert done.response.output[0].content[0].transcript == transcript


def kinds_index(seen: list[Any], kind: str) -> int:
    return next(index for index, e in enumerate(seen) if e.type == kind)


async def test_speaking_over_the_reply_cancels_it(server: LiveServer, secret: str) -> None:
    async with client(server, secret).realtime.connect(model="slow-echo") as connection:
        await connection.recv()
        await connection.session.update(session=GA_SESSION)  # type: ignore[arg-type]
        await events_until(connection, "session.updated")
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": LONG_REPLY}],
            }
        )
        await connection.response.create()
        await events_until(connection, "response.output_audio.delta")
        await append(connection, speech("Stop, wait a moment please."))
        seen = await events_until(connection, "response.done")
        [cancelled] = of(seen, "response.done")
        assert cancelled.response.status == "cancelled"
        assert cancelled.response.status_details.reason == "turn_detected"
        kept = cancelled.response.output[0].content[0].transcript
        assert LONG_REPLY.startswith(kept) and len(kept) < len(LONG_REPLY)
        assert of(seen, "input_audio_buffer.speech_started")


async def test_g711_out_and_bad_events(server: LiveServer, secret: str) -> None:
    async with client(server, secret).realtime.connect(model="echo") as connection:
        await connection.recv()
        await connection.session.update(
            session={"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}
        )
        await events_until(connection, "session.updated")
        await connection.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
        error = await connection.recv()
        assert error.type == "error" and error.error.param == "audio"
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi."}],
            }
        )
        await connection.response.create()
        seen = await events_until(connection, "response.done")
        audio = b"".join(base64.b64decode(e.delta) for e in of(seen, "response.output_audio.delta"))
        assert len(audio) > 8000 * 0.2  # mu-law: one byte a sample at 8 kHz


def model_key(server: LiveServer, name: str, models: str) -> str:
    made = subprocess.run(
        [*BERTH, "keys", "create", "--name", name, "--scopes", "infer", "--models", models],
        env={**os.environ, "BERTH_HOME": str(server.home)},
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip()


@pytest.fixture(scope="module")
def limited_keys(server: LiveServer) -> tuple[str, str]:
    return create_key(server, "no-infer", "jobs"), model_key(server, "echo-only", "slow-echo")


async def test_keys_models_and_scopes_apply_to_the_upgrade(
    server: LiveServer, limited_keys: tuple[str, str]
) -> None:
    jobs_only, echo_only = limited_keys
    for secret, model, status in (
        ("berth_wrong", "echo", 401),
        (jobs_only, "echo", 403),
        (echo_only, "echo", 403),
        (echo_only, "no-such-model", 404),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with client(server, secret).realtime.connect(model=model) as connection:
                await connection.recv()
        assert refused.value.response.status_code == status, (secret, model)
