"""Subtitles from transcript segments: SubRip (``.srt``) and WebVTT (``.vtt``)."""

from __future__ import annotations

from collections.abc import Iterable

from berth.tasks.transcribe import Segment


def timestamp(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SubRip) or, with ``separator="."``, ``HH:MM:SS.mmm`` (WebVTT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def _text(segment: Segment) -> str:
    # A blank line ends a cue in both formats, so a segment's own blank lines must go.
    return "\n".join(line for line in segment.text.strip().splitlines() if line.strip())


def srt(segments: Iterable[Segment]) -> str:
    """The segments as a SubRip file: numbered cues with start --> end times."""
    cues = [
        f"{number}\n{timestamp(s.start)} --> {timestamp(s.end)}\n{_text(s)}\n"
        for number, s in enumerate((s for s in segments if _text(s)), start=1)
    ]
    return "\n".join(cues)


def vtt(segments: Iterable[Segment]) -> str:
    """The segments as a WebVTT file."""
    cues = [
        f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{_text(s)}\n"
        for s in segments
        if _text(s)
    ]
    return "\n".join(["WEBVTT\n", *cues])
