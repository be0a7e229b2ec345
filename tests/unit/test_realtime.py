"""The realtime session's parts: wire audio, settings updates, server VAD turns, and a whole
session (turns, responses, barge-in, bad events) on fake models."""

from __future__ import annotations

import asyncio
import base64
import warnings
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from berth.realtime import codecs
from berth.realtime.config import SessionConfig, TurnDetection, updated
from berth.realtime.events import BadEvent
from berth.realtime.responses import sentences
from berth.realtime.session import RealtimeSession
from berth.realtime.turns import SpeechStarted, SpeechStopped, TurnDetector
from berth.runners.vad import WINDOW, speech_spans
from berth.tasks.fake import FakeModelCalls
from berth.tasks.generate import Generation, GenerationRequest, TextDelta
from berth.tasks.speak import Speech, SpeechRequest
from berth.tasks.transcribe import SAMPLE_RATE, Transcript, TranscriptionRequest
from berth.tasks.vad import SpeechSpans, VadRequest

pytestmark = pytest.mark.unit

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the standard library's G.711, as an independent check (gone in 3.13)


def tone(seconds: float, rate: int, loud: float = 0.5) -> np.ndarray[Any, np.dtype[np.float32]]:
    t = np.arange(int(seconds * rate)) / rate
    return (loud * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def pcm16(samples: np.ndarray[Any, Any]) -> str:
    return base64.b64encode((samples * 32767).astype("<i2").tobytes()).decode()


# wire audio


def test_g711_matches_the_standard_library() -> None:
    samples = np.concatenate([tone(0.05, 8000, 0.9), tone(0.05, 8000, 0.01), -tone(0.05, 8000)])
    linear = (samples * 32767).round().astype("<i2").tobytes()
    assert codecs.ulaw_encode(samples).tobytes() == audioop.lin2ulaw(linear, 2)
    assert codecs.alaw_encode(samples).tobytes() == audioop.lin2alaw(linear, 2)
    codes = bytes(range(256))
    for ours, theirs in (
        (codecs.ulaw_decode, audioop.ulaw2lin(codes, 2)),
        (codecs.alaw_decode, audioop.alaw2lin(codes, 2)),
    ):
        expected = np.frombuffer(theirs, "<i2").astype(np.float32) / 32768
        assert np.array_equal(ours(np.frombuffer(codes, np.uint8)), expected)


@pytest.mark.parametrize("fmt", [codecs.PCM16, codecs.PCMU, codecs.PCMA])
def test_each_format_round_trips_to_16_khz(fmt: codecs.AudioFormat) -> None:
    source = tone(0.5, 16000)
    wire = base64.b64encode(codecs.encode(source, 16000, fmt)).decode()
    back = codecs.decode(wire, fmt)
    assert abs(len(back) - len(source)) <= 2
    n = min(len(back), len(source))
    error = np.sqrt(np.mean((back[100 : n - 100] - source[100 : n - 100]) ** 2))
    assert error < 0.05


def test_bad_audio_is_named() -> None:
    with pytest.raises(BadEvent, match="not valid base64") as raised:
        codecs.decode("%%%", codecs.PCM16, "audio")
    assert raised.value.param == "audio"
    with pytest.raises(BadEvent, match="whole 2-byte samples"):
        codecs.decode(base64.b64encode(b"abc").decode(), codecs.PCM16)
    with pytest.raises(BadEvent, match="24000 Hz"):
        codecs.audio_format({"type": "audio/pcm", "rate": 16000}, "format")


# settings


def config(**changes: Any) -> SessionConfig:
    base = SessionConfig("chat", "stt", "tts", "vad")
    return updated(base, changes) if changes else base


def test_ga_and_beta_updates_change_only_what_they_name() -> None:
    ga = config(
        type="realtime",
        instructions="Be brief.",
        audio={
            "input": {
                "format": {"type": "audio/pcmu"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                "transcription": {"model": "other-stt"},
            },
            "output": {"format": {"type": "audio/pcma"}, "voice": "echo"},
        },
    )
    assert ga.instructions == "Be brief."
    assert (ga.input_format, ga.output_format, ga.voice) == (codecs.PCMU, codecs.PCMA, "echo")
    assert ga.turn_detection == TurnDetection(silence_duration_ms=300)
    assert ga.transcription_model == "other-stt" and ga.speech_model == "tts"
    beta = config(input_audio_format="g711_alaw", turn_detection=None, modalities=["text"])
    assert beta.input_format is codecs.PCMA and beta.turn_detection is None
    assert beta.output_modalities == ("text",)
    shown = ga.as_json("sess_1")
    assert shown["audio"]["input"]["format"] == {"type": "audio/pcmu"}  # type: ignore[index]


@pytest.mark.parametrize(
    ("update", "param"),
    [
        ({"audio": {"input": {"turn_detection": {"threshold": 2}}}}, "turn_detection.threshold"),
        ({"turn_detection": {"type": "semantic_vad"}}, "session.turn_detection.type"),
        ({"model": "another"}, "session.model"),
        ({"type": "transcription"}, "session.type"),
        ({"output_modalities": ["video"]}, "session.output_modalities"),
        ({"input_audio_format": "mp3"}, "session.input_audio_format"),
    ],
)
def test_a_bad_update_names_its_field(update: dict[str, Any], param: str) -> None:
    with pytest.raises(BadEvent) as raised:
        config(**update)
    assert raised.value.param is not None and raised.value.param.endswith(param)


def test_sentences_split_at_their_ends() -> None:
    assert sentences("Hello there. How are") == (["Hello there."], "How are")
    assert sentences("One! Two? Three") == (["One!", "Two?"], "Three")


# server VAD


def energy_vad(request: VadRequest) -> SpeechSpans:
    """A stand-in for Silero: a window is speech when it is loud."""
    samples = request.samples
    windows = len(samples) // WINDOW
    rms = np.sqrt(np.mean(samples[: windows * WINDOW].reshape(windows, WINDOW) ** 2, axis=1))
    return speech_spans((rms > 0.05).astype(np.float32), request, len(samples))


async def test_turns_start_and_stop_with_prefix_padding() -> None:
    async def find(request: VadRequest) -> SpeechSpans:
        return energy_vad(request)

    detector = TurnDetector(find)
    turns = TurnDetection(silence_duration_ms=400, prefix_padding_ms=200)
    audio = np.concatenate([np.zeros(SAMPLE_RATE), tone(1.0, SAMPLE_RATE), np.zeros(SAMPLE_RATE)])
    found: list[Any] = []
    for start in range(0, len(audio), 1600):  # 100 ms appends
        detector.append(audio[start : start + 1600])
        found += await detector.detect(turns)
    started, stopped = found
    assert isinstance(started, SpeechStarted) and isinstance(stopped, SpeechStopped)
    assert 950 <= started.audio_start_ms <= 1050
    assert 1950 <= stopped.audio_end_ms <= 2100
    assert 1.15 <= len(stopped.audio) / SAMPLE_RATE <= 1.3  # 200 ms before + 1 s of speech


async def test_each_check_reads_a_bounded_window_however_long_the_silence() -> None:
    sizes: list[int] = []

    async def find(request: VadRequest) -> SpeechSpans:
        sizes.append(len(request.samples))
        return energy_vad(request)

    detector = TurnDetector(find)
    turns = TurnDetection(silence_duration_ms=400, prefix_padding_ms=300)
    audio = np.concatenate(
        [np.zeros(30 * SAMPLE_RATE), tone(1.0, SAMPLE_RATE), np.zeros(SAMPLE_RATE)]
    )
    found: list[Any] = []
    for start in range(0, len(audio), 1600):
        detector.append(audio[start : start + 1600])
        found += await detector.detect(turns)
    started, stopped = found
    assert 29_950 <= started.audio_start_ms <= 30_050  # the session's clock, not the buffer's
    assert 30_950 <= stopped.audio_end_ms <= 31_100
    assert max(sizes) <= 2 * SAMPLE_RATE
    assert 1.25 <= len(stopped.audio) / SAMPLE_RATE <= 1.4


# a whole session


class Models:
    """Fake models: energy VAD, a fixed transcript, a chat model that says three sentences
    (slowly, so that a barge-in finds it speaking) and a speech model with 0.5 s a sentence."""

    def __init__(self, reply: str = "First part. Second part. Third part.", delay: float = 0.0):
        self.reply, self.delay = reply, delay
        self.requests: list[GenerationRequest] = []
        self.calls = FakeModelCalls(
            answers={"vad": energy_vad, "stt": self.transcribe, "tts": self.speak},
            streams={"chat": self.chat},
        )

    def transcribe(self, request: TranscriptionRequest) -> Transcript:
        return Transcript("what is up", "en", request.duration, ())

    def speak(self, request: SpeechRequest) -> Speech:
        return Speech(tone(0.5, 24000, 0.2), 24000)

    async def chat(self, request: GenerationRequest) -> AsyncIterator[object]:
        """The reply word by word, a word a token: cut at ``max_tokens`` (``length``)."""
        self.requests.append(request)
        words = self.reply.split(" ")
        cut = request.max_tokens is not None and len(words) > request.max_tokens
        words = words[: request.max_tokens] if cut else words
        for index, word in enumerate(words):
            await asyncio.sleep(self.delay)
            yield TextDelta(word if index == 0 else f" {word}")
        yield Generation("", "length" if cut else "stop", 7, len(words))


class Client:
    def __init__(self, models: Models, **settings: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.session = RealtimeSession(config(**settings), models.calls, self.receive)

    async def receive(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def speak(self, audio: np.ndarray[Any, Any]) -> None:
        for start in range(0, len(audio), 2400):  # 100 ms appends at 24 kHz
            chunk = audio[start : start + 2400]
            await self.session.handle({"type": "input_audio_buffer.append", "audio": pcm16(chunk)})

    async def done(self, count: int = 1) -> None:
        for _ in range(400):
            if len(self.of("response.done")) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no response.done: {self.types()}")


def utterance(seconds: float = 0.8) -> np.ndarray[Any, Any]:
    silence = np.zeros(int(0.3 * 24000), np.float32)
    return np.concatenate([silence, tone(seconds, 24000), np.zeros(24000, np.float32)])


async def test_a_spoken_turn_is_transcribed_answered_and_spoken() -> None:
    models = Models()
    client = Client(models)
    await client.session.start()
    await client.speak(utterance())
    await client.done()
    types = client.types()
    order = [
        "session.created",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.done",
    ]
    assert [types.index(kind) for kind in order] == sorted(types.index(kind) for kind in order)
    [done] = client.of("response.done")
    response = done["response"]
    assert response["status"] == "completed"
    assert response["usage"]["output_tokens"] == 6
    stages = {"vad_ms", "stt_ms", "llm_first_token_ms", "tts_first_audio_ms", "first_audio_ms"}
    assert set(response["metadata"]) == {f"berth_{stage}" for stage in stages}
    assert all(float(value) >= 0 for value in response["metadata"].values())
    assert response["output"][0]["content"][0]["transcript"] == models.reply
    audio = b"".join(base64.b64decode(e["delta"]) for e in client.of("response.output_audio.delta"))
    assert len(audio) == 3 * 12000 * 2  # three sentences of 0.5 s at 24 kHz, 16-bit
    [request] = models.requests
    assert [m.content for m in request.messages] == ["what is up"]
    stopped = client.of("input_audio_buffer.speech_stopped")[0]
    committed = client.of("input_audio_buffer.committed")[0]
    assert stopped["item_id"] == committed["item_id"]


async def test_speech_during_a_reply_cancels_it_and_keeps_what_was_heard() -> None:
    models = Models(delay=0.05)
    client = Client(models)
    await client.speak(utterance())
    for _ in range(400):  # until the first sentence's audio went out
        if client.of("response.output_audio.delta"):
            break
        await asyncio.sleep(0.01)
    await client.speak(utterance())  # the user speaks again: barge-in
    await client.done(2)
    first, second = client.of("response.done")
    assert first["response"]["status"] == "cancelled"
    assert first["response"]["status_details"]["reason"] == "turn_detected"
    kept = first["response"]["output"][0]["content"][0]["transcript"]
    assert kept.startswith("First part.") and "Third part." not in kept
    assert second["response"]["status"] == "completed"
    history = [m.content for m in models.requests[1].messages]
    assert history == ["what is up", kept, "what is up"]


async def test_text_responses_and_manual_turns() -> None:
    models = Models()
    client = Client(models, turn_detection=None, output_modalities=["text"])
    await client.session.handle(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        }
    )
    await client.session.handle({"type": "response.create"})
    await client.done()
    deltas = "".join(e["delta"] for e in client.of("response.output_text.delta"))
    assert deltas == models.reply
    assert not client.of("response.output_audio.delta")
    await client.speak(tone(0.5, 24000))
    assert not client.of("input_audio_buffer.speech_started")  # no server VAD
    await client.session.handle({"type": "input_audio_buffer.commit"})
    assert client.of("conversation.item.input_audio_transcription.completed")


@pytest.mark.parametrize(
    ("event", "param", "code"),
    [
        ({"type": "nope"}, "type", "invalid_event"),
        ({"type": "input_audio_buffer.append", "audio": "%%"}, "audio", "invalid_value"),
        ({"type": "input_audio_buffer.commit"}, None, "input_audio_buffer_commit_empty"),
        ({"type": "response.cancel"}, None, "response_cancel_not_active"),
        ({"type": "conversation.item.delete", "item_id": "x"}, "item_id", "item_not_found"),
        (
            {"type": "conversation.item.create", "item": {"role": "robot", "content": []}},
            "item.role",
            "invalid_value",
        ),
        ({"type": "session.update", "session": {"voice": 3}}, "session.voice", "invalid_value"),
    ],
)
async def test_bad_events_get_error_events_and_change_nothing(
    event: dict[str, Any], param: str | None, code: str
) -> None:
    client = Client(Models())
    before = client.session.config
    await client.session.handle({**event, "event_id": "evt_1"})
    [error] = client.of("error")
    assert error["error"]["param"] == param and error["error"]["code"] == code
    assert error["error"]["event_id"] == "evt_1"
    assert client.session.config == before and not client.session.conversation.items
