"""The engine process's side of the worker's process split: the engine loop runs here, the gRPC
server in a front-end process (`frontend.py`) that talks to it over ZMQ.

Why split: the gRPC server's per-token work (protobuf, asyncio, gRPC's Cython layer, metrics)
held the engine process's GIL for longer than the engine's own host work at high concurrency,
and the engine thread waited for it between steps. Across the split the engine thread's share
is one pickled message a step."""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial

import zmq

from hybridserve.errors import HybridServeError, InvalidRequestError, WorkerUnavailableError
from hybridserve.workers.engine import Engine, TokenDelta
from hybridserve.workers.engine.engine_loop import EngineLoop, LoopFront, Sync
from hybridserve.workers.service import ipc
from hybridserve.workers.service.engine_reads import EngineReads

POLL_MS = 200  # how often the receiving thread looks at `closed`


class EngineBridge(LoopFront):
    """Owns the leader's EngineLoop thread and a thread that takes the front-end's commands and
    reads from `endpoint` (default: a fresh ipc:// one). Each step's deltas of the front-end's
    requests go back as one message; deltas of requests submitted on `loop` directly (the rank's
    offline API) go to `unclaimed`."""

    def __init__(
        self,
        engine: Engine,
        model: str | None = None,
        sync: Sync | None = None,
        unclaimed: Callable[[list[TokenDelta]], None] | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.engine = engine
        self.reads = EngineReads(engine, model)
        self.endpoint = endpoint or ipc.new_endpoint()
        self._unclaimed = unclaimed
        self._context = zmq.Context()
        self._inbox = self._context.socket(zmq.PULL)
        self._inbox.bind(f"{self.endpoint}-in")
        self._outbox = self._context.socket(zmq.PUSH)
        self._outbox.setsockopt(zmq.SNDHWM, 0)  # a lagging front-end queues, loses nothing
        self._outbox.bind(f"{self.endpoint}-out")
        self._send_lock = threading.Lock()  # replies come from the engine and receiving threads
        self._samples_left: dict[str, int] = {}  # the front-end's requests: unfinished samples
        self._closed = threading.Event()
        self.loop = EngineLoop(engine, self._route, sync)
        self.loop.start()
        self._receiver = threading.Thread(target=self._receive, name="engine-bridge", daemon=True)
        self._receiver.start()

    def shutdown(self) -> None:
        super().shutdown()
        self._closed.set()
        self._receiver.join()
        with self._send_lock:
            self._context.destroy(linger=0)

    # -- the receiving thread ------------------------------------------------------------------
    def _receive(self) -> None:
        while not self._closed.is_set():
            if self._inbox.poll(POLL_MS):
                message = pickle.loads(self._inbox.recv())
                try:
                    self._handle(message)
                except Exception as exc:  # a message this engine cannot run: answer, carry on
                    error = WorkerUnavailableError(f"engine bridge: {exc!r}")
                    self._send((ipc.REPLY, message[1], error, None))

    def _handle(self, message: tuple) -> None:
        kind, token, name, *args = message
        if kind == ipc.READ:
            future = self.loop.local(getattr(self.reads, name))
            future.add_done_callback(partial(self._reply, token, None))
            return
        (args,) = args
        if name == "add_request":  # registered before the loop can step it
            rid = args[2]
            if rid in self._samples_left:  # live: the engine would refuse it too
                error = InvalidRequestError(f"request id {rid!r} is already in use")
                self._send((ipc.REPLY, token, error, None))
                return
            self._samples_left[rid] = args[1].n
        future = self.loop.command(name, *args)
        future.add_done_callback(partial(self._reply, token, (name, args)))

    def _reply(self, token: int, command: tuple | None, future: Future) -> None:
        error = future.exception()
        if error is not None and not isinstance(error, HybridServeError):  # may not pickle
            error = WorkerUnavailableError(f"engine error: {error!r}")
        if command is not None:
            name, args = command
            if name == "abort" or (name == "add_request" and error is not None):
                self._samples_left.pop(args[0] if name == "abort" else args[2], None)
        self._send((ipc.REPLY, token, error, None if error else future.result()))

    # -- the engine thread ---------------------------------------------------------------------
    def _route(self, deltas: list[TokenDelta]) -> None:
        ours, others = [], []
        for delta in deltas:
            left = self._samples_left.get(delta.rid)
            if left is None:
                others.append(delta)
                continue
            ours.append(delta)
            if delta.finish_reason is not None:
                if left > 1:
                    self._samples_left[delta.rid] = left - 1
                else:
                    del self._samples_left[delta.rid]
        if ours or not self.healthy:
            self._send((ipc.DELTAS, ipc.to_rows(ours), self.healthy))
        if others and self._unclaimed is not None:
            self._unclaimed(others)

    def _send(self, message: tuple) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._send_lock:
            if self._closed.is_set():
                return
            with contextlib.suppress(zmq.Again):  # no front-end connected: drop, never block
                self._outbox.send(data, zmq.NOBLOCK)
