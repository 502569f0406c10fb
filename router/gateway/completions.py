"""Text completions from a stream of sample events: a whole `Completion` or its chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from hybridserve.router.gateway.events import Event, collect
from hybridserve.router.gateway.protocol import (
    Completion,
    CompletionChoice,
    CompletionChunk,
    CompletionLogprobs,
    CompletionRequest,
    TokenLogprob,
    Usage,
    make_id,
)


def legacy_logprobs(logprobs: Sequence[TokenLogprob], offset: int = 0) -> CompletionLogprobs:
    """The completions API's parallel lists; `offset` is where the first token's text starts."""
    out = CompletionLogprobs()
    for entry in logprobs:
        out.tokens.append(entry.token)
        out.token_logprobs.append(entry.logprob)
        out.top_logprobs.append({top.token: top.logprob for top in entry.top_logprobs})
        out.text_offset.append(offset)
        offset += len(entry.token)
    return out


async def completion(
    request: CompletionRequest, events: AsyncIterator[Event], response_id: str | None = None
) -> Completion:
    """The whole response; choice `i * n + j` is sample j of prompt i."""
    count = len(request.prompts()) * request.n
    texts, logprobs, finishes, usage = await collect(events, count)
    asked = request.logprobs is not None
    choices = [
        CompletionChoice(
            index=i,
            text=texts[i],
            logprobs=legacy_logprobs(logprobs[i]) if asked else None,
            finish_reason=finishes[i],
        )
        for i in range(count)
    ]
    return Completion(
        id=response_id or make_id("cmpl"), model=request.model, choices=choices, usage=usage
    )


async def completion_chunks(
    request: CompletionRequest, events: AsyncIterator[Event], response_id: str | None = None
) -> AsyncIterator[CompletionChunk]:
    """One chunk per router delta (its text, logprobs, finish reason), then the usage chunk
    when `include_usage` is set."""
    rid = response_id or make_id("cmpl")
    offsets = [0] * (len(request.prompts()) * request.n)
    usage: Usage | None = None
    async for event in events:
        if isinstance(event, Usage):
            usage = event
            continue
        if not event.text and event.finish is None and not event.logprobs:
            continue
        logprobs = None
        if request.logprobs is not None:
            logprobs = legacy_logprobs(event.logprobs, offsets[event.index])
        offsets[event.index] += len(event.text)
        choice = CompletionChoice(
            index=event.index, text=event.text, logprobs=logprobs, finish_reason=event.finish
        )
        yield CompletionChunk(id=rid, model=request.model, choices=[choice])
    if request.include_usage and usage is not None:
        yield CompletionChunk(id=rid, model=request.model, choices=[], usage=usage)
