"""What a realtime response retrieves before the model runs, and what it remembers after: the
session's port to stores (``berth_file_search`` sources, the ``berth_memory`` store), kept
apart from the transport and from the services that answer it.

Before a response's model call, :meth:`Retrieval.retrieve` takes its messages and returns
them with what it found (:class:`Retrieved`, which also says how to cite it). When the
response ends (completed, or cancelled with the part of the reply that was sent or heard),
:meth:`Retrieval.remember` is given the :class:`Turn`, before ``response.done`` goes out.
:class:`NoRetrieval` does neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from berth import errors
from berth.realtime.config import SessionConfig
from berth.realtime.conversation import Conversation, Item
from berth.realtime.events import Send, error_event
from berth.tasks.generate import ChatMessage

Cite = Callable[[str], list[dict[str, Any]]]
"""The citations of what was retrieved, given the reply's text."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange of a session: the user's text (typed, or the transcript of their audio)
    and the assistant's reply as kept in its item."""

    session_id: str
    response_id: str
    status: str
    user: str
    assistant: str
    user_item_id: str | None = None
    assistant_item_id: str | None = None


@dataclass(frozen=True)
class Retrieved:
    """A response's messages with what retrieval added; ``cite`` is None when nothing was
    searched (the response then has no ``berth_citations``)."""

    messages: tuple[ChatMessage, ...]
    cite: Cite | None = None

    def citations(self, reply: str) -> list[dict[str, Any]] | None:
        """What the reply cites of the retrieved chunks (None when nothing was searched)."""
        return None if self.cite is None else self.cite(reply)


class Retrieval(Protocol):
    """A session's retrieval and memory."""

    async def retrieve(self, config: SessionConfig, messages: tuple[ChatMessage, ...]) -> Retrieved:
        """``messages`` with what the session's stores hold for the newest user text."""
        ...

    async def remember(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        """Write ``turn`` durably where the session remembers; what was written (for the
        response's ``berth_memory``), or None when the session does not remember."""
        ...

    async def revise(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        """The reply of ``turn`` was truncated (the client played less of it): write it again
        as kept where it was remembered; what was written, or None if it was not."""
        ...


class NoRetrieval:
    """A session that neither retrieves nor remembers."""

    async def retrieve(self, config: SessionConfig, messages: tuple[ChatMessage, ...]) -> Retrieved:
        return Retrieved(messages)

    async def remember(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        return None

    async def revise(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        return None


def turn_of(
    conversation: Conversation, item: Item, *, session_id: str, response_id: str, status: str
) -> Turn | None:
    """The turn the assistant message ``item`` ends: the newest user text before it and
    the reply as the item keeps it; None when neither says anything."""
    user = conversation.user_before(item)
    turn = Turn(
        session_id=session_id,
        response_id=response_id,
        status=status,
        user=user.text if user is not None else "",
        assistant=item.text,
        user_item_id=user.id if user is not None else None,
        assistant_item_id=item.id,
    )
    return turn if turn.user or turn.assistant else None


async def written(attempt: Awaitable[dict[str, Any] | None], send: Send) -> dict[str, Any] | None:
    """What ``attempt`` (a remember or a revise) wrote; if it failed, an ``error`` event
    saying so (the conversation goes on) and None."""
    try:
        return await attempt
    except errors.BerthError as exc:
        await send(
            error_event(
                f"This turn was not remembered: {exc.message}",
                kind="server_error",
                code="berth_memory_write_failed",
            )
        )
        return None
