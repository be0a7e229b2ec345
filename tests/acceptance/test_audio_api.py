"""Speech endpoints on a live ``berth serve``: transcriptions with the official ``openai``
client (a tiny Whisper model from the user catalog) and ``/v1/audio/vad`` with httpx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from berth.media.audio import encode_wav
from tests.acceptance.live import LiveServer, create_key, live_server
from tests.integration.test_vad import TOLERANCE, speech_with_pauses
from tests.tiny.whisper import write_whisper

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MODEL = "tiny-whisper"
MAX_BYTES = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir()
    model = write_whisper(home / "tiny-whisper")
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "transcribe"\nrunner = "transformers-asr"\n'
        f'source = "local:{model}"\n'
    )
    with live_server(home, BERTH_MAX_REQUEST_BYTES=str(MAX_BYTES)) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    secret = create_key(server, "audio", "infer")
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "talk.wav"
    path.write_bytes(encode_wav(speech_with_pauses()[0]))
    return path


def test_json_and_text(client: openai.OpenAI, talk: Path) -> None:
    with talk.open("rb") as file:
        made = client.audio.transcriptions.create(model=MODEL, file=file, language="en")
    assert isinstance(made.text, str) and made.text
    with talk.open("rb") as file:
        text = client.audio.transcriptions.create(model=MODEL, file=file, response_format="text")
    assert isinstance(text, str) and text.strip()


def test_verbose_json_has_segments_duration_and_language(client: openai.OpenAI, talk: Path) -> None:
    with talk.open("rb") as file:
        made = client.audio.transcriptions.create(
            model=MODEL, file=file, response_format="verbose_json", language="de"
        )
    assert made.language == "de"
    assert made.duration == pytest.approx(8.2, abs=1.0)
    assert made.segments is not None and len(made.segments) >= 4
    assert made.segments[0].start == 0.0
    assert made.segments[-1].end == pytest.approx(made.duration, abs=0.01)
    assert made.text == " ".join(s.text for s in made.segments)


def test_subtitles(client: openai.OpenAI, talk: Path) -> None:
    with talk.open("rb") as file:
        srt = client.audio.transcriptions.create(model=MODEL, file=file, response_format="srt")
    with talk.open("rb") as file:
        vtt = client.audio.transcriptions.create(model=MODEL, file=file, response_format="vtt")
    assert isinstance(srt, str) and srt.startswith("1\n00:00:00,000 --> 00:00:02,000\n")
    assert isinstance(vtt, str) and vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n")


def test_only_the_speech_with_the_vad_extra(client: openai.OpenAI, talk: Path) -> None:
    with talk.open("rb") as file:
        made = client.audio.transcriptions.create(
            model=MODEL,
            file=file,
            response_format="verbose_json",
            extra_body={"vad": "silero-vad"},
        )
    assert made.segments
    assert made.segments[0].start == pytest.approx(1.5, abs=TOLERANCE)


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("empty.wav", b"", 400, "is empty (0 bytes)"),
        ("broken.flac", b"fLaC" + bytes(500), 400, "looks like FLAC but cannot be decoded"),
        ("notes.txt", b"these are not sounds", 415, "not audio in a format Berth can read"),
        ("film.m4a", b"\x00\x00\x00\x20ftypM4A " + bytes(100), 415, "is MP4/M4A/AAC"),
    ],
)
def test_unusable_uploads_get_a_clear_4xx(
    client: openai.OpenAI, name: str, content: bytes, status: int, message: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model=MODEL, file=(name, content))
    assert caught.value.status_code == status
    assert message in caught.value.message


def test_too_big_and_wrong_model_and_format(client: openai.OpenAI, server: LiveServer) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model=MODEL, file=("big.wav", bytes(MAX_BYTES + 10)))
    assert caught.value.status_code == 413
    wav = encode_wav(speech_with_pauses()[0][:16_000])
    with pytest.raises(openai.BadRequestError, match="is a vad model and cannot make a transcript"):
        client.audio.transcriptions.create(model="silero-vad", file=("a.wav", wav))
    with pytest.raises(openai.NotFoundError):
        client.audio.transcriptions.create(model="nope", file=("a.wav", wav))
    answer = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        data={"model": MODEL, "response_format": "mp4"},
        files={"file": ("a.wav", wav)},
    )
    assert answer.status_code == 400 and "response_format" in answer.text


def test_vad_endpoint_finds_espeak_speech(server: LiveServer, talk: Path) -> None:
    answer = httpx.post(
        f"{server.url}/v1/audio/vad",
        data={"min_silence_ms": "700"},
        files={"file": ("talk.wav", talk.read_bytes(), "audio/wav")},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "silero-vad"
    _, truth = speech_with_pauses()
    assert len(body["spans"]) == 2
    for span, expected in zip(body["spans"], truth, strict=True):
        assert span["start"] == pytest.approx(expected.start, abs=TOLERANCE)
        assert span["end"] == pytest.approx(expected.end, abs=TOLERANCE)
    assert body["speech_seconds"] == pytest.approx(
        sum(s["end"] - s["start"] for s in body["spans"]), abs=0.01
    )
    bad = httpx.post(f"{server.url}/v1/audio/vad", files={"file": ("x.txt", b"hello")})
    assert bad.status_code == 415
    assert "Send WAV, FLAC" in json.loads(bad.text)["error"]["message"]
