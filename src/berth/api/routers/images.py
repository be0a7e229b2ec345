"""Text-to-image: ``POST /v1/images/generations``."""

from __future__ import annotations

import base64
import time

from fastapi import APIRouter, Request, Response

from berth import errors
from berth.api.schemas.images import ImageData, ImageGenerationRequest, ImageGenerationResponse
from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep
from berth.keys.key import ApiKey
from berth.services.images import ImageService
from berth.tasks.image import ImageRequest, parse_size

router = APIRouter(tags=["openai"])
SEED_HEADER = "X-Berth-Seed"


def image_request(body: ImageGenerationRequest) -> ImageRequest:
    """What the runner draws for ``body``; a bad size is a 400 that says the right form."""
    if body.stream:
        raise errors.InvalidRequest(
            "Berth answers images whole: send the request without stream, or submit an "
            "'image' job and follow its events for each denoising step."
        )
    width = height = None
    if body.size is not None and body.size != "auto":
        width, height = parse_size(body.size)
    return ImageRequest(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        width=width,
        height=height,
        n=body.n,
        seed=body.seed,
        steps=body.steps,
        guidance_scale=body.guidance_scale,
    )


async def as_base64(
    service: ImageService, key: ApiKey | None, body: ImageGenerationRequest, wanted: ImageRequest
) -> ImageGenerationResponse:
    drawn = await service.generate(key, body.model, wanted)
    return ImageGenerationResponse(
        created=int(time.time()),
        data=[ImageData(b64_json=base64.b64encode(png).decode()) for png in drawn.pngs],
        size=f"{drawn.width}x{drawn.height}",
        seed=drawn.seed,
        steps=drawn.steps,
    )


async def as_urls(
    service: ImageService,
    key: ApiKey | None,
    body: ImageGenerationRequest,
    wanted: ImageRequest,
    request: Request,
) -> ImageGenerationResponse:
    job = await service.generate_as_job(key, body.model, wanted)
    base = str(request.base_url).rstrip("/")
    result = job.result if isinstance(job.result, dict) else {}
    return ImageGenerationResponse(
        created=int(time.time()),
        data=[ImageData(url=f"{base}/v1/jobs/{job.id}/artifacts/{a.name}") for a in job.artifacts],
        size=f"{result['width']}x{result['height']}",
        seed=int(str(result["seed"])),
        steps=int(str(result["steps"])),
        job=job.id,
    )


@router.post("/v1/images/generations", response_model=ImageGenerationResponse)
async def generate_images(
    body: ImageGenerationRequest,
    request: Request,
    response: Response,
    key: InferCaller,
    services: ServicesDep,
) -> ImageGenerationResponse:
    """Images for a prompt, as base64 PNGs or (``response_format: url``) as the artifacts of
    an ``image`` job, whose URLs need the jobs scope to read. The seed used is in the
    ``seed`` field and the X-Berth-Seed header."""
    request.state.model = body.model
    wanted = image_request(body)
    if body.response_format == "b64_json":
        answer = await as_base64(services.images, key, body, wanted)
    else:
        answer = await as_urls(services.images, key, body, wanted, request)
    response.headers[SEED_HEADER] = str(answer.seed)
    return answer
