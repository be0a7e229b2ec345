"""A realtime session's retrieval port on fake models: ``berth_memory`` settings checked, each
finished turn handed to the memory before ``response.done`` (after a barge-in only what was
heard), what retrieval found cited in ``response.done``, a failed write reported without
failing the reply; and the memory's system message, bounded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from berth import errors
from berth.realtime.config import MemoryConfig, SessionConfig
from berth.realtime.events import BadEvent
from berth.realtime.retrieval import Retrieved, Turn
from berth.realtime.session import RealtimeSession
from berth.services.memory import MAX_RECALL_CHARS, PREAMBLE, turn_text, with_memories
from berth.services.vectorsearch import Found
from berth.tasks.generate import ChatMessage
from berth.vectors.record import Hit
from tests.unit.test_realtime import Client, Models, config, utterance

pytestmark = pytest.mark.unit
MEMORY = {"vector_store_id": "vs_mem"}


class Recording:
    """A retrieval that adds one system message and records the turns it is given."""

    def __init__(self, fail: bool = False) -> None:
        self.turns: list[Turn] = []
        self.revised: list[Turn] = []
        self.fail = fail
        self.sent_before: list[int] = []
        self.events: list[dict[str, Any]] = []

    async def retrieve(self, config: SessionConfig, messages: tuple[ChatMessage, ...]) -> Retrieved:
        if config.memory is None:
            return Retrieved(messages)
        shown = (ChatMessage("system", "From earlier: the cat is Miso."), *messages)
        return Retrieved(shown, lambda reply: [{"type": "berth_memory", "reply": reply}])

    async def remember(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        self.sent_before.append(len([e for e in self.events if e["type"] == "response.done"]))
        if self.fail:
            raise errors.UnknownVectorStore("No vector store has the id 'vs_mem'.")
        self.turns.append(turn)
        return {"file_id": f"file-{len(self.turns)}"} if config.memory else None

    async def revise(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        self.revised.append(turn)
        return {"file_id": "file-revised"}


def client_with(retrieval: Recording, **settings: Any) -> tuple[Client, Models]:
    models = Models(delay=settings.pop("delay", 0.0))
    client = Client(models)
    client.session = RealtimeSession(
        config(**settings), models.calls, client.receive, retrieval=retrieval, session_id="sess_a"
    )
    retrieval.events = client.events
    return client, models


async def say(client: Client, text: str) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await client.session.handle({"type": "conversation.item.create", "item": item})
    await client.session.handle({"type": "response.create"})


def test_memory_settings_are_checked() -> None:
    on = config(berth_memory={**MEMORY, "max_num_results": 2, "score_threshold": 0.3})
    assert on.memory == MemoryConfig("vs_mem", 2, 0.3)
    assert on.as_json("s")["berth_memory"] == {
        "vector_store_id": "vs_mem",
        "max_num_results": 2,
        "score_threshold": 0.3,
    }
    assert config(berth_memory=MEMORY).memory == MemoryConfig("vs_mem", 4, None)
    off = {"vector_store_id": None}
    assert config(berth_memory=off).memory is None and config(berth_memory=None).memory is None
    for bad, param in [
        ({"vector_store_id": 3}, "session.berth_memory.vector_store_id"),
        ({**MEMORY, "max_num_results": 11}, "session.berth_memory.max_num_results"),
        ({**MEMORY, "score_threshold": 2}, "session.berth_memory.score_threshold"),
        ({**MEMORY, "model": "x"}, "session.berth_memory"),
        ("vs_mem", "session.berth_memory"),
    ]:
        with pytest.raises(BadEvent) as raised:
            config(berth_memory=bad)
        assert raised.value.param == param


async def test_a_turn_is_remembered_before_response_done_and_cited() -> None:
    retrieval = Recording()
    client, models = client_with(
        retrieval, turn_detection=None, output_modalities=["text"], berth_memory=MEMORY
    )
    await say(client, "my cat is Miso")
    await client.done()
    [turn] = retrieval.turns
    assert (turn.session_id, turn.status, turn.user) == ("sess_a", "completed", "my cat is Miso")
    assert turn.assistant == models.reply
    assert retrieval.sent_before == [0]
    [done] = client.of("response.done")
    assert done["response"]["berth_memory"] == {"file_id": "file-1"}
    assert done["response"]["berth_citations"] == [{"type": "berth_memory", "reply": models.reply}]
    [request] = models.requests
    assert request.messages[0] == ChatMessage("system", "From earlier: the cat is Miso.")

    await client.session.handle({"type": "response.create"})  # the same user item again
    await client.done(2)
    assert retrieval.turns[1].user == "my cat is Miso"  # the port decides what to keep


async def test_without_memory_response_done_has_no_berth_fields() -> None:
    retrieval = Recording()
    client, _ = client_with(retrieval, turn_detection=None, output_modalities=["text"])
    await say(client, "hello")
    await client.done()
    [done] = client.of("response.done")
    assert "berth_citations" not in done["response"] and "berth_memory" not in done["response"]


async def test_after_barge_in_only_what_was_heard_is_remembered() -> None:
    retrieval = Recording()
    client, _ = client_with(retrieval, delay=0.05, berth_memory=MEMORY)
    await client.speak(utterance())
    for _ in range(400):
        if client.of("response.output_audio.delta"):
            break
        await asyncio.sleep(0.01)
    await client.speak(utterance())
    await client.done(2)
    first = retrieval.turns[0]
    assert first.status == "cancelled" and first.user == "what is up"
    assert first.assistant.startswith("First part.") and "Third part." not in first.assistant
    kept = client.of("response.done")[0]["response"]["output"][0]["content"][0]["transcript"]
    assert first.assistant == kept


async def test_a_truncated_reply_is_remembered_as_the_client_heard_it() -> None:
    retrieval = Recording()
    client, models = client_with(retrieval, turn_detection=None, berth_memory=MEMORY)
    await say(client, "tell me three things")
    await client.done()
    item_id = client.of("response.done")[0]["response"]["output"][0]["id"]
    assert retrieval.turns[0].assistant == models.reply
    truncate = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0}
    await client.session.handle({**truncate, "audio_end_ms": 1000})  # two sentences of 0.5 s
    [truncated] = client.of("conversation.item.truncated")
    assert truncated["berth_memory"] == {"file_id": "file-revised"}
    [revised] = retrieval.revised
    assert revised.assistant == "First part. Second part." and revised.assistant_item_id == item_id
    assert revised.user == "tell me three things"
    await client.session.handle({**truncate, "audio_end_ms": 1000})  # nothing more cut
    assert len(retrieval.revised) == 1
    assert "berth_memory" not in client.of("conversation.item.truncated")[1]


async def test_a_failed_write_is_an_error_event_and_the_reply_still_completes() -> None:
    retrieval = Recording(fail=True)
    client, _ = client_with(
        retrieval, turn_detection=None, output_modalities=["text"], berth_memory=MEMORY
    )
    await say(client, "hello")
    await client.done()
    [error] = client.of("error")
    assert error["error"]["code"] == "berth_memory_write_failed"
    assert "not remembered" in error["error"]["message"] and "vs_mem" in error["error"]["message"]
    [done] = client.of("response.done")
    assert done["response"]["status"] == "completed" and "berth_memory" not in done["response"]


def found(text: str, score: float = 0.9) -> Found:
    return Found(Hit("file-1", 0, text, 1 - score), "memory.txt", {"session_id": "sess_x"})


def test_memories_join_the_leading_system_message_bounded() -> None:
    question = ChatMessage("user", "what is my cat called?")
    assert with_memories((question,), []) == (question,)
    alone = with_memories((question,), [found("User: my cat is Miso\n")])
    assert alone == (ChatMessage("system", f"{PREAMBLE}\n- User: my cat is Miso"), question)
    rules = ChatMessage("system", "Be brief.")
    merged = with_memories((rules, question), [found("a " * 5000), found("b " * 5000)])
    assert len(merged) == 2 and merged[1] == question
    assert merged[0].content.startswith("Be brief.\n\n" + PREAMBLE)
    assert len(merged[0].content) < len("Be brief.") + len(PREAMBLE) + MAX_RECALL_CHARS + 20
    assert "b b" not in merged[0].content  # the first memory used up the budget


def test_a_turn_is_stored_as_who_said_what() -> None:
    assert turn_text("hi", "hello") == "User: hi\nAssistant: hello\n"
    assert turn_text("", "hello") == "Assistant: hello\n"
