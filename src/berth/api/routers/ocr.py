"""OCR: ``POST /v1/ocr`` (text lines with boxes and confidences).

The image comes as a multipart upload (field ``file``, optional field ``model``) or as JSON
``{"model": ..., "image": "data:image/png;base64,..."}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from berth import errors
from berth.api.schemas.ocr import OcrBody, OcrResponse
from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep
from berth.media.images import MAX_IMAGE_BYTES, image_bytes
from berth.services.ocr import DEFAULT_MODEL, document

router = APIRouter(tags=["ocr"])
SEND = (
    "Send the image as a multipart upload in the field 'file', or as JSON "
    '{"model": "rapidocr", "image": "data:image/png;base64,..."}.'
)
BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": {"type": "string", "default": DEFAULT_MODEL},
                    },
                }
            },
            "application/json": {"schema": OcrBody.model_json_schema()},
        },
    }
}


async def upload(request: Request) -> tuple[str, bytes]:
    """The model and image bytes of a multipart upload."""
    async with request.form(max_files=1, max_fields=4) as form:
        file, model = form.get("file"), form.get("model") or DEFAULT_MODEL
        if not isinstance(file, UploadFile) or not isinstance(model, str):
            raise errors.InvalidRequest(f"The upload has no file in the field 'file'. {SEND}")
        data = await file.read(MAX_IMAGE_BYTES + 1)
    return model, data


async def json_body(request: Request) -> tuple[str, bytes]:
    """The model and image bytes of a JSON request."""
    try:
        body = OcrBody.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise errors.InvalidRequest(f"The JSON body is invalid ({problems}). {SEND}") from None
    return body.model, image_bytes(body.image)


@router.post("/v1/ocr", response_model=OcrResponse, openapi_extra=BODY_DOC)
async def ocr(request: Request, key: InferCaller, services: ServicesDep) -> dict[str, Any]:
    """The text lines of an image, in reading order, with boxes and confidences."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        model, data = await upload(request)
    elif content_type == "application/json":
        model, data = await json_body(request)
    else:
        raise errors.UnsupportedMedia(
            f"POST /v1/ocr takes multipart/form-data or application/json, not "
            f"'{content_type or 'no content type'}'. {SEND}"
        )
    request.state.model = model
    result = await services.ocr.read(key, model, data)
    return document(model, result)
