"""Subscribes to one worker group's KV events (pyzmq SUB) and keeps the prefix index in sync.

Every message carries the publisher's sequence number and epoch. The first message, any gap
(seq != last + 1) and any epoch change (a restarted publisher) trigger a resync: the group's
entries are dropped and rebuilt from its full snapshot (Worker.GetKVSnapshot), which is exact
up to a known sequence; messages up to that sequence are then skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import zmq
import zmq.asyncio

from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.v1 import kv_wire as wire

logger = logging.getLogger(__name__)

# (sequence, epoch, events rebuilding the group's entries)
SnapshotFetcher = Callable[[], Awaitable[tuple[int, str, list[wire.WireEvent]]]]


class KVEventSubscriber:
    """Runs as one task on the router's loop; only that loop touches the index."""

    def __init__(
        self,
        group_id: str,
        endpoint: str,
        index: PrefixIndex,
        fetch_snapshot: SnapshotFetcher,
        on_load: Callable[[wire.LoadReport], None],
        context: zmq.asyncio.Context,
        retry_s: float = 0.5,
    ) -> None:
        self.group_id = group_id
        self.endpoint = endpoint
        self.index = index
        self.fetch_snapshot = fetch_snapshot
        self.on_load = on_load
        self.retry_s = retry_s
        self.sequence = 0
        self.epoch: str | None = None
        self.resyncs = 0
        self._socket = context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SUBSCRIBE, wire.TOPIC)
        self._socket.connect(endpoint)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"kv-events-{self.group_id}"
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._socket.close(linger=0)
        self.index.clear_group(self.group_id)

    async def resync(self) -> None:
        sequence, epoch, events = await self.fetch_snapshot()
        self.index.clear_group(self.group_id)
        self.index.apply(self.group_id, events)
        self.sequence, self.epoch = sequence, epoch
        self.resyncs += 1

    def handle(self, message: wire.Message) -> bool:
        """Apply one message; False when it shows a gap or a restart (resync needed)."""
        if message.epoch != self.epoch or message.seq > self.sequence + 1:
            return False
        if message.seq <= self.sequence:  # already in the snapshot
            return True
        self.index.apply(self.group_id, message.events)
        self.sequence = message.seq
        if message.load is not None:
            self.on_load(message.load)
        return True

    async def _run(self) -> None:
        await self._resync_until_done()
        while True:
            _, data = await self._socket.recv_multipart()
            message = wire.unpack_message(data)
            if not self.handle(message):
                logger.info(
                    "KV events of %s: resync (got seq %d epoch %s, had %d epoch %s)",
                    self.group_id,
                    message.seq,
                    message.epoch,
                    self.sequence,
                    self.epoch,
                )
                await self._resync_until_done()
                self.handle(message)

    async def _resync_until_done(self) -> None:
        while True:
            try:
                await self.resync()
                return
            except Exception as exc:  # the group may be down; its health check decides
                logger.warning("KV snapshot of %s failed: %s", self.group_id, exc)
                await asyncio.sleep(self.retry_s)
