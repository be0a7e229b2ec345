"""A realtime session's settings, and how ``session.update`` (GA or beta shape) changes them.

Only the fields an update names change; a field Berth cannot honour is refused with an
``error`` event naming it, and the session keeps its previous settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from berth.realtime.codecs import PCM16, AudioFormat, audio_format
from berth.realtime.events import BadEvent

Modality = Literal["text", "audio"]
DEFAULT_MEMORIES = 4
MAX_MEMORIES = 10


@dataclass(frozen=True)
class TurnDetection:
    """Server VAD: speech starts above ``threshold``; a turn ends after ``silence_duration_ms``
    of silence; the committed audio keeps ``prefix_padding_ms`` from before the speech."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True

    def as_json(self) -> dict[str, object]:
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }


@dataclass(frozen=True)
class MemoryConfig:
    """Berth's extension ``berth_memory``: the vector store a session's turns are written
    into, and how many earlier turns (at least how similar) each response recalls."""

    vector_store_id: str
    max_num_results: int = DEFAULT_MEMORIES
    score_threshold: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "vector_store_id": self.vector_store_id,
            "max_num_results": self.max_num_results,
            "score_threshold": self.score_threshold,
        }


@dataclass(frozen=True)
class SessionConfig:
    """What one session does. ``model`` is the chat model; ``transcription_model`` and
    ``speech_model`` are the catalog's speech-to-text and text-to-speech models it uses."""

    model: str
    transcription_model: str
    speech_model: str
    vad_model: str
    instructions: str = ""
    output_modalities: tuple[Modality, ...] = ("audio",)
    input_format: AudioFormat = PCM16
    output_format: AudioFormat = PCM16
    voice: str = "alloy"
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, str] = "auto"
    """``auto``, ``none``, ``required``, or ``{"type": "function", "name": ...}``."""
    max_output_tokens: int | None = None
    file_search: dict[str, Any] | None = None
    """Berth's extension ``berth_file_search``: OpenAI's ``file_search`` tool fields
    (``vector_store_ids``, ``max_num_results``, ``filters``, ``ranking_options``), searched
    for the last user message of each response."""
    memory: MemoryConfig | None = None
    transcription_language: str | None = None

    @property
    def speaks(self) -> bool:
        return "audio" in self.output_modalities

    def as_json(self, session_id: str) -> dict[str, object]:
        """The session object of ``session.created`` and ``session.updated``."""
        return {
            "id": session_id,
            "object": "realtime.session",
            "type": "realtime",
            "model": self.model,
            "instructions": self.instructions,
            "output_modalities": list(self.output_modalities),
            "audio": {
                "input": {
                    "format": self.input_format.as_json(),
                    "transcription": {
                        "model": self.transcription_model,
                        "language": self.transcription_language,
                    },
                    "turn_detection": (
                        self.turn_detection.as_json() if self.turn_detection else None
                    ),
                    "noise_reduction": None,
                },
                "output": {
                    "format": self.output_format.as_json(),
                    "voice": self.voice,
                    "model": self.speech_model,
                },
            },
            "tools": list(self.tools),
            "tool_choice": self.tool_choice,
            "berth_file_search": self.file_search,
            "berth_memory": self.memory.as_json() if self.memory else None,
            "max_output_tokens": self.max_output_tokens or "inf",
        }


