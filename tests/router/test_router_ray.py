"""The router in front of two Ray worker groups (real Ray, gloo-free tp=1 groups, tiny model):
streaming, health, and routing around a group whose rank died."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import ray
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hybridserve.launch.groups import start_groups
from hybridserve.router.server import RouterConfig, RouterServer
from hybridserve.v1 import common_pb2, router_pb2, router_pb2_grpc

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def groups(ray_cluster):
    started = start_groups({"model": "tiny", "cache_bytes": 32 << 20}, [0, 0], [None, None])
    yield started
    for group in started:
        group.shutdown()


def _request(prompt: list[int]) -> router_pb2.GenerateRequest:
    sampling = common_pb2.SamplingParams(max_tokens=6, temperature=0.0, ignore_eos=True)
    ids = router_pb2.TokenIds(ids=prompt)
    return router_pb2.GenerateRequest(model="tiny", token_ids=ids, sampling=sampling)


async def _tokens(stub: router_pb2_grpc.RouterStub, prompt: list[int]) -> tuple[str, list[int]]:
    replies = [r async for r in stub.Generate(_request(prompt))]
    return replies[0].group, [t for r in replies for d in r.deltas for t in d.token_ids]


def test_router_streams_from_ray_groups_and_routes_around_a_dead_one(groups):
    async def main():
        config = RouterConfig(
            groups=tuple(g.address for g in groups), health_interval_s=0.2, policy="round_robin"
        )
        router = await RouterServer(config).start()
        channel = grpc.aio.insecure_channel(router.address)
        stub = router_pb2_grpc.RouterStub(channel)
        try:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            served = {}
            for i in range(4):
                group, tokens = await _tokens(stub, [5, 6, 7, i + 10])
                assert len(tokens) == 6
                served.setdefault(group, 0)
                served[group] += 1
            assert len(served) == 2  # both Ray groups served
            by_address = {g.address: g for g in groups}
            dead_id = next(iter(router.registry.groups))
            dead = by_address[router.registry.groups[dead_id].address]
            ray.kill(dead.actors[0])  # rank 0 (the Worker service) dies
            for i in range(4):
                group, tokens = await _tokens(stub, [9, 8, i + 20])
                assert len(tokens) == 6 and group != dead_id
        finally:
            await channel.close()
            await router.stop()

    asyncio.run(main())
