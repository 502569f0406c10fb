"""What the engine hands back: per-step token deltas and finished request outputs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from hybridserve.workers.engine.request import FinishReason


@dataclass
class TokenDelta:
    """New tokens of one sample since the last step (the streaming unit)."""

    rid: str
    index: int  # sample index within the request (n > 1)
    token_ids: list[int]
    logprobs: list[float] | None = None
    top_logprobs: list[list[tuple[int, float]]] | None = None
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    computed_tokens: int = 0  # set on the final delta: tokens this sample ran through the model
    error: str | None = None  # set on a final delta when the worker failed the request


def merge_deltas(deltas: list[TokenDelta]) -> list[TokenDelta]:
    """One delta a sample for a run of deltas of one request, in order: a stream that fell
    behind the engine sends what has piled up as one message, not one a token."""
    if len(deltas) == 1:
        return deltas
    merged: dict[int, TokenDelta] = {}
    for delta in deltas:
        into = merged.get(delta.index)
        if into is None:
            merged[delta.index] = TokenDelta(**{**vars(delta), "token_ids": list(delta.token_ids)})
            continue
        into.token_ids += delta.token_ids
        if delta.logprobs is not None:
            into.logprobs = (into.logprobs or []) + delta.logprobs
            into.top_logprobs = (into.top_logprobs or []) + (delta.top_logprobs or [])
        into.finish_reason = delta.finish_reason
        into.computed_tokens = delta.computed_tokens
        into.error = delta.error
    return list(merged.values())


async def stream_deltas(
    deltas: asyncio.Queue[TokenDelta], samples: int, abort: Callable[[], object]
) -> AsyncIterator[TokenDelta]:
    """A request's deltas from `deltas` until each of its `samples` has finished; a backlog
    (the stream fell behind the engine) goes out merged. Leaving early (the client is gone)
    calls `abort`."""
    finished: set[int] = set()
    try:
        while len(finished) < samples:
            ready = [await deltas.get()]
            while not deltas.empty():
                ready.append(deltas.get_nowait())
            for delta in merge_deltas(ready):
                if delta.finish_reason is not None:
                    finished.add(delta.index)
                yield delta
    finally:
        if len(finished) < samples:
            abort()


@dataclass
class CompletionOutput:
    index: int
    token_ids: list[int]
    finish_reason: FinishReason | None
    text: str | None = None
    logprobs: list[float] | None = None
    top_logprobs: list[list[tuple[int, float]]] | None = None


@dataclass
class RequestOutput:
    """A finished request: all its samples and the cache counters."""

    rid: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from the prefix cache (first sample)
    computed_tokens: int = 0  # tokens run through the model, all samples together

    @property
    def token_ids(self) -> list[int]:
        return self.outputs[0].token_ids

    @property
    def text(self) -> str | None:
        return self.outputs[0].text

    @property
    def finish_reason(self) -> FinishReason | None:
        return self.outputs[0].finish_reason
