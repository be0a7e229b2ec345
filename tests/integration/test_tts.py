"""Text-to-speech runners (espeak-ng, a tiny VITS, Kokoro's missing package) and audio
encoding."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from berth import errors
from berth.media.encode import PCM_RATE, audio_format, audio_formats, encode_audio
from berth.models.spec import ModelSpec
from berth.runners.espeak import OPENAI_VOICES, EspeakRunner, synthesize
from berth.runners.kokoro import KokoroRunner
from berth.runners.neural_tts import NeuralTtsRunner
from berth.tasks.speak import Speech, SpeechRequest
from tests.tiny.vits import SAMPLE_RATE, build_tiny_vits

pytestmark = pytest.mark.integration

SENTENCE = "The quick brown fox jumps over the lazy dog."


def speak_spec(runner: str, source: str = "none:", **runner_options: Any) -> ModelSpec:
    return ModelSpec(
        alias="voice",
        task="speak",
        runner=runner,
        source=source,
        options={"runner_options": runner_options},
    )


def rms(samples: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


# -- espeak-ng ---------------------------------------------------------------------------------


def test_espeak_makes_audible_float_audio() -> None:
    samples, rate = synthesize(SENTENCE)
    assert rate == 22_050
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 1.0 < len(samples) / rate < 6.0
    assert float(np.abs(samples).max()) <= 1.0
    assert rms(samples) > 0.02


def test_espeak_audio_grows_with_the_text() -> None:
    short, _ = synthesize("Hello.")
    long, _ = synthesize("Hello. " + SENTENCE + " " + SENTENCE)
    assert len(long) > 3 * len(short)


def test_espeak_voices_sound_different() -> None:
    english, _ = synthesize(SENTENCE, "en")
    german, _ = synthesize(SENTENCE, "de")
    alloy, _ = synthesize(SENTENCE, "alloy")
    onyx, _ = synthesize(SENTENCE, "onyx")
    assert len(english) != len(german) or not np.array_equal(english, german)
    size = min(len(alloy), len(onyx))
    assert not np.allclose(alloy[:size], onyx[:size], atol=1e-3)


def test_espeak_rate_changes_the_length() -> None:
    slow, _ = synthesize(SENTENCE, rate=100)
    fast, _ = synthesize(SENTENCE, rate=350)
    assert len(slow) > 2 * len(fast)


def test_an_unknown_espeak_voice_names_valid_ones() -> None:
    with pytest.raises(errors.InvalidRequest, match=r"not an espeak-ng voice.*en-us.*alloy"):
        synthesize("hello", "no-such-voice")
    for outside in ("../../../etc/passwd", "/etc/passwd", ""):
        with pytest.raises(errors.InvalidRequest, match="not an espeak-ng voice"):
            synthesize("hello", outside)


def test_the_espeak_runner_speaks_every_openai_voice_and_fails_one_input_alone() -> None:
    runner = EspeakRunner()
    runner.load(speak_spec("espeak-ng"), None, "cpu")
    voices = [*OPENAI_VOICES, "fr", None]
    outputs = runner.run([SpeechRequest("Bonjour.", voice) for voice in voices])
    assert all(isinstance(o, Speech) and o.duration > 0.2 for o in outputs)
    slow, bad, fast = runner.run(
        [
            SpeechRequest(SENTENCE, "en", 0.5),
            SpeechRequest(SENTENCE, "no-such-voice"),
            SpeechRequest(SENTENCE, "en", 2.0),
        ]
    )
    assert isinstance(bad, errors.InvalidRequest)
    assert isinstance(slow, Speech) and isinstance(fast, Speech)
    assert slow.duration > 2 * fast.duration


# -- transformers VITS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vits(tmp_path_factory.mktemp("vits") / "model")


@pytest.fixture(scope="module")
def vits(vits_dir: Path) -> NeuralTtsRunner:
    runner = NeuralTtsRunner()
    runner.load(speak_spec("transformers-tts", f"local:{vits_dir}"), vits_dir, "cpu")
    return runner


def test_vits_speaks_at_the_model_sample_rate(vits: NeuralTtsRunner) -> None:
    [speech] = vits.run([SpeechRequest("hello there", "alloy")])
    assert isinstance(speech, Speech)
    assert speech.sample_rate == SAMPLE_RATE
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert len(speech.samples) > 0 and rms(speech.samples) > 0


def test_vits_batches_trim_each_waveform_and_are_repeatable(vits: NeuralTtsRunner) -> None:
    short, long = vits.run([SpeechRequest("hi"), SpeechRequest("a much longer sentence here")])
    assert isinstance(short, Speech) and isinstance(long, Speech)
    assert len(long.samples) > len(short.samples)
    [again] = vits.run([SpeechRequest("a much longer sentence here")])
    [once_more] = vits.run([SpeechRequest("a much longer sentence here")])
    assert isinstance(again, Speech) and isinstance(once_more, Speech)
    assert np.array_equal(again.samples, once_more.samples)


def test_vits_speed_changes_the_length(vits: NeuralTtsRunner) -> None:
    slow, fast = vits.run(
        [SpeechRequest("the same words", speed=0.5), SpeechRequest("the same words", speed=2.0)]
    )
    assert isinstance(slow, Speech) and isinstance(fast, Speech)
    assert len(slow.samples) > 2 * len(fast.samples)


def test_vits_fails_only_the_bad_inputs(vits: NeuralTtsRunner) -> None:
    good, voice, unspeakable = vits.run(
        [SpeechRequest("fine"), SpeechRequest("fine", "7"), SpeechRequest("123 !!")]
    )
    assert isinstance(good, Speech)
    assert isinstance(voice, errors.InvalidRequest) and "1 speaker" in voice.message
    assert isinstance(unspeakable, errors.InvalidRequest)
    assert "no characters this model can speak" in unspeakable.message


def test_vits_without_files_or_with_unknown_options_fails_to_load(vits_dir: Path) -> None:
    with pytest.raises(errors.ModelLoadFailed, match="has no files"):
        NeuralTtsRunner().load(speak_spec("transformers-tts"), None, "cpu")
    spec = speak_spec("transformers-tts", f"local:{vits_dir}", temperature=1)
    with pytest.raises(errors.ModelLoadFailed, match=r"no option.*temperature"):
        NeuralTtsRunner().load(spec, vits_dir, "cpu")


# -- Kokoro ------------------------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("kokoro") is not None, reason="the kokoro package is installed"
)
def test_kokoro_without_its_package_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelLoadFailed, match=r"pip install kokoro.*espeak-ng"):
        KokoroRunner().load(speak_spec("kokoro", f"local:{tmp_path}"), tmp_path, "cpu")


# -- encoding ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spoken() -> tuple[np.ndarray[Any, Any], int]:
    return synthesize(SENTENCE)


def test_the_usual_formats_can_be_written() -> None:
    assert {"wav", "flac", "pcm"} <= set(audio_formats())
    assert {"mp3", "opus"} & set(audio_formats())


@pytest.mark.parametrize("name", sorted(set(audio_formats()) - {"pcm"}))
def test_each_format_decodes_back_with_the_same_duration(
    name: str, spoken: tuple[np.ndarray[Any, Any], int]
) -> None:
    samples, rate = spoken
    data = encode_audio(samples, rate, name)
    decoded, decoded_rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert decoded.ndim == 1
    assert abs(len(decoded) / decoded_rate - len(samples) / rate) < 0.08
    assert rms(decoded) > 0.5 * rms(samples)


def test_wav_is_pcm16_at_the_source_rate(spoken: tuple[np.ndarray[Any, Any], int]) -> None:
    samples, rate = spoken
    data = encode_audio(samples, rate, "wav")
    info = soundfile.info(io.BytesIO(data))
    assert data[:4] == b"RIFF" and info.subtype == "PCM_16"
    assert info.samplerate == rate and info.frames == len(samples)
    decoded, _ = soundfile.read(io.BytesIO(data), dtype="float32")
    assert np.abs(decoded - samples).max() < 1e-3


def test_compressed_formats_have_their_headers(spoken: tuple[np.ndarray[Any, Any], int]) -> None:
    samples, rate = spoken
    assert encode_audio(samples, rate, "flac")[:4] == b"fLaC"
    if "mp3" in audio_formats():
        head = encode_audio(samples, rate, "mp3")[:3]
        assert head == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    if "opus" in audio_formats():
        data = encode_audio(samples, rate, "opus")
        assert data[:4] == b"OggS" and b"OpusHead" in data[:100]


def test_pcm_is_raw_16_bit_at_24_khz(spoken: tuple[np.ndarray[Any, Any], int]) -> None:
    samples, rate = spoken
    data = encode_audio(samples, rate, "pcm")
    pcm = np.frombuffer(data, "<i2")
    assert abs(len(pcm) / PCM_RATE - len(samples) / rate) < 0.01
    assert rms(pcm / 32768.0) > 0.5 * rms(samples)


def test_an_unsupported_format_names_the_supported_ones() -> None:
    with pytest.raises(errors.InvalidRequest, match=r"'aac' is not supported.*wav"):
        audio_format("aac")
    assert audio_format("WAV").media_type == "audio/wav"
