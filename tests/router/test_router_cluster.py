"""The router in front of two tiny-model worker groups, over real loopback gRPC and pyzmq."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hybridserve.router.stream_channel import stream_channel
from hybridserve.router.tokenization import load_tokenizer
from hybridserve.v1 import common_pb2, router_pb2, router_pb2_grpc
from tests.router.cluster import local_cluster

GREEDY = dict(temperature=0.0, ignore_eos=True)


def _request(
    prompt: list[int] | str, max_tokens: int = 4, **kw: object
) -> router_pb2.GenerateRequest:
    sampling = common_pb2.SamplingParams(max_tokens=max_tokens, **GREEDY)
    if isinstance(prompt, str):
        return router_pb2.GenerateRequest(model="tiny", text=prompt, sampling=sampling, **kw)
    ids = router_pb2.TokenIds(ids=prompt)
    return router_pb2.GenerateRequest(model="tiny", token_ids=ids, sampling=sampling, **kw)


async def _collect(stub, request) -> tuple[list[router_pb2.GenerateResponse], list[int], str]:
    replies = [r async for r in stub.Generate(request)]
    ids = [t for r in replies for d in r.deltas for t in d.token_ids]
    return replies, ids, "".join(d.text for r in replies for d in r.deltas)


def test_streams_text_and_tokens_through_the_router():
    tokenizer = load_tokenizer("tiny")

    async def main():
        async with local_cluster() as c:
            replies, ids, text = await _collect(
                c.stub, _request("The quick brown fox", max_tokens=8, return_text=True)
            )
            assert len(ids) == 8 and len(replies) <= 8  # a reply may carry a backlog
            assert replies[0].group in c.router.registry.groups
            assert replies[0].prompt_tokens == len(tokenizer.encode("The quick brown fox"))
            assert text == tokenizer.decode(ids)
            last = replies[-1]
            assert last.deltas[-1].finish_reason == common_pb2.FINISH_REASON_LENGTH
            assert last.usage.completion_tokens == 8
            assert last.usage.prompt_tokens == replies[0].prompt_tokens

            # a stop string taken from the greedy text ends the stream before it
            stop = text[len(text) // 2 :][:3]
            if stop.strip():
                req = _request("The quick brown fox", max_tokens=8, return_text=True)
                req.sampling.stop.append(stop)
                replies, _, stopped = await _collect(c.stub, req)
                assert stopped == text[: text.index(stop)]
                assert replies[-1].deltas[-1].finish_reason == common_pb2.FINISH_REASON_STOP

    asyncio.run(main())


def test_chat_input_uses_the_chat_template():
    tokenizer = load_tokenizer("tiny")

    async def main():
        async with local_cluster(num_groups=1) as c:
            chat = router_pb2.ChatInput(
                messages=[router_pb2.ChatMessage(role="user", content="hi")]
            )
            chat.template_kwargs.update({"enable_thinking": False})
            req = router_pb2.GenerateRequest(
                model="tiny", chat=chat, sampling=common_pb2.SamplingParams(max_tokens=2)
            )
            replies, _, _ = await _collect(c.stub, req)
            messages = [{"role": "user", "content": "hi"}]
            prompt = tokenizer.apply_chat_template(messages, enable_thinking=False)
            assert replies[0].prompt_tokens == len(tokenizer.encode(prompt))

    asyncio.run(main())


def test_health_reflection_models_and_status():
    async def main():
        async with local_cluster() as c:
            health = health_pb2_grpc.HealthStub(c.channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            reflection = reflection_pb2_grpc.ServerReflectionStub(c.channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for answer in reflection.ServerReflectionInfo(iter([request])):
                names = {s.name for s in answer.list_services_response.service}
            assert "hybridserve.v1.Router" in names and "grpc.health.v1.Health" in names
            models = await c.stub.ListModels(router_pb2.ListModelsRequest())
            assert [(m.id, m.groups) for m in models.models] == [("tiny", 2)]
            status = await c.stub.ClusterStatus(router_pb2.ClusterStatusRequest())
            assert status.policy == "cache_aware" and len(status.groups) == 2
            assert all(g.healthy and g.resyncs >= 1 for g in status.groups)

    asyncio.run(main())


@pytest.mark.parametrize(
    "request_, code, words",
    [
        (router_pb2.GenerateRequest(model="nope", text="hi"), "NOT_FOUND", "nope"),
        (router_pb2.GenerateRequest(model="tiny", text=""), "INVALID_ARGUMENT", "prompt"),
        (router_pb2.GenerateRequest(model="tiny"), "INVALID_ARGUMENT", "prompt"),
        (
            router_pb2.GenerateRequest(
                model="tiny", text="hi", sampling=common_pb2.SamplingParams(top_p=3)
            ),
            "INVALID_ARGUMENT",
            "top_p",
        ),
        (
            router_pb2.GenerateRequest(model="tiny", token_ids=router_pb2.TokenIds(ids=[1, 5000])),
            "INVALID_ARGUMENT",
            "5000",
        ),
    ],
)
def test_errors_map_to_grpc_statuses(request_, code, words):
    async def main():
        async with local_cluster(num_groups=1) as c:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _collect(c.stub, request_)
            assert info.value.code() == getattr(grpc.StatusCode, code)
            assert words in info.value.details()

    asyncio.run(main())


def test_cancelled_stream_frees_the_groups_slots():
    async def main():
        async with local_cluster() as c:
            call = c.stub.Generate(_request(list(range(1, 30)), max_tokens=500))
            first = await call.read()
            i = c.group_index(first.group)
            assert (await c.stats(i)).running == 1
            call.cancel()
            for _ in range(400):
                stats = await c.stats(i)
                if stats.running == stats.waiting == 0:
                    break
                await asyncio.sleep(0.01)
            assert stats.running == stats.waiting == 0
            assert stats.state_slots_used == stats.cached_snapshots  # only the cache holds slots
            assert stats.kv_pages_used == stats.cached_pages
            assert c.router.registry.groups[first.group].load.in_flight == 0

    asyncio.run(main())


def test_router_routes_around_a_stopped_group():
    async def main():
        async with local_cluster(policy="round_robin") as c:
            await c.workers[0].stop()
            groups = set()
            for k in range(4):
                replies, ids, _ = await _collect(c.stub, _request([7, 8, 9, k + 1]))
                assert len(ids) == 4
                groups.add(replies[0].group)
            survivor = [g for g in c.router.registry.groups.values() if g.healthy]
            assert groups == {g.id for g in survivor} and len(survivor) == 1

    asyncio.run(main())


def test_killing_a_group_mid_stream_fails_that_stream_only():
    async def main():
        async with local_cluster() as c:
            call = c.stub.Generate(_request(list(range(1, 30)), max_tokens=3000))
            first = await call.read()
            await c.workers[c.group_index(first.group)].stop()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                while await call.read() is not grpc.aio.EOF:
                    pass
            assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
            for k in range(3):
                replies, ids, _ = await _collect(c.stub, _request([3, 4, k + 1]))
                assert len(ids) == 4 and replies[0].group != first.group
            assert c.router.registry.groups[first.group].load.in_flight == 0

    asyncio.run(main())


def test_an_upstream_call_cancelled_under_the_router_ends_the_stream_with_a_status():
    """The group's channel closes under a live stream (not the client's doing): the client gets
    UNAVAILABLE at once instead of waiting forever, and the router keeps serving."""

    async def main():
        async with local_cluster() as c:
            call = c.stub.Generate(_request(list(range(1, 30)), max_tokens=3000))
            first = await call.read()
            await c.router.registry.groups[first.group].streams.close()

            async def drain() -> None:
                while await call.read() is not grpc.aio.EOF:
                    pass

            with pytest.raises(grpc.aio.AioRpcError) as info:
                await asyncio.wait_for(drain(), timeout=20)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert first.group in info.value.details()
            assert c.router.registry.groups[first.group].load.in_flight == 0

    asyncio.run(main())


def test_a_reader_that_falls_behind_gets_the_tokens_merged_into_fewer_messages():
    """Backpressure through both hops (stream_channel.py): a client reading through a stream
    channel, slower than the engine steps, makes the worker merge what is due meanwhile; a
    prompt reader still gets one message a token. The tokens are the same either way."""

    async def read(stub, delay_s: float) -> tuple[list[int], int]:
        tokens, messages = [], 0
        async for reply in stub.Generate(_request(list(range(1, 30)), max_tokens=200)):
            messages += 1
            tokens += [t for d in reply.deltas for t in d.token_ids]
            await asyncio.sleep(delay_s)
        return tokens, messages

    async def main():
        async with local_cluster(num_groups=1) as c:
            fast, fast_messages = await read(c.stub, 0.0)
            async with stream_channel(c.router.address) as channel:
                # 50 ms a message: slower than the tiny engine's steps even on a loaded 2-core
                # machine (at 20 ms a busy CI run read 122 messages)
                slow, slow_messages = await read(router_pb2_grpc.RouterStub(channel), 0.05)
        assert slow == fast and len(fast) == 200
        assert fast_messages >= 150  # the engine's pace: about one message a token
        assert slow_messages < 120  # merged once the windows filled

    asyncio.run(main())


def test_streams_that_stop_being_read_do_not_stall_the_others():
    """Small read windows are per stream (stream_channel.py): 100 stalled streams on the
    gateway's kind of channel, 100 KB of windows if the connection were blocked by them, leave
    a fresh stream on the same channel free to finish."""

    async def main():
        cluster = local_cluster(num_groups=1, max_running_requests=128)
        async with cluster as c, stream_channel(c.router.address) as channel:
            stub = router_pb2_grpc.RouterStub(channel)
            stalled = [stub.Generate(_request([5 + i, 6, 7], 200)) for i in range(100)]
            for call in stalled:
                await call.read()  # started, then never read again
            reply = stub.Generate(_request([9, 9, 9], max_tokens=20))
            tokens = [t async for r in reply for d in r.deltas for t in d.token_ids]
            assert len(tokens) == 20
            for call in stalled:
                call.cancel()

    asyncio.run(asyncio.wait_for(main(), timeout=120))