def _object(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadEvent(f"{param} must be an object; got {value!r}.", param)
    return value


def _number(value: object, param: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadEvent(f"{param} must be a number from {low} to {high}; got {value!r}.", param)
    return float(value)


def _millis(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise BadEvent(f"{param} must be whole milliseconds from 0 to 10000; got {value!r}.", param)
    return value


def _flag(value: object, param: str) -> bool:
    if not isinstance(value, bool):
        raise BadEvent(f"{param} must be true or false; got {value!r}.", param)
    return value


def turn_detection(
    value: object, current: TurnDetection | None, param: str
) -> TurnDetection | None:
    """The server VAD that ``value`` asks for (None turns it off: commit by hand)."""
    if value is None:
        return None
    spec = _object(value, param)
    kind = spec.get("type", "server_vad")
    if kind != "server_vad":
        raise BadEvent(
            f"{param}.type {kind!r} is not available here; use 'server_vad' or null.",
            f"{param}.type",
        )
    base = current or TurnDetection()
    changes: dict[str, Any] = {}
    if "threshold" in spec:
        changes["threshold"] = _number(spec["threshold"], f"{param}.threshold", 0.0, 1.0)
    for name in ("prefix_padding_ms", "silence_duration_ms"):
        if name in spec:
            changes[name] = _millis(spec[name], f"{param}.{name}")
    for name in ("create_response", "interrupt_response"):
        if name in spec:
            changes[name] = _flag(spec[name], f"{param}.{name}")
    return replace(base, **changes)


def _modalities(value: object, param: str) -> tuple[Modality, ...]:
    if value not in (["text"], ["audio"], ["audio", "text"], ["text", "audio"]):
        raise BadEvent(f"{param} must be ['text'] or ['audio']; got {value!r}.", param)
    assert isinstance(value, list)
    return ("audio",) if "audio" in value else ("text",)


def _max_tokens(value: object, param: str) -> int | None:
    if value == "inf" or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise BadEvent(f"{param} must be 1 to 4096 or 'inf'; got {value!r}.", param)
    return value


def _text(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise BadEvent(f"{param} must be a string; got {value!r}.", param)
    return value


def _transcription(config: SessionConfig, value: object, param: str) -> dict[str, Any]:
    if value is None:
        return {}
    spec = _object(value, param)
    changes: dict[str, Any] = {}
    if spec.get("model") is not None:
        changes["transcription_model"] = _text(spec["model"], f"{param}.model")
    if "language" in spec:
        language = spec["language"]
        changes["transcription_language"] = (
            None if language in (None, "") else _text(language, f"{param}.language")
        )
    return changes


def _tools(value: object, param: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise BadEvent(f"{param} must be a list of tools; got {value!r}.", param)
    for index, tool in enumerate(value):
        spec = _object(tool, f"{param}[{index}]")
        if spec.get("type") != "function" or not isinstance(spec.get("name"), str):
            raise BadEvent(
                f"{param}[{index}] must be {{'type': 'function', 'name': ..., 'parameters': ...}}.",
                f"{param}[{index}]",
            )
    return tuple(value)


def _file_search(value: object, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    spec = _object(value, param)
    ids = spec.get("vector_store_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise BadEvent(
            f"{param}.vector_store_ids must name the vector stores to search (ids).",
            f"{param}.vector_store_ids",
        )
    known = {"vector_store_ids", "max_num_results", "filters", "ranking_options"}
    if set(spec) - known:
        unknown = ", ".join(sorted(set(spec) - known))
        raise BadEvent(f"{param} takes {', '.join(sorted(known))}; not {unknown}.", param)
    return dict(spec)


def _memory(value: object, param: str) -> MemoryConfig | None:
    if value is None:
        return None
    spec = _object(value, param)
    known = {"vector_store_id", "max_num_results", "score_threshold"}
    if set(spec) - known:
        unknown = ", ".join(sorted(set(spec) - known))
        raise BadEvent(f"{param} takes {', '.join(sorted(known))}; not {unknown}.", param)
    store_id = spec.get("vector_store_id")
    if store_id is None:
        return None
    if not isinstance(store_id, str) or not store_id:
        raise BadEvent(
            f"{param}.vector_store_id must be the id of a vector store of yours (or null to "
            "stop remembering).",
            f"{param}.vector_store_id",
        )
    count = spec.get("max_num_results", DEFAULT_MEMORIES)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_MEMORIES:
        raise BadEvent(
            f"{param}.max_num_results must be 1 to {MAX_MEMORIES}; got {count!r}.",
            f"{param}.max_num_results",
        )
    threshold = spec.get("score_threshold")
    if threshold is not None:
        threshold = _number(threshold, f"{param}.score_threshold", 0.0, 1.0)
    return MemoryConfig(store_id, count, threshold)


def _tool_choice(value: object, param: str) -> str | dict[str, str]:
    if value in ("auto", "none", "required"):
        return str(value)
    if (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("name"), str)
    ):
        return {"type": "function", "name": value["name"]}
    raise BadEvent(
        f"{param} must be 'auto', 'none', 'required' or {{'type': 'function', 'name': ...}}; "
        f"got {value!r}.",
        param,
    )


def _tooling(spec: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "tools" in spec:
        changes["tools"] = _tools(spec["tools"], "session.tools")
    if "tool_choice" in spec:
        changes["tool_choice"] = _tool_choice(spec["tool_choice"], "session.tool_choice")
    if "berth_file_search" in spec:
        param = "session.berth_file_search"
        changes["file_search"] = _file_search(spec["berth_file_search"], param)
    if "berth_memory" in spec:
        changes["memory"] = _memory(spec["berth_memory"], "session.berth_memory")
    return changes


def _common(config: SessionConfig, spec: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "model" in spec and spec["model"] != config.model:
        raise BadEvent(
            "session.model cannot change in a session; connect again with ?model=...",
            "session.model",
        )
    if "instructions" in spec:
        changes["instructions"] = _text(spec["instructions"], "session.instructions")
    for name in ("output_modalities", "modalities"):
        if name in spec:
            changes["output_modalities"] = _modalities(spec[name], f"session.{name}")
    changes |= _tooling(spec)
    for name in ("max_output_tokens", "max_response_output_tokens"):
        if name in spec:
            changes["max_output_tokens"] = _max_tokens(spec[name], f"session.{name}")
    if "voice" in spec:
        changes["voice"] = _text(spec["voice"], "session.voice")
    return changes


def _beta(config: SessionConfig, spec: dict[str, Any]) -> dict[str, Any]:
    """The beta protocol's flat fields."""
    changes: dict[str, Any] = {}
    for name, target in (
        ("input_audio_format", "input_format"),
        ("output_audio_format", "output_format"),
    ):
        if name in spec:
            changes[target] = audio_format(spec[name], f"session.{name}")
    if "turn_detection" in spec:
        changes["turn_detection"] = turn_detection(
            spec["turn_detection"], config.turn_detection, "session.turn_detection"
        )
    if "input_audio_transcription" in spec:
        changes |= _transcription(
            config, spec["input_audio_transcription"], "session.input_audio_transcription"
        )
    return changes


def _audio_input(config: SessionConfig, given: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "format" in given:
        changes["input_format"] = audio_format(given["format"], "session.audio.input.format")
    if "turn_detection" in given:
        changes["turn_detection"] = turn_detection(
            given["turn_detection"], config.turn_detection, "session.audio.input.turn_detection"
        )
    if "transcription" in given:
        changes |= _transcription(
            config, given["transcription"], "session.audio.input.transcription"
        )
    return changes


def _audio_output(out: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "format" in out:
        changes["output_format"] = audio_format(out["format"], "session.audio.output.format")
    if "voice" in out:
        changes["voice"] = _text(out["voice"], "session.audio.output.voice")
    if out.get("model") is not None:
        changes["speech_model"] = _text(out["model"], "session.audio.output.model")
    return changes


def updated(config: SessionConfig, session: object) -> SessionConfig:
    """``config`` with what the ``session`` of a ``session.update`` changes; raises BadEvent
    (and changes nothing) for any field it cannot take. Takes the GA shape (``audio.input``,
    ``audio.output``) and the beta one (``input_audio_format``, ``turn_detection``, ...)."""
    spec = _object(session, "session")
    kind = spec.get("type", "realtime")
    if kind != "realtime":
        raise BadEvent(f"session.type {kind!r} is not served here; use 'realtime'.", "session.type")
    changes = _common(config, spec) | _beta(config, spec)
    if "audio" in spec:
        audio = _object(spec["audio"], "session.audio")
        if "input" in audio:
            changes |= _audio_input(config, _object(audio["input"], "session.audio.input"))
        if "output" in audio:
            changes |= _audio_output(_object(audio["output"], "session.audio.output"))
    return replace(config, **changes)
