"""The transformers-asr runner on tiny Whisper and wav2vec2 CTC models (real architectures,
random weights), the audio validation in front of it, and transcription of only the speech
a VAD model finds."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from berth import errors
from berth.media.audio import AudioLimits, decode_audio, encode_wav
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.models.spec import ModelSpec
from berth.plugins import discover
from berth.pool.pool import ModelPool
from berth.runners.speech_to_text import SpeechToTextRunner
from berth.services.audio import transcribe
from berth.settings import Settings
from berth.tasks.transcribe import SAMPLE_RATE, Transcript, TranscriptionRequest
from tests.integration.test_vad import speech_with_pauses
from tests.pools import job_calls
from tests.tiny.ctc import write_ctc
from tests.tiny.whisper import WINDOW_SECONDS, write_whisper

pytestmark = pytest.mark.integration
in_module_loop = pytest.mark.asyncio(loop_scope="module")


def noise(seconds: float, seed: int = 0) -> np.ndarray[Any, np.dtype[np.float32]]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 0.1).astype(np.float32)


def asr_spec(alias: str, path: Path, **runner_options: Any) -> ModelSpec:
    return ModelSpec(
        alias=alias,
        task="transcribe",
        runner="transformers-asr",
        source=f"local:{path}",
        options={"transport": "thread", "runner_options": runner_options},
    )


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_whisper(tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def whisper(whisper_dir: Path) -> SpeechToTextRunner:
    runner = SpeechToTextRunner()
    runner.load(asr_spec("tiny-whisper", whisper_dir, chunk_batch=3), whisper_dir, "cpu")
    return runner


@pytest.fixture(scope="module")
def ctc(tmp_path_factory: pytest.TempPathFactory) -> SpeechToTextRunner:
    path = write_ctc(tmp_path_factory.mktemp("ctc"))
    runner = SpeechToTextRunner()
    runner.load(asr_spec("tiny-ctc", path, chunk_seconds=2, language="en"), path, "cpu")
    return runner


def covers(transcript: Transcript) -> None:
    """The segments run in order, back to back, from 0 to the end of the audio."""
    segments = transcript.segments
    assert segments[0].start == 0.0
    assert [s.end for s in segments[:-1]] == [s.start for s in segments[1:]]
    assert segments[-1].end == pytest.approx(transcript.duration)
    assert all(s.text for s in segments)
    assert transcript.text == " ".join(s.text for s in segments)


def test_whisper_gives_a_transcript_with_language_and_segments(
    whisper: SpeechToTextRunner,
) -> None:
    [out] = whisper.run([TranscriptionRequest(noise(1.5))])
    assert isinstance(out, Transcript)
    assert out.duration == 1.5 and out.text
    assert out.language in {"en", "de", "fr"}
    [segment] = out.segments
    assert (segment.start, segment.end) == (0.0, 1.5)


def test_long_audio_is_cut_into_windows_that_cover_it(whisper: SpeechToTextRunner) -> None:
    [out] = whisper.run([TranscriptionRequest(noise(7.3), language="de")])
    assert [s.start for s in out.segments] == [0.0, 2.0, 4.0, 6.0]
    assert WINDOW_SECONDS == 2
    covers(out)
    assert out.language == "de"


@pytest.mark.parametrize("runner_name", ["whisper", "ctc"])
def test_a_batch_gives_what_one_by_one_gives_and_runs_repeat(
    runner_name: str, request: pytest.FixtureRequest
) -> None:
    runner: SpeechToTextRunner = request.getfixturevalue(runner_name)
    requests = [
        TranscriptionRequest(noise(5.1, seed=1), language="en"),
        TranscriptionRequest(noise(0.7, seed=2), language="en"),
        TranscriptionRequest(noise(3.0, seed=3), language="en"),
    ]
    together = runner.run(requests)
    alone = [runner.run([r])[0] for r in requests]
    assert together == alone
    assert runner.run(requests) == together
    assert len({t.text for t in together}) == 3
    for transcript in together:
        covers(transcript)


def test_languages_by_code_name_or_token_and_unknown_ones_fail_alone(
    whisper: SpeechToTextRunner,
) -> None:
    audio = noise(1)
    by_code, by_name, by_token, unknown = whisper.run(
        [
            TranscriptionRequest(audio, language="fr"),
            TranscriptionRequest(audio, language="French"),
            TranscriptionRequest(audio, language="<|fr|>"),
            TranscriptionRequest(audio, language="xx"),
        ]
    )
    assert by_code == by_name == by_token
    assert by_code.language == "fr"
    assert isinstance(unknown, errors.InvalidRequest)
    assert "does not know the language 'xx'" in unknown.message
    assert "de, en, fr" in unknown.message


def test_translation_differs_from_transcription(whisper: SpeechToTextRunner) -> None:
    audio = noise(1, seed=4)
    plain, translated = whisper.run(
        [
            TranscriptionRequest(audio, language="de"),
            TranscriptionRequest(audio, language="de", task="translate"),
        ]
    )
    assert plain.text != translated.text


def test_ctc_windows_and_refusals(ctc: SpeechToTextRunner) -> None:
    out, translated, wrong = ctc.run(
        [
            TranscriptionRequest(noise(4.5)),
            TranscriptionRequest(noise(1), task="translate"),
            "not a request",
        ]
    )
    assert [s.start for s in out.segments] == [0.0, 2.0, 4.0]
    covers(out)
    assert out.language == "en"
    assert set(out.text) <= set("abcdefghijklmnopqrstuvwxyz' ")
    assert isinstance(translated, errors.InvalidRequest) and "cannot translate" in str(translated)
    assert isinstance(wrong, errors.InvalidRequest) and "not str" in str(wrong)


def test_a_model_that_is_not_speech_to_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert", "architectures": ["BertModel"]}')
    with pytest.raises(errors.ModelLoadFailed, match="is a bert model"):
        SpeechToTextRunner().load(asr_spec("bert", tmp_path), tmp_path, "cpu")


# Audio validation.


def encoded(fmt: str, subtype: str, seconds: float = 1.0, rate: int = 44_100) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    tone = np.sin(np.arange(int(seconds * rate)) / 9).astype(np.float32) * 0.3
    soundfile.write(buffer, np.stack([tone, tone], axis=1), rate, subtype, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate"),
    [
        ("WAV", "PCM_16", 44_100),
        ("FLAC", "PCM_16", 22_050),
        ("OGG", "VORBIS", 44_100),
        ("OGG", "OPUS", 48_000),
        ("MP3", "MPEG_LAYER_III", 44_100),
    ],
)
def test_common_formats_decode_to_16k_mono(fmt: str, subtype: str, rate: int) -> None:
    audio = decode_audio(encoded(fmt, subtype, 1.0, rate))
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.source_rate == rate
    assert audio.duration == pytest.approx(1.0, abs=0.2)
    assert 0.1 < float(np.abs(audio.samples).max()) < 1.0


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", errors.InvalidRequest, "is empty (0 bytes)"),
        (b"just some text, not audio at all", errors.UnsupportedMedia, "not audio in a format"),
        (b"\x00\x00\x00\x20ftypM4A " + bytes(64), errors.UnsupportedMedia, "is MP4/M4A/AAC"),
        (b"%PDF-1.7" + bytes(64), errors.UnsupportedMedia, "is PDF"),
        (encoded("FLAC", "PCM_16")[:300], errors.InvalidRequest, "looks like FLAC but cannot"),
        (b"OggS" + bytes(200), errors.InvalidRequest, "damaged or truncated"),
        (encode_wav(np.zeros(0)), errors.InvalidRequest, "holds no audio"),
        (encode_wav(np.zeros(16_000 * 3)), errors.MediaTooLarge, "3 s long; the most"),
        (
            bytes(2_000_001),
            errors.MediaTooLarge,
            "2000001 bytes; the most Berth accepts is 2000000",
        ),
    ],
    ids=["empty", "text", "m4a", "pdf", "cut-flac", "bad-ogg", "no-samples", "long", "big"],
)
def test_unusable_audio_is_refused_with_a_reason(
    data: bytes, error: type[errors.BerthError], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        decode_audio(data, AudioLimits(max_bytes=2_000_000, max_seconds=2))
    assert type(caught.value) is error
    assert "send" in caught.value.message.lower() or "split" in caught.value.message.lower()


# Transcribing only the speech.


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(
    tmp_path_factory: pytest.TempPathFactory, whisper_dir: Path
) -> AsyncIterator[ModelPool]:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    runners = discover().runners
    catalog, cache = Catalog.load(settings, runners), ModelCache(settings)
    shipped = catalog.get("silero-vad")
    threaded = shipped.options.model_copy(update={"transport": "thread"})
    vad = shipped.model_copy(update={"options": threaded})
    specs = {"tiny-whisper": asr_spec("tiny-whisper", whisper_dir), "silero-vad": vad}
    async with ModelPool(settings, specs.__getitem__, cache.path_for, runners) as opened:
        yield opened


@in_module_loop
async def test_with_vad_only_the_speech_is_transcribed_on_the_recordings_clock(
    pool: ModelPool,
) -> None:
    audio, truth = speech_with_pauses()
    request = TranscriptionRequest(audio, language="en")
    whole = await transcribe(job_calls(pool), "tiny-whisper", request)
    gated = await transcribe(job_calls(pool), "tiny-whisper", request, vad="silero-vad")
    assert gated.duration == whole.duration == pytest.approx(len(audio) / SAMPLE_RATE, abs=1e-3)
    assert gated.text != whole.text
    assert gated.segments and all(s.text for s in gated.segments)
    for segment in gated.segments:
        assert any(t.start - 0.4 <= segment.start < segment.end <= t.end + 0.4 for t in truth)
    first = gated.segments[0]
    assert first.start == pytest.approx(truth[0].start, abs=0.3)
    piece = audio[int(first.start * SAMPLE_RATE) : int(first.end * SAMPLE_RATE)]
    [direct] = await pool.run("tiny-whisper", [dataclasses.replace(request, samples=piece)])
    assert direct.segments[0].text == first.text


@in_module_loop
async def test_with_vad_silence_gives_an_empty_transcript(pool: ModelPool) -> None:
    silent = TranscriptionRequest(np.zeros(3 * SAMPLE_RATE, np.float32), language="en")
    out = await transcribe(job_calls(pool), "tiny-whisper", silent, vad="silero-vad")
    assert out == Transcript("", "en", 3.0, ())
