"""Router replies -> a stream of per-sample `SampleDelta`s and one final `Usage` event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

from hybridserve.router.gateway.protocol import (
    PromptTokensDetails,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from hybridserve.router.tokenization import find_tokenizer
from hybridserve.v1 import common_pb2, router_pb2

TokenText = Callable[[int], str]

_FINISH = {
    common_pb2.FINISH_REASON_STOP: "stop",
    common_pb2.FINISH_REASON_LENGTH: "length",
    common_pb2.FINISH_REASON_ABORT: "stop",
}


class SampleDelta(NamedTuple):
    """New output of sample `index`: text, its token ids and (when asked) their logprobs;
    `finish` ("stop" or "length") on the sample's last delta."""

    index: int
    text: str
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[TokenLogprob, ...] = ()
    finish: str | None = None


Event = SampleDelta | Usage


def token_text_for(model: str) -> TokenText:
    """Decodes one token id for logprobs; "token_id:N" when the model has no tokenizer here."""
    tokenizer = find_tokenizer(model)
    if tokenizer is None:
        return lambda token_id: f"token_id:{token_id}"
    return lambda token_id: tokenizer.decode([token_id], skip_special_tokens=False)


def _logprob(token: str, logprob: float) -> TopLogprob:
    return TopLogprob(token=token, logprob=logprob, bytes=list(token.encode()))


def _token_logprobs(delta: common_pb2.TokenDelta, token_text: TokenText) -> tuple:
    out = []
    for i, (token_id, logprob) in enumerate(zip(delta.token_ids, delta.logprobs, strict=False)):
        top = []
        if i < len(delta.top_logprobs):
            for entry in delta.top_logprobs[i].entries:
                top.append(_logprob(entry.text or token_text(entry.token_id), entry.logprob))
        token = token_text(token_id)
        out.append(TokenLogprob(**_logprob(token, logprob).model_dump(), top_logprobs=top))
    return tuple(out)


async def sample_events(
    responses: AsyncIterator[router_pb2.GenerateResponse],
    token_text: TokenText,
    index_offset: int = 0,
) -> AsyncIterator[Event]:
    """Each router delta as a `SampleDelta` (index shifted by `index_offset`), then the usage."""
    async for response in responses:
        for delta in response.deltas:
            yield SampleDelta(
                index=delta.index + index_offset,
                text=delta.text,
                token_ids=tuple(delta.token_ids),
                logprobs=_token_logprobs(delta, token_text) if delta.logprobs else (),
                finish=_FINISH.get(delta.finish_reason),
            )
        if response.HasField("usage"):
            u = response.usage
            yield Usage.of(u.prompt_tokens, u.completion_tokens, u.cached_tokens)


async def merge_events(streams: list[AsyncIterator[Event]]) -> AsyncIterator[Event]:
    """Interleave the events of several requests (a completions batch); one summed usage last."""
    if len(streams) == 1:
        async for event in streams[0]:
            yield event
        return
    queue: asyncio.Queue[Event | BaseException | None] = asyncio.Queue()

    async def pump(stream: AsyncIterator[Event]) -> None:
        try:
            async for event in stream:
                await queue.put(event)
            await queue.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put(exc)

    tasks = [asyncio.create_task(pump(stream)) for stream in streams]
    usage = Usage.of(0, 0, 0)
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            elif isinstance(item, Usage):
                cached = (item.prompt_tokens_details or PromptTokensDetails()).cached_tokens
                usage = Usage.of(
                    usage.prompt_tokens + item.prompt_tokens,
                    usage.completion_tokens + item.completion_tokens,
                    usage.prompt_tokens_details.cached_tokens + cached,  # type: ignore[union-attr]
                )
            else:
                yield item
        yield usage
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def prefetch(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """Waits for the first event, so that an error before any output (bad request, no group)
    is raised here, before a streaming response has sent its status line."""
    try:
        first = await anext(events)
    except StopAsyncIteration:
        first = None

    async def chained() -> AsyncIterator[Event]:
        try:
            if first is not None:
                yield first
            async for event in events:
                yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    return chained()


class Collected(NamedTuple):
    """A whole (non-streamed) response: per choice its text, logprobs and finish reason."""

    texts: list[str]
    logprobs: list[list[TokenLogprob]]
    finishes: list[str | None]
    usage: Usage | None


async def collect(events: AsyncIterator[Event], count: int) -> Collected:
    """Gather the events of `count` choices into whole texts (the non-streaming responses)."""
    texts: list[list[str]] = [[] for _ in range(count)]
    logprobs: list[list[TokenLogprob]] = [[] for _ in range(count)]
    finishes: list[str | None] = [None] * count
    usage: Usage | None = None
    async for event in events:
        if isinstance(event, Usage):
            usage = event
            continue
        texts[event.index].append(event.text)
        logprobs[event.index].extend(event.logprobs)
        finishes[event.index] = event.finish or finishes[event.index]
    return Collected(["".join(t) for t in texts], logprobs, finishes, usage)
