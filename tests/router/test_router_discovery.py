"""Ray discovery: a router with a Ray address finds the worker groups started on that cluster,
never registers a configured one twice, and drops a group that shuts down (real Ray, tiny model,
tp=1 groups)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
import pytest

from hybridserve.launch import naming
from hybridserve.launch.groups import start_groups
from hybridserve.router.server import RouterConfig, RouterServer
from hybridserve.v1 import common_pb2, router_pb2, router_pb2_grpc

pytestmark = pytest.mark.e2e

OPTIONS = {"model": "tiny", "cache_bytes": 32 << 20}
DEADLINE_S = 60.0


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


async def _serve(stub: router_pb2_grpc.RouterStub, prompt: list[int]) -> tuple[str, int]:
    sampling = common_pb2.SamplingParams(max_tokens=4, temperature=0.0, ignore_eos=True)
    request = router_pb2.GenerateRequest(
        model="tiny", token_ids=router_pb2.TokenIds(ids=prompt), sampling=sampling
    )
    replies = [r async for r in stub.Generate(request)]
    return replies[0].group, sum(len(d.token_ids) for r in replies for d in r.deltas)


def test_router_discovers_ray_groups_and_drops_a_stopped_one(ray_cluster):
    configured = start_groups(OPTIONS, [0], [None])[0]  # also given by address: kept once
    running = [configured]

    async def main() -> None:
        config = RouterConfig(
            groups=(configured.address,),
            policy="round_robin",
            health_interval_s=0.2,
            ray_address=ray_cluster.get_runtime_context().gcs_address,
            discovery_interval_s=0.2,
        )
        router = await RouterServer(config).start()
        channel = grpc.aio.insecure_channel(router.address)
        stub = router_pb2_grpc.RouterStub(channel)
        registry, discovery = router.registry, router.discovery
        assert discovery is not None
        try:
            (found,) = await asyncio.to_thread(start_groups, OPTIONS, [0], [None])
            running.append(found)
            found_id = naming.group_id(found.actor_name)
            await _until(lambda: registry.find(found.address) is not None, "found is added")
            assert registry.find(found.address).id == found_id
            rounds = discovery.rounds
            await _until(lambda: discovery.rounds >= rounds + 2, "two more rounds")
            status = await stub.ClusterStatus(router_pb2.ClusterStatusRequest())
            addresses = [g.address for g in status.groups]
            assert addresses.count(configured.address) == addresses.count(found.address) == 1
            served = [await _serve(stub, [5, 6, k + 1]) for k in range(len(addresses))]
            assert all(tokens == 4 for _, tokens in served)
            assert found_id in {group for group, _ in served}

            await asyncio.to_thread(found.shutdown)
            running.remove(found)
            await _until(lambda: found_id not in registry.groups, "found is dropped")
            for k in range(3):
                group, tokens = await _serve(stub, [7, k + 1])
                assert group != found_id and tokens == 4
            assert registry.find(configured.address) is not None
        finally:
            await channel.close()
            await router.stop()

    try:
        asyncio.run(main())
    finally:
        for group in running:
            group.shutdown()
