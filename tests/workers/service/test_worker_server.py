"""The Worker gRPC server over a tiny engine, spoken to over loopback: with the engine in-process
(LocalEngineClient) and across the process split's ZMQ sockets (EngineBridge and
RemoteEngineClient; here in one process, the sockets and messages as in two)."""

from __future__ import annotations

import asyncio
import contextlib
import functools

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.v1 import common_pb2, kv_wire, worker_pb2, worker_pb2_grpc
from hybridserve.workers.engine import AsyncEngine, Engine, EngineConfig
from hybridserve.workers.server import WorkerServer
from hybridserve.workers.service import LocalEngineClient
from hybridserve.workers.service.engine_bridge import EngineBridge
from hybridserve.workers.service.remote_engine_client import RemoteEngineClient
from tests.workers.engine.greedy_compare import assert_same_greedy

PROMPT = list(range(1, 40))


@pytest.fixture(params=["in-process", "split"])
def worker(request):
    """`async with worker(**engine_options) as (engine, server, channel, stub)`; `engine` has
    `.engine` (the Engine) and `.call(fn)` (run on its thread)."""
    return functools.partial(_worker, request.param == "split")


@contextlib.asynccontextmanager
async def _worker(split: bool, **options):
    inner = Engine(EngineConfig(model="tiny", cache_bytes=32 << 20, **options))
    if split:
        engine = EngineBridge(inner)
        client = await RemoteEngineClient(engine.endpoint, engine.reads.info).connect()
    else:
        engine = AsyncEngine(inner)
        client = LocalEngineClient(engine)
    server = None
    try:
        server = await WorkerServer(client, stream_interval=inner.cfg.stream_interval).start()
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield engine, server, channel, worker_pb2_grpc.WorkerStub(channel)
    finally:
        if server is not None:
            await server.stop()
        if split:
            client.close()
        engine.shutdown()


def _request(max_tokens: int = 4, **sampling) -> worker_pb2.WorkerGenerateRequest:
    sampling = {"temperature": 0.0, **sampling}
    params = common_pb2.SamplingParams(max_tokens=max_tokens, **sampling)
    return worker_pb2.WorkerGenerateRequest(prompt_token_ids=PROMPT, sampling=params)


def test_generate_streams_deltas_logprobs_and_usage(worker):
    async def main():
        async with worker() as (_, _, _, stub):
            replies = [r async for r in stub.Generate(_request(logprobs=True, top_logprobs=2))]
            deltas = [d for r in replies for d in r.deltas]
            assert sum(len(d.token_ids) for d in deltas) == 4  # a reply may carry a backlog
            assert all(len(d.top_logprobs) == len(d.token_ids) for d in deltas)
            assert all(len(t.entries) == 2 for d in deltas for t in d.top_logprobs)
            assert replies[-1].usage.prompt_tokens == len(PROMPT)
            assert replies[-1].usage.completion_tokens == 4
            again = [r async for r in stub.Generate(_request())]
            assert again[0].cached_tokens == again[-1].usage.cached_tokens == 32
            n2 = [r async for r in stub.Generate(_request(n=2, seed=1, temperature=1.0))]
            assert {r.deltas[0].index for r in n2} == {0, 1}
            assert n2[-1].usage.completion_tokens == 8

    asyncio.run(main())


def test_stream_interval_holds_tokens_but_sends_the_first_and_last_at_once(worker):
    async def main():
        async with worker() as (_, _, _, stub):
            one = [r async for r in stub.Generate(_request(max_tokens=11, ignore_eos=True))]
        async with worker(stream_interval=4) as (_, _, _, stub):
            held = [r async for r in stub.Generate(_request(max_tokens=11, ignore_eos=True))]
        tokens = [[t for r in rs for d in r.deltas for t in d.token_ids] for rs in (one, held)]
        assert tokens[0] == tokens[1] and len(tokens[0]) == 11
        sizes = [sum(len(d.token_ids) for d in r.deltas) for r in held]
        assert sizes[0] == 1  # the first token is not held
        assert all(n >= 4 for n in sizes[1:-1]) and sum(sizes) == 11
        assert held[-1].deltas[-1].finish_reason == common_pb2.FINISH_REASON_LENGTH
        assert held[-1].usage.completion_tokens == 11 and held[0].cached_tokens == 0

    asyncio.run(main())


def test_overlap_scheduled_worker_streams_the_same_tokens(worker):
    """Overlap scheduling (the default) behind the gRPC server: concurrent streams give the
    tokens of the synchronous engine (up to near-ties), and a stream the client leaves early
    (its request aborted while a step is in flight) leaks nothing."""

    async def run(logprobs: bool, **options):
        async with worker(**options) as (engine, _, _, stub):
            sampling = dict(ignore_eos=True, logprobs=logprobs, top_logprobs=2 * logprobs)
            requests = [_request(max_tokens=6 + i, **sampling) for i in range(4)]
            for i, r in enumerate(requests):
                r.prompt_token_ids[:] = PROMPT[i:] + [i + 3] * i  # distinct prompts
            replies = await asyncio.gather(*(_collect(stub, r) for r in requests))
            early = stub.Generate(_request(max_tokens=40, ignore_eos=True))
            async for _ in early:
                break
            early.cancel()
            while engine.engine.has_work():
                await asyncio.sleep(0.01)
            return replies, engine.engine.stats()

    async def main():
        return await run(True, overlap_schedule=False), await run(False, overlap_schedule=True)

    (sync, _), (overlap, stats) = asyncio.run(main())
    for (ids, _, usage), (want, gaps, want_usage) in zip(overlap, sync, strict=True):
        assert_same_greedy(want, gaps, ids)
        assert usage.completion_tokens == want_usage.completion_tokens == len(ids)
    assert stats.running == 0 and stats.state_slots_used <= stats.cached_snapshots


