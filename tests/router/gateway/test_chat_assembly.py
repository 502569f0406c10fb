"""Chat and completion response assembly from scripted sample events (no cluster)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from hybridserve.router.gateway.chat import chat_completion, chat_completion_chunks
from hybridserve.router.gateway.completions import completion, completion_chunks
from hybridserve.router.gateway.events import Event, SampleDelta, merge_events
from hybridserve.router.gateway.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    TokenLogprob,
    Usage,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
    "</function>\n</tool_call>"
)
TEXT = "let me look</think>Checking." + CALL


def _events(text: str, pieces: int = 7, index: int = 0) -> AsyncIterator[Event]:
    async def gen() -> AsyncIterator[Event]:
        step = max(1, len(text) // pieces)
        parts = [text[i : i + step] for i in range(0, len(text), step)]
        for k, part in enumerate(parts):
            lp = (TokenLogprob(token=part, logprob=-0.5),)
            finish = "stop" if k == len(parts) - 1 else None
            yield SampleDelta(index, part, (k,), lp, finish)
        yield Usage.of(10, len(parts), 4)

    return gen()


def _chat(**kw: object) -> ChatCompletionRequest:
    return ChatCompletionRequest(
        model="tiny", messages=[{"role": "user", "content": "weather?"}], **kw
    )


def test_whole_chat_splits_reasoning_content_and_tool_calls():
    reply = asyncio.run(chat_completion(_chat(tools=[WEATHER], logprobs=True), _events(TEXT)))
    choice = reply.choices[0]
    assert choice.message.reasoning_content == "let me look"
    assert choice.message.content == "Checking."
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert choice.finish_reason == "tool_calls"
    assert len(choice.logprobs.content) == 8
    assert reply.usage.prompt_tokens_details.cached_tokens == 4


def test_whole_chat_without_tools_or_thinking_is_all_content():
    request = _chat(chat_template_kwargs={"enable_thinking": False})
    reply = asyncio.run(chat_completion(request, _events("plain <b>text</b>")))
    assert reply.choices[0].message.content == "plain <b>text</b>"
    assert reply.choices[0].message.reasoning_content is None
    assert reply.choices[0].finish_reason == "stop"


def test_a_reply_cut_inside_its_reasoning_has_null_content():
    """As vLLM and SGLang: reasoning only (max_tokens ran out before </think>) is content null;
    an empty generation is content ""."""
    reply = asyncio.run(chat_completion(_chat(), _events("still thinking about it")))
    assert reply.choices[0].message.reasoning_content == "still thinking about it"
    assert reply.choices[0].message.content is None
    assert '"content":null' in reply.model_dump_json()
    request = _chat(chat_template_kwargs={"enable_thinking": False})
    empty = asyncio.run(chat_completion(request, _events("")))
    assert empty.choices[0].message.content == ""


def test_streamed_chat_matches_the_whole_response():
    request = _chat(tools=[WEATHER], stream=True, stream_options={"include_usage": True})

    async def collect() -> list:
        return [c async for c in chat_completion_chunks(request, _events(TEXT, pieces=40))]

    chunks = asyncio.run(collect())
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    assert "".join(d.reasoning_content or "" for d in deltas) == "let me look"
    assert "".join(d.content or "" for d in deltas) == "Checking."
    calls = [d.tool_calls[0] for d in deltas if d.tool_calls]
    assert len(calls) == 2  # id + name, then the arguments
    assert calls[0].id and calls[0].function.name == "get_weather"
    assert json.loads(calls[1].function.arguments) == {"city": "Paris"}
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 10
    for chunk in chunks:
        chunk.model_dump_json()  # serializable as sent


def test_completions_batch_merges_indexes_and_usage():
    request = CompletionRequest(model="tiny", prompt=["a", "b"], logprobs=0)
    events = merge_events([_events("abc", index=0), _events("defg", index=1)])
    reply = asyncio.run(completion(request, events))
    assert [c.text for c in reply.choices] == ["abc", "defg"]
    assert reply.choices[1].logprobs.text_offset[:2] == [0, 1]
    assert reply.usage.prompt_tokens == 20 and reply.usage.prompt_tokens_details.cached_tokens == 8

    async def stream() -> list:
        req = CompletionRequest(
            model="tiny", prompt="a", stream=True, stream_options={"include_usage": True}
        )
        return [c async for c in completion_chunks(req, _events("hello"))]

    chunks = asyncio.run(stream())
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "hello"
    assert chunks[-1].usage.completion_tokens == 5
