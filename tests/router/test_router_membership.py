"""Worker groups added and removed at run time over the Router's gRPC API (and its CLI)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest

from hybridserve.cli import main
from hybridserve.v1 import common_pb2, router_pb2
from hybridserve.workers.engine import AsyncEngine, Engine, EngineConfig
from hybridserve.workers.server import WorkerServer
from hybridserve.workers.service import LocalEngineClient
from tests.router.cluster import local_cluster


def _request(prompt: list[int], max_tokens: int = 4) -> router_pb2.GenerateRequest:
    sampling = common_pb2.SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    ids = router_pb2.TokenIds(ids=prompt)
    return router_pb2.GenerateRequest(model="tiny", token_ids=ids, sampling=sampling)


async def _serve(stub, prompt: list[int], max_tokens: int = 4) -> tuple[str, int]:
    replies = [r async for r in stub.Generate(_request(prompt, max_tokens))]
    return replies[0].group, sum(len(d.token_ids) for r in replies for d in r.deltas)


@contextlib.asynccontextmanager
async def _worker() -> AsyncIterator[WorkerServer]:
    """One more tiny-model group, outside the cluster the router started with."""
    engine = AsyncEngine(Engine(EngineConfig(model="tiny", cache_bytes=32 << 20)))
    worker = WorkerServer(LocalEngineClient(engine), kv_interval_s=0.01, load_interval_s=0.1)
    try:
        yield await worker.start()
    finally:
        await worker.stop()
        engine.shutdown()


def test_groups_added_and_removed_at_run_time_serve_and_stop_serving():
    async def main_():
        async with local_cluster(num_groups=1, policy="round_robin") as c, _worker() as extra:
            (first,) = c.router.registry.groups
            request = router_pb2.AddWorkerGroupRequest(address=extra.address, group_id="extra")
            added = await c.stub.AddWorkerGroup(request)
            assert (added.group_id, added.model) == ("extra", "tiny")
            status = await c.stub.ClusterStatus(router_pb2.ClusterStatusRequest())
            assert {(g.id, g.address) for g in status.groups} >= {("extra", extra.address)}
            served = [await _serve(c.stub, [5, 6, k + 1]) for k in range(4)]
            assert {group for group, _ in served} == {first, "extra"}
            assert all(tokens == 4 for _, tokens in served)

            # a stream in flight on the removed group runs to its end; new ones go elsewhere
            call = c.stub.Generate(_request([9, 9, 9], max_tokens=40))
            first_reply = await call.read()
            on, tokens = first_reply.group, len(first_reply.deltas[0].token_ids)
            await c.stub.RemoveWorkerGroup(router_pb2.RemoveWorkerGroupRequest(group_id=on))
            while (reply := await call.read()) is not grpc.aio.EOF:
                tokens += sum(len(d.token_ids) for d in reply.deltas)
            assert tokens == 40
            status = await c.stub.ClusterStatus(router_pb2.ClusterStatusRequest())
            assert on not in {g.id for g in status.groups} and len(status.groups) == 1
            for k in range(3):
                group, tokens = await _serve(c.stub, [7, k + 1])
                assert group != on and tokens == 4
            assert on not in c.router.registry.indexes["tiny"].usable_prefix([9, 9, 9, 1])

    asyncio.run(main_())


@pytest.mark.parametrize(
    "rpc, request_, code, words",
    [
        ("AddWorkerGroup", router_pb2.AddWorkerGroupRequest(), "INVALID_ARGUMENT", "address"),
        (
            "AddWorkerGroup",
            router_pb2.AddWorkerGroupRequest(address="127.0.0.1:1"),
            "FAILED_PRECONDITION",
            "127.0.0.1:1",
        ),
        (
            "AddWorkerGroup",
            router_pb2.AddWorkerGroupRequest(address="127.0.0.1:1", group_id="group-0"),
            "ALREADY_EXISTS",
            "group-0",
        ),
        ("RemoveWorkerGroup", router_pb2.RemoveWorkerGroupRequest(group_id="x"), "NOT_FOUND", "x"),
    ],
)
def test_membership_errors_map_to_grpc_statuses(rpc, request_, code, words):
    async def main_():
        async with local_cluster(num_groups=1) as c:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await getattr(c.stub, rpc)(request_)
            assert info.value.code() == getattr(grpc.StatusCode, code)
            assert words in info.value.details()
            # the same address twice is refused too, under any id
            address = c.router.registry.groups["group-0"].address
            again = router_pb2.AddWorkerGroupRequest(address=address, group_id="other")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await c.stub.AddWorkerGroup(again)
            assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
            assert list(c.router.registry.groups) == ["group-0"]

    asyncio.run(main_())


def test_groups_cli_lists_adds_and_removes(capsys):
    async def main_():
        async with local_cluster(num_groups=1) as c, _worker() as extra:
            router = ["--router", c.router.address]
            assert await asyncio.to_thread(main, ["groups", "add", extra.address, *router]) == 0
            assert await asyncio.to_thread(main, ["groups", "list", *router]) == 0
            listed = capsys.readouterr().out.splitlines()
            assert listed[0].startswith("added group-1 (tiny)")
            assert [line.split("\t")[:2] for line in listed[1:]] == [
                ["group-0", c.workers[0].address],
                ["group-1", extra.address],
            ]
            assert await asyncio.to_thread(main, ["groups", "remove", "group-1", *router]) == 0
            assert list(c.router.registry.groups) == ["group-0"]
            assert await asyncio.to_thread(main, ["groups", "remove", "group-1", *router]) == 1
            assert "NOT_FOUND" in capsys.readouterr().err

    asyncio.run(main_())
