"""The KV-event subscriber over real pyzmq sockets: in-order apply, gap and restart resyncs."""

from __future__ import annotations

import asyncio

import zmq
import zmq.asyncio

from hybridserve.router.kv_events import KVEventSubscriber
from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.v1 import kv_wire as wire


def _stored(*hashes: int) -> wire.BlockStored:
    return wire.BlockStored(tuple(hashes), None, 4)


class FakeGroup:
    """A publisher socket plus the snapshot a real group would return."""

    def __init__(self, context: zmq.Context) -> None:
        self.socket = context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind("tcp://127.0.0.1:*")
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.epoch, self.seq, self.blocks = "a", 0, set()
        self.snapshots = 0

    async def fetch_snapshot(self):
        self.snapshots += 1
        return self.seq, self.epoch, [_stored(*sorted(self.blocks))] if self.blocks else []

    def publish(self, *hashes: int, send: bool = True, load: wire.LoadReport | None = None):
        self.seq += 1
        self.blocks |= set(hashes)
        message = wire.Message(self.seq, self.epoch, [_stored(*hashes)] if hashes else [], load)
        if send:
            self.socket.send_multipart([wire.TOPIC, wire.pack_message(message)])


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_subscriber_applies_in_order_and_resyncs_on_gaps_and_restarts():
    async def main():
        pub_ctx, sub_ctx = zmq.Context(), zmq.asyncio.Context()
        group = FakeGroup(pub_ctx)
        index = PrefixIndex(4)
        loads = []
        sub = KVEventSubscriber(
            "g", group.endpoint, index, group.fetch_snapshot, loads.append, sub_ctx
        )
        try:
            group.publish(1)  # before the subscriber exists: only the snapshot can carry it
            sub.start()
            await _until(lambda: sub.resyncs == 1)
            assert index.num_blocks("g") == 1
            # the SUB connection may still be joining: publish until one message arrives
            while sub.sequence == 1:
                group.publish(2)
                await asyncio.sleep(0.02)
            await _until(lambda: sub.sequence == group.seq)
            resyncs = sub.resyncs
            report = wire.LoadReport(*range(9))
            group.publish(3, load=report)
            await _until(lambda: sub.sequence == group.seq)
            assert sub.resyncs == resyncs and loads[-1] == report
            assert index.num_blocks("g") == 3

            group.publish(4, send=False)  # lost: the next message shows a gap
            group.publish(5)
            await _until(lambda: sub.resyncs == resyncs + 1 and sub.sequence == group.seq)
            assert index.num_blocks("g") == 5

            group.epoch, group.seq, group.blocks = "b", 0, set()  # the publisher restarted
            group.publish(9)
            await _until(lambda: sub.epoch == "b" and sub.sequence == group.seq)
            assert index.num_blocks("g") == 1 and sub.resyncs == resyncs + 2
        finally:
            await sub.close()
            group.socket.close(linger=0)
            pub_ctx.term()
            sub_ctx.term()
        assert index.num_blocks("g") == 0

    asyncio.run(main())
