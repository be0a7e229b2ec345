"""``POST /v1/embeddings``.

The answer's JSON is written here in one step (pydantic's serializer, fed plain lists):
hundreds of floats per vector make FastAPI's check of the returned model against
``EmbeddingResponse`` and its serialization a large share of a request's cost. The schema
stays ``EmbeddingResponse`` (the OpenAPI document and the shape are the same).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import pydantic_core
from fastapi import APIRouter, Request, Response

from berth import errors
from berth.api.auth import allow_model, caller
from berth.api.runtime import inference
from berth.api.schemas.openai import EmbeddingRequest, EmbeddingResponse

router = APIRouter(tags=["openai"])


def inputs_of(body: EmbeddingRequest) -> list[str | list[int]]:
    """The request's input as a list: strings, or token-id lists."""
    value = body.input
    if isinstance(value, str):
        return [value]
    if value and isinstance(value[0], int):
        return [list(value)]
    return list(value)  # type: ignore[arg-type]


def encode(vector: Any, fmt: str, dimensions: int | None) -> list[float] | str:
    """A vector as JSON floats or base64 little-endian float32, optionally shortened."""
    array = np.asarray(vector, dtype=np.float32)
    if dimensions is not None:
        if dimensions > array.shape[-1]:
            raise errors.InvalidRequest(
                f"dimensions is {dimensions} but the model makes {array.shape[-1]}-dimensional "
                "vectors. Ask for at most that many."
            )
        array = array[:dimensions]
        norm = float(np.linalg.norm(array))
        array = array / norm if norm > 0 else array
    if fmt == "base64":
        return base64.b64encode(array.astype("<f4").tobytes()).decode()
    floats: list[float] = array.tolist()
    return floats


@router.post("/v1/embeddings", response_model=EmbeddingResponse)
async def create_embeddings(body: EmbeddingRequest, request: Request) -> Response:
    """Embeddings for a string, a list of strings, or token arrays."""
    request.state.model = body.model
    allow_model(caller(request), body.model)
    items: Sequence[str | list[int]] = inputs_of(body)
    result = await inference(request).embed(body.model, items)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": encode(v, body.encoding_format, body.dimensions),
        }
        for i, v in enumerate(result.vectors)
    ]
    usage = {
        "prompt_tokens": result.tokens,
        "total_tokens": result.tokens,
        "completion_tokens": None,
    }
    answer = {"object": "list", "data": data, "model": body.model, "usage": usage}
    return Response(pydantic_core.to_json(answer), media_type="application/json")
