"""Streaming interface over an `Engine`: its step loop runs on one background thread, asyncio
callers submit requests, iterate their token deltas and abort them."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future

from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.outputs import TokenDelta
from hybridserve.workers.engine.sampling_params import SamplingParams


class AsyncEngine:
    """All engine calls happen on the loop thread; other threads talk to it through a queue."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="engine-loop", daemon=True)
        self._thread.start()

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, rid: str
    ) -> AsyncIterator[TokenDelta]:
        """Submit and stream; bad input raises here (a typed error) before the first delta.
        Leaving the iteration early (client gone) aborts the request."""
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[TokenDelta] = asyncio.Queue()
        self._streams[rid] = (loop, deltas)
        try:
            await asyncio.wrap_future(
                self.call(lambda: self.engine.add_request(prompt_ids, params, rid))
            )
        except BaseException:
            self._streams.pop(rid, None)
            raise
        finished: set[int] = set()
        try:
            while len(finished) < params.n:
                delta = await deltas.get()
                if delta.finish_reason is not None:
                    finished.add(delta.index)
                yield delta
        finally:
            self._streams.pop(rid, None)
            if len(finished) < params.n:
                self.abort(rid)

    def abort(self, rid: str) -> None:
        self.call(lambda: self.engine.abort(rid))

    def call(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the engine thread; the future carries its result or exception."""
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self._commands.put(run)
        return future

    def shutdown(self) -> None:
        self._stopping.set()
        self._commands.put(lambda: None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                command = self._commands.get(timeout=None if not self.engine.has_work() else 0)
            except queue.Empty:
                command = None
            while command is not None:
                command()
                try:
                    command = self._commands.get_nowait()
                except queue.Empty:
                    command = None
            if self.engine.has_work():
                for delta in self.engine.step():
                    stream = self._streams.get(delta.rid)
                    if stream is not None:
                        stream[0].call_soon_threadsafe(stream[1].put_nowait, delta)
