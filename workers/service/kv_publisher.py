"""Publishes a worker group's KV events and load over pyzmq PUB, one sequence number per message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

import zmq

from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.engine.stats import EngineStats
from hybridserve.workers.service.engine_client import EngineClient

logger = logging.getLogger(__name__)


class KVEventPublisher:
    """Drains the engine's KV events every `interval_s` and sends them as one message; every
    `load_interval_s` the message also carries a load report (sent even without events, so a
    subscriber notices a gap soon), and the engine's stats go to `on_stats` when set (the
    worker's Prometheus metrics). `snapshot()` answers a resync at a known sequence.

    Runs on one asyncio loop; `_lock` keeps drain -> number -> send atomic, so sequence numbers
    follow the engine's event order.
    """

    def __init__(
        self,
        client: EngineClient,
        bind: str = "tcp://127.0.0.1:*",
        interval_s: float = 0.02,
        load_interval_s: float = 0.5,
        context: zmq.Context | None = None,
    ) -> None:
        self.client = client
        self.interval_s = interval_s
        self.load_interval_s = load_interval_s
        self.epoch = uuid.uuid4().hex[:16]
        self.sequence = 0
        self._socket = (context or zmq.Context.instance()).socket(zmq.PUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(bind)
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task | None = None
        self.on_stats: Callable[[EngineStats], None] | None = None

    def start(self) -> None:
        self._lock = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kv-publisher")

    async def flush(self, with_load: bool = False) -> int:
        """Drain and send what is pending now; returns the last sequence sent."""
        async with self._locked():
            events = await self.client.drain_kv_events()
            load = await self.client.load() if with_load else None
            if events or load is not None:
                self._send(events, load)
            return self.sequence

    async def snapshot(self) -> tuple[int, list[wire.WireEvent]]:
        """(sequence, events rebuilding the whole index): the snapshot holds exactly the effect
        of every message up to and including `sequence`."""
        async with self._locked():
            pending, snapshot = await self.client.kv_snapshot()
            if pending:
                self._send(pending, None)
            return self.sequence, snapshot

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._socket.close(linger=0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_load = loop.time()
        while True:
            due = loop.time() >= next_load
            if due:
                next_load = loop.time() + self.load_interval_s
            try:
                await self.flush(with_load=due)
                if due and self.on_stats is not None:
                    self.on_stats(await self.client.stats())
            except Exception:  # a failed engine shows in health; retry after a load interval
                logger.exception("KV publisher: drain failed")
                await asyncio.sleep(self.load_interval_s)
            await asyncio.sleep(self.interval_s)

    def _locked(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _send(self, events: list[wire.WireEvent], load: wire.LoadReport | None) -> None:
        self.sequence += 1
        message = wire.Message(self.sequence, self.epoch, events, load)
        self._socket.send_multipart([wire.TOPIC, wire.pack_message(message)], flags=zmq.NOBLOCK)
