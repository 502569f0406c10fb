"""A local test cluster: in-process tiny-model worker servers and a router over loopback gRPC."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from hybridserve.router.server import RouterConfig, RouterServer
from hybridserve.v1 import router_pb2_grpc
from hybridserve.workers.engine import AsyncEngine, Engine, EngineConfig, EngineStats
from hybridserve.workers.server import WorkerServer
from hybridserve.workers.service import LocalEngineClient


@dataclass
class Cluster:
    engines: list[AsyncEngine]
    workers: list[WorkerServer]
    router: RouterServer
    channel: grpc.aio.Channel
    stub: router_pb2_grpc.RouterStub

    def group_index(self, group_id: str) -> int:
        address = self.router.registry.groups[group_id].address
        return [w.address for w in self.workers].index(address)

    async def stats(self, i: int) -> EngineStats:
        return await asyncio.wrap_future(self.engines[i].call(self.engines[i].engine.stats))

    async def sync_kv(self, timeout: float = 5.0) -> None:
        """Publish every pending KV event now and wait until the router has applied them."""
        targets = {}
        for worker in self.workers:
            if worker.address in {g.address for g in self.router.registry.groups.values()}:
                targets[worker.address] = await worker.publisher.flush()
        deadline = asyncio.get_running_loop().time() + timeout
        for group in self.router.registry.groups.values():
            if group.address not in targets:
                continue
            while group.subscriber is None or group.subscriber.sequence < targets[group.address]:
                assert asyncio.get_running_loop().time() < deadline, f"{group.id} out of sync"
                await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def local_cluster(
    num_groups: int = 2,
    policy: str = "cache_aware",
    policy_options: dict[str, float] | None = None,
    **engine_options: object,
) -> AsyncIterator[Cluster]:
    options = {"model": "tiny", "cache_bytes": 32 << 20, **engine_options}
    engines = [AsyncEngine(Engine(EngineConfig(**options))) for _ in range(num_groups)]
    workers: list[WorkerServer] = []
    router: RouterServer | None = None
    channel: grpc.aio.Channel | None = None
    try:
        for engine in engines:
            worker = WorkerServer(
                LocalEngineClient(engine), kv_interval_s=0.01, load_interval_s=0.1
            )
            workers.append(await worker.start())
        config = RouterConfig(
            policy=policy,
            policy_options={"seed": 0, **(policy_options or {})},
            groups=tuple(w.address for w in workers),
            health_interval_s=0.2,
        )
        router = await RouterServer(config).start()
        channel = grpc.aio.insecure_channel(router.address)
        cluster = Cluster(engines, workers, router, channel, router_pb2_grpc.RouterStub(channel))
        await cluster.sync_kv()
        yield cluster
    finally:
        if channel is not None:
            await channel.close()
        if router is not None:
            await router.stop()
        for worker in workers:
            await worker.stop()
        for engine in engines:
            engine.shutdown()
