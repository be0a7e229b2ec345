"""A list page as OpenAI's list endpoints answer it: the items, ``first_id`` and ``last_id``
(the cursors) and ``has_more``. Routers ask their service for one item more than ``limit``
and let :func:`page_of` cut it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Up to ``limit`` items, and whether more were found after them."""

    items: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool

    def cursors(self) -> dict[str, Any]:
        """``first_id``, ``last_id`` and ``has_more``, for a list body."""
        return {"first_id": self.first_id, "last_id": self.last_id, "has_more": self.has_more}


def page_of(found: Sequence[T], limit: int, id_of: Callable[[T], str]) -> Page[T]:
    """The first ``limit`` of ``found`` (fetched with ``limit + 1``), their cursors by
    ``id_of``."""
    items = list(found[:limit])
    return Page(
        items,
        id_of(items[0]) if items else None,
        id_of(items[-1]) if items else None,
        len(found) > limit,
    )
