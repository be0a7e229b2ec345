"""OpenAI-shaped bodies of ``POST /v1/images/generations``, with Berth's extras."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from berth.tasks import image as images


class ImageGenerationRequest(BaseModel):
    """OpenAI's fields (``quality``, ``style`` and the like are accepted and ignored) plus
    ``seed``, ``steps``, ``negative_prompt`` and ``guidance_scale``."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1, max_length=images.MAX_PROMPT_CHARS)
    n: int = Field(default=1, ge=1, le=images.MAX_IMAGES)
    size: str | None = Field(
        default=None,
        max_length=20,
        description="WIDTHxHEIGHT in pixels, multiples of 8 from 64 to 2048; 'auto' or none: "
        "the model's own size.",
    )
    response_format: Literal["b64_json", "url"] = Field(
        default="b64_json",
        description="b64_json: the PNGs in the response. url: the images are made by an "
        "'image' job and the URLs point at its artifacts (reading them needs the jobs scope).",
    )
    user: str | None = None
    stream: bool = Field(default=False, description="Not supported: images come whole.")
    seed: int | None = Field(default=None, ge=0, le=images.MAX_SEED)
    steps: int | None = Field(default=None, ge=1, le=images.MAX_STEPS)
    negative_prompt: str | None = Field(default=None, max_length=images.MAX_PROMPT_CHARS)
    guidance_scale: float | None = Field(default=None, ge=0, le=images.MAX_GUIDANCE)


class ImageData(BaseModel):
    b64_json: str | None = None
    url: str | None = None


class ImageGenerationResponse(BaseModel):
    """OpenAI's ``ImagesResponse``; ``seed``, ``size``, ``steps`` and (for URLs) ``job`` say
    how the images were made."""

    created: int
    data: list[ImageData]
    output_format: Literal["png"] = "png"
    size: str
    seed: int
    steps: int
    job: str | None = None
