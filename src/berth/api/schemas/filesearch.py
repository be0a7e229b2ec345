"""The ``file_search`` tool of a chat completion (the shape of OpenAI's Responses tool) and
the ``file_citation`` annotations of its reply (OpenAI's Responses shape, plus Berth's
``vector_store_id``, ``quote`` and ``score``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from berth.api.schemas.vectors import RankingOptions
from berth.services.filesearch import DEFAULT_RESULTS, Citation, FileSearchTool


class FileSearchToolBody(BaseModel):
    """``{"type": "file_search", "vector_store_ids": [...], "max_num_results": n,
    "filters": {...}, "ranking_options": {"score_threshold": x}}``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["file_search"]
    vector_store_ids: list[str] = Field(min_length=1, max_length=2)
    max_num_results: int = Field(default=DEFAULT_RESULTS, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: RankingOptions | None = None

    def tool(self) -> FileSearchTool:
        threshold = self.ranking_options.score_threshold if self.ranking_options else None
        return FileSearchTool(
            tuple(self.vector_store_ids), self.max_num_results, self.filters, threshold
        )


class FileCitation(BaseModel):
    """A source the reply used: its file and the offset in the reply where it is cited."""

    type: Literal["file_citation"] = "file_citation"
    file_id: str
    filename: str
    index: int = Field(description="Where in the message's content the source is cited.")
    vector_store_id: str = Field(description="Berth extra: the store the chunk came from.")
    quote: str = Field(description="Berth extra: the chunk's text, as the model was shown it.")
    score: float = Field(description="Berth extra: the chunk's score for the question.")

    @classmethod
    def of(cls, citation: Citation) -> FileCitation:
        return cls(
            file_id=citation.file_id,
            filename=citation.filename,
            index=citation.index,
            vector_store_id=citation.vector_store_id,
            quote=citation.quote,
            score=citation.score,
        )