async def _collect(stub, request) -> tuple[list[int], list[float], common_pb2.Usage]:
    """Token ids, the top-1 minus top-2 gap of each (when logprobs were asked), the usage."""
    replies = [r async for r in stub.Generate(request)]
    deltas = [d for r in replies for d in r.deltas]
    tops = [t.entries for d in deltas for t in d.top_logprobs]
    gaps = [e[0].logprob - e[1].logprob for e in tops]
    return [t for d in deltas for t in d.token_ids], gaps, replies[-1].usage


def test_health_reflection_info_load_and_snapshot(worker):
    async def main():
        async with worker() as (engine, server, channel, stub):
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(
                health_pb2.HealthCheckRequest(service="hybridserve.v1.Worker")
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for answer in reflection.ServerReflectionInfo(iter([request])):
                names = {s.name for s in answer.list_services_response.service}
            assert "hybridserve.v1.Worker" in names
            info = await stub.GetInfo(worker_pb2.GetInfoRequest())
            assert (info.model, info.block_size) == ("tiny", 16)
            assert info.kv_events_endpoint == server.publisher.endpoint
            _ = [r async for r in stub.Generate(_request())]
            load = await stub.GetLoad(worker_pb2.GetLoadRequest())
            assert load.running == load.waiting == 0 and load.cached_snapshots == 2
            snapshot = await stub.GetKVSnapshot(worker_pb2.GetKVSnapshotRequest())
            assert snapshot.sequence == server.publisher.sequence
            index = PrefixIndex(snapshot.block_size)
            index.apply("w", kv_wire.unpack_events(snapshot.events))
            turn = PROMPT + [1, 2]
            tree = engine.engine.tree
            expected = engine.call(lambda: tree.match_prefix(turn[:-1]).usable_len).result(5)
            assert index.usable_prefix(turn).get("w", 0) == expected == 32

    asyncio.run(main())


@pytest.mark.parametrize(
    "options, request_, code",
    [
        ({}, _request(top_k=0), grpc.StatusCode.INVALID_ARGUMENT),
        ({}, worker_pb2.WorkerGenerateRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        ({}, _request(max_tokens=5000), grpc.StatusCode.INVALID_ARGUMENT),
        ({"max_waiting_requests": 0}, _request(), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
)
def test_typed_errors_become_statuses(worker, options, request_, code):
    async def main():
        async with worker(**options) as (_, _, _, stub):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                _ = [r async for r in stub.Generate(request_)]
            assert info.value.code() == code and info.value.details()

    asyncio.run(main())


def test_a_request_id_in_use_is_refused_and_the_live_stream_carries_on(worker):
    async def main():
        async with worker() as (engine, _, _, stub):
            live, again = _request(30, ignore_eos=True), _request(4, ignore_eos=True)
            live.request_id = again.request_id = "same"
            first = stub.Generate(live)
            await first.read()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                _ = [r async for r in stub.Generate(again)]
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "already in use" in info.value.details()
            rest = [await asyncio.wait_for(first.read(), 30)]  # cut off, it would hang
            while rest[-1] is not grpc.aio.EOF:
                rest.append(await asyncio.wait_for(first.read(), 30))
            assert rest[-2].usage.completion_tokens == 30
            stats = engine.call(engine.engine.stats).result(5)
            assert stats.running == stats.waiting == 0

    asyncio.run(main())


def test_deadline_and_cancel_abort_the_request(worker):
    async def main():
        async with worker() as (engine, _, _, stub):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                _ = [r async for r in stub.Generate(_request(3000, ignore_eos=True), timeout=0.3)]
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            call = stub.Generate(_request(3000, ignore_eos=True))
            await call.read()
            call.cancel()
            for _ in range(400):
                stats = engine.call(engine.engine.stats).result(5)
                if stats.running == stats.waiting == 0:
                    break
                await asyncio.sleep(0.01)
            assert stats.running == stats.waiting == 0
            assert stats.state_slots_used == stats.cached_snapshots

    asyncio.run(main())


def test_max_tokens_zero_generates_until_the_context_is_full(worker):
    async def main():
        async with worker(max_model_len=64) as (_, _, _, stub):
            request = _request(max_tokens=0, ignore_eos=True)
            replies = [r async for r in stub.Generate(request)]
            assert replies[-1].usage.completion_tokens == 64 - len(PROMPT)
            assert replies[-1].deltas[-1].finish_reason == common_pb2.FINISH_REASON_LENGTH

    asyncio.run(main())
