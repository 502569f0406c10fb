"""The front-end process's EngineClient: the engine runs in another process (an EngineBridge),
reached over ZMQ. Streams and replies are demultiplexed by one reader task."""

from __future__ import annotations

import asyncio
import itertools
import pickle
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import zmq
import zmq.asyncio

from hybridserve.errors import InvalidRequestError
from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.engine import EngineStats, SamplingParams, TokenDelta
from hybridserve.workers.engine.outputs import stream_deltas
from hybridserve.workers.service import ipc
from hybridserve.workers.service.engine_client import EngineInfo

PING_S = 0.2  # connect() asks again after this long without an answer


class RemoteEngineClient:
    """EngineClient over an EngineBridge at `endpoint`. `await connect()` first, on the loop
    that will use it (the gRPC server's)."""

    def __init__(self, endpoint: str, info: EngineInfo) -> None:
        self.endpoint = endpoint
        self.info = info
        self._healthy = True
        self._streams: dict[str, asyncio.Queue[TokenDelta]] = {}
        self._replies: dict[int, asyncio.Future] = {}
        self._tokens = itertools.count()
        self._context: zmq.asyncio.Context | None = None
        self._send_socket: zmq.asyncio.Socket | None = None
        self._reader: asyncio.Task | None = None

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, rid: str
    ) -> AsyncIterator[TokenDelta]:
        """Submit and stream; bad input raises here (a typed error) before the first delta.
        Leaving the iteration early (client gone) aborts the request."""
        if rid in self._streams:
            raise InvalidRequestError(f"request id {rid!r} is already in use")
        deltas: asyncio.Queue[TokenDelta] = asyncio.Queue()
        self._streams[rid] = deltas
        try:
            await self._ask(ipc.COMMAND, "add_request", (prompt_ids, params, rid))
        except BaseException:
            self._streams.pop(rid, None)
            raise

        def abort() -> None:  # the client left: nobody waits for the answer
            self._post(ipc.COMMAND, next(self._tokens), "abort", (rid,))

        try:
            async with aclosing(stream_deltas(deltas, params.n, abort)) as stream:
                async for delta in stream:
                    yield delta
        finally:
            self._streams.pop(rid, None)

    async def abort(self, rid: str) -> bool:
        return bool(await self._ask(ipc.COMMAND, "abort", (rid,)))

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def load(self) -> wire.LoadReport:
        return await self._ask(ipc.READ, "load")

    async def stats(self) -> EngineStats:
        return await self._ask(ipc.READ, "stats")

    async def drain_kv_events(self) -> list[wire.WireEvent]:
        return await self._ask(ipc.READ, "drain_kv_events")

    async def kv_snapshot(self) -> tuple[list[wire.WireEvent], list[wire.WireEvent]]:
        return await self._ask(ipc.READ, "kv_snapshot")

    async def connect(self, timeout_s: float = 30.0) -> RemoteEngineClient:
        """Open the sockets and wait until the bridge answers: the bridge drops what it sends
        before the front-end's receiving socket is attached, so nothing is asked before that."""
        self._context = zmq.asyncio.Context()
        self._send_socket = self._context.socket(zmq.PUSH)
        self._send_socket.setsockopt(zmq.SNDHWM, 0)
        self._send_socket.connect(f"{self.endpoint}-in")
        receive = self._context.socket(zmq.PULL)
        receive.setsockopt(zmq.RCVHWM, 0)
        receive.connect(f"{self.endpoint}-out")
        self._reader = asyncio.get_running_loop().create_task(self._read(receive))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                await asyncio.wait_for(self._ask(ipc.READ, "ping"), PING_S)
                return self
            except TimeoutError:
                if asyncio.get_running_loop().time() > deadline:
                    raise ConnectionError(f"no engine answers at {self.endpoint}") from None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._context is not None:
            self._context.destroy(linger=0)

    async def _ask(self, kind: str, name: str, *args: Any) -> Any:
        token = next(self._tokens)
        reply = asyncio.get_running_loop().create_future()
        self._replies[token] = reply
        try:
            self._post(kind, token, name, *args)
            return await reply
        finally:
            self._replies.pop(token, None)

    def _post(self, kind: str, token: int, name: str, *args: Any) -> None:
        assert self._send_socket is not None, "connect() first"
        data = pickle.dumps((kind, token, name, *args), protocol=pickle.HIGHEST_PROTOCOL)
        self._send_socket.send(data, zmq.NOBLOCK)  # PUSH to a bound peer: queues, never waits

    async def _read(self, socket: zmq.asyncio.Socket) -> None:
        while True:
            message = pickle.loads(await socket.recv())
            if message[0] == ipc.DELTAS:
                _, rows, healthy = message
                self._healthy = self._healthy and healthy
                for row in rows:
                    stream = self._streams.get(row[0])
                    if stream is not None:
                        stream.put_nowait(ipc.from_row(row))
                continue
            _, token, error, value = message
            reply = self._replies.get(token)
            if reply is not None and not reply.done():
                if error is not None:
                    reply.set_exception(error)
                else:
                    reply.set_result(value)
