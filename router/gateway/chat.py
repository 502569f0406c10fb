"""Chat completions from a stream of sample events: a whole `ChatCompletion` or its chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

from hybridserve.router.gateway.chat_stream import ChoiceStream
from hybridserve.router.gateway.events import Event, collect
from hybridserve.router.gateway.parsers import (
    finish_reason,
    parse_reasoning,
    parse_tool_calls,
    parses_tool_calls,
)
from hybridserve.router.gateway.protocol import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionChunk,
    ChatCompletionChunkChoice,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChoiceLogprobs,
    DeltaMessage,
    TokenLogprob,
    Usage,
    make_id,
)


def _message(request: ChatCompletionRequest, text: str) -> ChatCompletionMessage:
    thinking = request.enable_thinking
    reasoning, content = parse_reasoning(text, in_reasoning=thinking, enable_thinking=thinking)
    calls = []
    if content and parses_tool_calls(request.tools, request.tool_choice):
        content, calls = parse_tool_calls(content, request.tools)
    if content is None and not calls and reasoning is None:  # nothing generated at all
        content = ""
    return ChatCompletionMessage(
        content=content, reasoning_content=reasoning, tool_calls=calls or None
    )


async def chat_completion(
    request: ChatCompletionRequest, events: AsyncIterator[Event], response_id: str | None = None
) -> ChatCompletion:
    """The whole response: each choice's text split into reasoning, content and tool calls."""
    texts, logprobs, finishes, usage = await collect(events, request.n)
    choices = []
    for i in range(request.n):
        message = _message(request, texts[i])
        choices.append(
            ChatCompletionChoice(
                index=i,
                message=message,
                logprobs=ChoiceLogprobs(content=logprobs[i]) if request.logprobs else None,
                finish_reason=finish_reason(finishes[i], message.tool_calls or []),
            )
        )
    return ChatCompletion(
        id=response_id or make_id("chatcmpl"), model=request.model, choices=choices, usage=usage
    )


async def chat_completion_chunks(
    request: ChatCompletionRequest, events: AsyncIterator[Event], response_id: str | None = None
) -> AsyncIterator[ChatCompletionChunk]:
    """The streamed response: a role chunk per choice, one chunk per reasoning, content or
    tool-call piece, a finish chunk per choice, and (with `include_usage`) a usage chunk."""
    rid = response_id or make_id("chatcmpl")

    def chunk(
        index: int,
        delta: DeltaMessage,
        logprobs: list[TokenLogprob] | None = None,
        finish: str | None = None,
    ) -> ChatCompletionChunk:
        lp = ChoiceLogprobs(content=logprobs) if logprobs else None
        choice = ChatCompletionChunkChoice(
            index=index, delta=delta, logprobs=lp, finish_reason=finish
        )
        return ChatCompletionChunk(id=rid, model=request.model, choices=[choice])

    streams = [ChoiceStream(request) for _ in range(request.n)]
    pending: list[list[TokenLogprob]] = [[] for _ in range(request.n)]
    usage: Usage | None = None
    for i in range(request.n):
        yield chunk(i, DeltaMessage(role="assistant", content=""))
    async for event in events:
        if isinstance(event, Usage):
            usage = event
            continue
        i, stream = event.index, streams[event.index]
        pending[i].extend(event.logprobs)
        messages = stream.feed(event.text) if event.text else []
        if event.finish is not None:
            messages += stream.finish()
        for message in messages:
            yield chunk(i, message, pending[i])
            pending[i] = []
        if event.finish is not None:
            reason = stream.finish_reason(event.finish)
            yield chunk(i, DeltaMessage(), pending[i], reason)
            pending[i] = []
    if request.include_usage and usage is not None:
        yield ChatCompletionChunk(id=rid, model=request.model, choices=[], usage=usage)
