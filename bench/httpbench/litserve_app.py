"""The LitServe peer: a LitAPI serving the model with dynamic batching behind LitServe's
OpenAI embeddings spec. Run as ``bench/http_embeddings.py _litserve PORT BATCH TIMEOUT_S``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import litserve  # type: ignore[import-untyped]
from litserve.specs import OpenAIEmbeddingSpec  # type: ignore[import-untyped]

from .corpus import model_dir
from .server import HOST


class MiniLMAPI(litserve.LitAPI):  # type: ignore[misc]
    """all-MiniLM-L6-v2 with sentence-transformers: a batch of strings in, a matrix out."""

    def setup(self, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)

    def predict(self, inputs: list[str]) -> Any:
        return self.model.encode(inputs, batch_size=len(inputs), convert_to_numpy=True)


def serve(argv: Sequence[str]) -> int:
    """Run LitServe on 127.0.0.1 until it is stopped."""
    port, max_batch_size, batch_timeout_s = int(argv[0]), int(argv[1]), float(argv[2])
    api = MiniLMAPI(max_batch_size=max_batch_size, batch_timeout=batch_timeout_s)
    server = litserve.LitServer(api, accelerator="cpu", spec=OpenAIEmbeddingSpec())
    server.run(host=HOST, port=port, log_level="warning", generate_client_file=False)
    return 0
