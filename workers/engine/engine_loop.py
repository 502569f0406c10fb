"""The step loop of one engine, on one thread: apply queued commands, then step while work
remains. In a worker group every rank runs one; the leader's commands of each cycle are
broadcast (`sync`) so all ranks apply the same commands in the same order and so schedule the
same batches over their own shards."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from hybridserve.errors import HybridServeError, WorkerUnavailableError
from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.loop_profile import LoopProfile
from hybridserve.workers.engine.outputs import TokenDelta
from hybridserve.workers.engine.request import FinishReason

Command = tuple[str, tuple[Any, ...]]  # an Engine method name and its arguments
Sync = Callable[[list[Command] | None], list[Command]]  # leader sends, the others receive
HEARTBEAT_S = 1.0  # an idle leader still syncs this often (peers wait in the collective)
_SHUTDOWN = "__shutdown__"
_COMMANDS = ("add_request", "abort", "stop", _SHUTDOWN)


class EngineLoop:
    """`command()` queues an engine mutation (broadcast to every rank); `local()` runs a
    read on the leader's loop thread only. Both return futures that carry the result or the
    typed error. If the loop dies (a peer rank failed), every in-flight request gets a final
    delta with `error` set, pending futures fail, and `failed` holds the cause."""

    def __init__(
        self,
        engine: Engine,
        on_deltas: Callable[[list[TokenDelta]], None],
        sync: Sync | None = None,
        leader: bool = True,
    ) -> None:
        self.engine = engine
        self.on_deltas = on_deltas
        self.sync = sync
        self.leader = leader
        self.failed: BaseException | None = None
        self._queue: queue.SimpleQueue[tuple[Command | Callable[[], Any], Future]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._cycle_futures: list[Future] = []  # the leader's commands of the current cycle

    # -- leader API (any thread) ---------------------------------------------------------------
    def command(self, name: str, *args: Any) -> Future:
        if name not in _COMMANDS:
            raise ValueError(f"not an engine command: {name}")
        return self._put((name, args))

    def local(self, fn: Callable[[], Any]) -> Future:
        return self._put(fn)

    def start(self) -> EngineLoop:
        self._thread = threading.Thread(target=self.run, name="engine-loop", daemon=True)
        self._thread.start()
        return self

    def shutdown(self, timeout_s: float = 10.0) -> None:
        if self.failed is None:
            self.command(_SHUTDOWN)
        self.join(timeout_s)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the loop thread started by `start()` to end."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _put(self, item: Command | Callable[[], Any]) -> Future:
        future: Future = Future()
        if self.failed is not None:
            future.set_exception(WorkerUnavailableError(f"worker failed: {self.failed}"))
        else:
            self._queue.put((item, future))
        return future

    # -- the loop (its own thread, or an actor's) ----------------------------------------------
    def run(self) -> None:
        profile = LoopProfile.from_env()
        try:
            while self._cycle():
                if profile is not None:
                    profile.tick()
        except BaseException as exc:  # a failed collective or step: fail what is in flight
            self.failed = exc
            self._fail_everything(exc)
        finally:
            if profile is not None:
                profile.write()

    def _cycle(self) -> bool:
        commands, futures = self._drain() if self.leader else ([], [])
        self._cycle_futures = futures
        if self.sync is not None:
            commands = self.sync(commands if self.leader else None)
        running = True
        for i, (name, args) in enumerate(commands):
            result, error = None, None
            if name == _SHUTDOWN:
                running = False
            else:
                try:
                    result = getattr(self.engine, name)(*args)
                except HybridServeError as exc:  # deterministic: every rank raises alike
                    error = exc
            if self.leader:
                _settle(futures[i], result, error)
        if running and self.engine.has_work():
            deltas = self.engine.step()
            if self.leader and deltas:
                self.on_deltas(deltas)
        return running

    def _drain(self) -> tuple[list[Command], list[Future]]:
        """The leader's queued commands; local reads run right here. Blocks while idle."""
        commands: list[Command] = []
        futures: list[Future] = []
        block = not self.engine.has_work()
        while True:
            try:
                item, future = (
                    self._queue.get(timeout=HEARTBEAT_S) if block else (self._queue.get_nowait())
                )
            except queue.Empty:
                return commands, futures
            block = False
            if callable(item):
                try:
                    future.set_result(item())
                except Exception as exc:  # handed to the caller
                    future.set_exception(exc)
            else:
                commands.append(item)
                futures.append(future)

    def _fail_everything(self, exc: BaseException) -> None:
        message = f"worker failed: {exc}"
        if self.leader:
            self.on_deltas(
                [
                    TokenDelta(
                        req.rid, req.index, [], finish_reason=FinishReason.ABORT, error=message
                    )
                    for samples in self.engine.requests.values()
                    for req in samples
                    if not req.finished
                ]
            )
        pending = [f for f in self._cycle_futures if not f.done()]
        while True:
            try:
                pending.append(self._queue.get_nowait()[1])
            except queue.Empty:
                break
        for future in pending:
            future.set_exception(WorkerUnavailableError(message))


def _settle(future: Future, result: Any, error: BaseException | None) -> None:
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class LoopFront:
    """Base of what owns a leader's loop (the in-process AsyncEngine, the process split's
    EngineBridge): reads on the engine thread, health, shutdown."""

    engine: Engine
    loop: EngineLoop

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run a read-only `fn` on the engine thread (stats, pool counters)."""
        return self.loop.local(fn)

    @property
    def healthy(self) -> bool:
        return self.loop.failed is None

    def shutdown(self) -> None:
        self.loop.shutdown()
