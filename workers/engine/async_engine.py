"""Streaming interface over an engine loop: asyncio callers submit requests, iterate their token
deltas and abort them (the worker gRPC service uses it on rank 0 of a group)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import aclosing

from hybridserve.errors import InvalidRequestError
from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.engine_loop import EngineLoop, LoopFront, Sync
from hybridserve.workers.engine.outputs import TokenDelta, stream_deltas
from hybridserve.workers.engine.sampling_params import SamplingParams


class AsyncEngine(LoopFront):
    """Owns an `EngineLoop` thread; `sync` makes it the leader of a worker group. Deltas of
    requests submitted with `loop.command("add_request", ...)` rather than `generate` (the
    offline path of a worker group) go to `unclaimed`."""

    def __init__(
        self,
        engine: Engine,
        sync: Sync | None = None,
        unclaimed: Callable[[list[TokenDelta]], None] | None = None,
    ) -> None:
        self.engine = engine
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self._unclaimed = unclaimed
        self.loop = EngineLoop(engine, self._dispatch, sync).start()

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, rid: str
    ) -> AsyncIterator[TokenDelta]:
        """Submit and stream; bad input raises here (a typed error) before the first delta.
        Leaving the iteration early (client gone) aborts the request."""
        if rid in self._streams:  # (registering it again would cut the live stream off)
            raise InvalidRequestError(f"request id {rid!r} is already in use")
        deltas: asyncio.Queue[TokenDelta] = asyncio.Queue()
        self._streams[rid] = (asyncio.get_running_loop(), deltas)
        try:
            await asyncio.wrap_future(self.loop.command("add_request", prompt_ids, params, rid))
        except BaseException:
            self._streams.pop(rid, None)
            raise
        try:  # aclosing: an early exit aborts now, not when the collector finds the stream
            async with aclosing(stream_deltas(deltas, params.n, lambda: self.abort(rid))) as stream:
                async for delta in stream:
                    yield delta
        finally:
            self._streams.pop(rid, None)

    def abort(self, rid: str) -> Future:
        return self.loop.command("abort", rid)

    def _dispatch(self, deltas: list[TokenDelta]) -> None:
        """On the engine thread: hand a step's deltas to their streams' event loops, one wake-up
        a loop a step (a call a delta woke the loop, and took the GIL, a thousand times a step)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue, TokenDelta]]] = {}
        others = []
        for delta in deltas:
            stream = self._streams.get(delta.rid)
            if stream is not None:
                by_loop.setdefault(stream[0], []).append((stream[1], delta))
            else:
                others.append(delta)
        for loop, items in by_loop.items():
            loop.call_soon_threadsafe(_deliver, items)
        if others and self._unclaimed is not None:
            self._unclaimed(others)


def _deliver(items: list[tuple[asyncio.Queue, TokenDelta]]) -> None:
    for queue, delta in items:
        queue.put_nowait(delta)
