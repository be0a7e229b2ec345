"""What text-to-image runners take and give back, and the limits every request must fit.

The API and the ``image`` job kind build an :class:`ImageRequest`; ``stream`` yields one
:class:`Progress` per denoising step and then one :class:`GeneratedImages` (the end of that
request's stream); ``run`` returns the :class:`GeneratedImages` alone. Plain data, so it
crosses process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth import errors
from berth.tasks.task import ModelTask, Task

MIN_SIDE = 64
MAX_SIDE = 2048
SIDE_STEP = 8
MAX_IMAGES = 4
MAX_STEPS = 100
MAX_GUIDANCE = 50.0
MAX_SEED = 2**63 - 1
MAX_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class ImageRequest:
    """One prompt to draw ``n`` images of. ``None`` fields take the model's defaults; a
    missing seed is drawn at random and reported back."""

    prompt: str
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    n: int = 1
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None


@dataclass(frozen=True)
class Progress:
    """Denoising step ``step`` of ``total`` is done."""

    step: int
    total: int


@dataclass(frozen=True)
class GeneratedImages:
    """The images of one request as PNG files, with what made them."""

    pngs: tuple[bytes, ...]
    seed: int
    width: int
    height: int
    steps: int


def check_side(name: str, value: int) -> None:
    """Raise InvalidRequest unless ``value`` is a side Berth can draw."""
    if not MIN_SIDE <= value <= MAX_SIDE or value % SIDE_STEP:
        raise errors.InvalidRequest(
            f"{name} is {value} pixels; it must be a multiple of {SIDE_STEP} between "
            f"{MIN_SIDE} and {MAX_SIDE} (512 or 1024 suit most models)."
        )


def check(request: ImageRequest) -> None:
    """Raise InvalidRequest naming the first field of ``request`` that is out of range."""
    if not request.prompt.strip():
        raise errors.InvalidRequest("The prompt is empty. Describe the image to draw.")
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise errors.InvalidRequest(
            f"The prompt has {len(request.prompt)} characters; at most {MAX_PROMPT_CHARS} are "
            "allowed. Shorten it."
        )
    if request.width is not None:
        check_side("width", request.width)
    if request.height is not None:
        check_side("height", request.height)
    if not 1 <= request.n <= MAX_IMAGES:
        raise errors.InvalidRequest(
            f"n is {request.n}; ask for 1 to {MAX_IMAGES} images per request."
        )
    if request.steps is not None and not 1 <= request.steps <= MAX_STEPS:
        raise errors.InvalidRequest(
            f"steps is {request.steps}; use 1 to {MAX_STEPS} denoising steps."
        )
    if request.guidance_scale is not None and not 0 <= request.guidance_scale <= MAX_GUIDANCE:
        raise errors.InvalidRequest(
            f"guidance_scale is {request.guidance_scale}; use 0 to {MAX_GUIDANCE:g} "
            "(0 or 1 turns guidance off)."
        )
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise errors.InvalidRequest(f"seed is {request.seed}; use 0 to {MAX_SEED}.")


def parse_size(size: str) -> tuple[int, int]:
    """``"WxH"`` as ``(width, height)``, both checked; raises InvalidRequest otherwise."""
    width, sep, height = size.lower().partition("x")
    if not sep or not width.strip().isdigit() or not height.strip().isdigit():
        raise errors.InvalidRequest(
            f"size '{size}' is not WIDTHxHEIGHT in pixels. Send something like '512x512'."
        )
    parsed = int(width), int(height)
    check_side("width", parsed[0])
    check_side("height", parsed[1])
    return parsed


IMAGE = ModelTask("images", frozenset({Task.IMAGE}), GeneratedImages, (Progress, GeneratedImages))
