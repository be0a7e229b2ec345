"""The API's OpenAPI document, built without a running server (``scripts/openapi``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berth.api.app import create_app
from berth.api.runtime import Runtime
from berth.app import Berth
from berth.settings import Settings


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves."""
    document: dict[str, Any] = create_app(Runtime(Berth(settings))).openapi()
    return document


def write(path: Path, settings: Settings) -> None:
    """Write the document as stable, diff-friendly JSON."""
    text = json.dumps(openapi_document(settings), indent=2, sort_keys=True)
    path.write_text(text + "\n")
