"""``POST /v1/audio/speech`` and the ``speak`` job kind, driven with the official ``openai``
client and httpx against ``berth serve``."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import soundfile

from berth.media.encode import audio_formats
from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.vits import SAMPLE_RATE, build_tiny_vits

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
TEXT = "Berth speaks through the OpenAI client."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("speech")
    vits = build_tiny_vits(root / "tiny-vits")
    home = root / "home"
    home.mkdir()
    (home / "catalog.toml").write_text(
        f'[models.tiny-vits]\ntask = "speak"\nrunner = "transformers-tts"\n'
        f'source = "local:{vits}"\n'
    )
    with live_server(home) as live:
        yield live


@pytest.fixture(scope="module")
def secret(server: LiveServer) -> str:
    return create_key(server, "tts", "infer,jobs")


@pytest.fixture(scope="module")
def client(server: LiveServer, secret: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=120
    ) as opened:
        yield opened


def decode(data: bytes) -> tuple[np.ndarray[Any, Any], int]:
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, int(rate)


def test_wav_from_espeak_with_an_openai_voice(client: openai.OpenAI) -> None:
    raw = client.audio.speech.with_raw_response.create(
        model="espeak-ng", voice="alloy", input=TEXT, response_format="wav"
    )
    assert raw.headers["content-type"] == "audio/wav"
    data = raw.content
    assert data[:4] == b"RIFF"
    samples, rate = decode(data)
    assert rate == 22_050
    assert 1.0 < len(samples) / rate < 8.0
    assert float(np.sqrt(np.mean(samples**2))) > 0.02


@pytest.mark.parametrize("fmt", sorted({"mp3", "opus", "flac"} & set(audio_formats())))
def test_compressed_formats_decode_to_the_same_speech(client: openai.OpenAI, fmt: str) -> None:
    wav, wav_rate = decode(
        client.audio.speech.create(
            model="espeak-ng", voice="echo", input=TEXT, response_format="wav"
        ).read()
    )
    raw = client.audio.speech.with_raw_response.create(
        model="espeak-ng", voice="echo", input=TEXT, response_format=fmt
    )
    assert raw.headers["content-type"] in ("audio/mpeg", "audio/ogg", "audio/flac")
    samples, rate = decode(raw.content)
    assert abs(len(samples) / rate - len(wav) / wav_rate) < 0.1


def test_default_format_is_mp3_and_pcm_is_raw_24_khz(client: openai.OpenAI) -> None:
    if "mp3" in audio_formats():
        default = client.audio.speech.with_raw_response.create(
            model="espeak-ng", voice="nova", input=TEXT
        )
        assert default.headers["content-type"] == "audio/mpeg"
    wav, wav_rate = decode(
        client.audio.speech.create(
            model="espeak-ng", voice="nova", input=TEXT, response_format="wav", speed=1.5
        ).read()
    )
    pcm = client.audio.speech.create(
        model="espeak-ng", voice="nova", input=TEXT, response_format="pcm", speed=1.5
    ).read()
    assert abs(len(pcm) / 2 / 24_000 - len(wav) / wav_rate) < 0.05


def test_speed_shortens_the_speech(client: openai.OpenAI) -> None:
    lengths = []
    for speed in (0.5, 2.0):
        samples, rate = decode(
            client.audio.speech.create(
                model="espeak-ng", voice="en", input=TEXT, response_format="wav", speed=speed
            ).read()
        )
        lengths.append(len(samples) / rate)
    assert lengths[0] > 2 * lengths[1]


def test_a_vits_model_from_the_user_catalog(client: openai.OpenAI) -> None:
    samples, rate = decode(
        client.audio.speech.create(
            model="tiny-vits", voice="alloy", input="hello there", response_format="flac"
        ).read()
    )
    assert rate == SAMPLE_RATE and len(samples) > 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"voice": "no-such-voice"}, "not an espeak-ng voice"),
        ({"response_format": "aac"}, "Audio format 'aac' is not supported here. Use one of:"),
        ({"input": ""}, "The input text is empty"),
        ({"input": "   "}, "The input text is empty"),
        ({"input": "x" * 4097}, "input"),
        ({"speed": 5.0}, "speed"),
        ({"model": "all-minilm-l6-v2"}, "is an embed model and cannot make speech"),
    ],
)
def test_bad_requests_are_400_with_a_clear_message(
    client: openai.OpenAI, fields: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "model": "espeak-ng",
        "voice": "alloy",
        "input": TEXT,
        "response_format": "wav",
        **fields,
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(**arguments)
    assert message in str(caught.value)


def test_an_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="no-such-model"):
        client.audio.speech.create(model="no-such-model", voice="alloy", input=TEXT)


def test_a_speak_job_leaves_one_file_per_text(server: LiveServer, secret: str) -> None:
    auth = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
        body = {"texts": ["One.", "Two and three."], "voice": "fable", "format": "wav"}
        job = http.post("/v1/jobs", json={"kind": "speak", "model": "espeak-ng", "input": body})
        assert job.status_code == 201, job.text
        url = f"/v1/jobs/{job.json()['id']}"
        deadline = time.monotonic() + 60
        while (state := http.get(url).json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "succeeded", state
        items = state["result"]["items"]
        assert [item["artifact"] for item in items] == ["speech-0001.wav", "speech-0002.wav"]
        for item in items:
            samples, rate = decode(http.get(f"{url}/artifacts/{item['artifact']}").content)
            assert item["duration"] == pytest.approx(len(samples) / rate, abs=0.01)
