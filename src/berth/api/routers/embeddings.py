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

from berth.api.schemas.openai import EmbeddingRequest, EmbeddingResponse
from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep

router = APIRouter(tags=["openai"])


def inputs_of(body: EmbeddingRequest) -> list[str | list[int]]:
    """The request's input as a list: strings, or token-id lists."""
    value = body.input
    if isinstance(value, str):
        return [value]
    if value and isinstance(value[0], int):
        return [list(value)]
    return list(value)  # type: ignore[arg-type]


def encode(vector: Any, fmt: str) -> list[float] | str:
    """A vector as JSON floats or base64 little-endian float32."""
    array = np.asarray(vector, dtype=np.float32)
    if fmt == "base64":
        return base64.b64encode(array.astype("<f4").tobytes()).decode()
    floats: list[float] = array.tolist()
    return floats


@router.post("/v1/embeddings", response_model=EmbeddingResponse)
async def create_embeddings(
    body: EmbeddingRequest, request: Request, key: InferCaller, services: ServicesDep
) -> Response:
    """Embeddings for a string, a list of strings, or token arrays."""
    request.state.model = body.model
    items: Sequence[str | list[int]] = inputs_of(body)
    result = await services.inference.embed(key, body.model, items, dimensions=body.dimensions)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": encode(v, body.encoding_format),
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
