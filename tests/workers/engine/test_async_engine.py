"""The streaming interface the worker service uses: submit, iterate deltas, abort."""

from __future__ import annotations

import asyncio

import pytest

from hybridserve.errors import InvalidRequestError
from hybridserve.workers.engine import AsyncEngine, Engine, EngineConfig, SamplingParams


@pytest.fixture(scope="module")
def engine():
    eng = AsyncEngine(Engine(EngineConfig(model="tiny")))
    yield eng
    eng.shutdown()


def test_streams_concurrent_requests(engine):
    params = SamplingParams(temperature=0, max_tokens=10, ignore_eos=True)

    async def collect(rid: str, prompt: list[int]) -> list[int]:
        return [t async for d in engine.generate(prompt, params, rid) for t in d.token_ids]

    async def main():
        return await asyncio.gather(collect("a", [5, 6, 7]), collect("b", list(range(20, 60))))

    a, b = asyncio.run(main())
    assert len(a) == len(b) == 10


def test_bad_input_raises_before_streaming(engine):
    async def main():
        async for _ in engine.generate([], SamplingParams(), "bad"):
            pass

    with pytest.raises(InvalidRequestError):
        asyncio.run(main())


def test_leaving_the_stream_aborts_and_frees(engine):
    inner = engine.engine
    params = SamplingParams(max_tokens=500, ignore_eos=True)

    async def main():
        async for delta in engine.generate(list(range(10, 50)), params, "gone"):
            assert delta.token_ids
            break  # the client went away

    asyncio.run(main())
    engine.call(lambda: None).result(timeout=10)  # the abort has run on the engine thread
    assert "gone" not in inner.requests
    assert engine.call(inner.has_work).result(timeout=10) is False
    assert inner.state_pool.num_total - inner.state_pool.num_free == inner.tree.num_state_snapshots


def test_a_stream_that_falls_behind_gets_its_backlog_as_one_delta(engine):
    params = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True, logprobs=True)

    async def main():
        stream = engine.generate([5, 6, 7, 8], params, "slow")
        first = await stream.__anext__()
        while engine.engine.has_work():  # the engine runs ahead of this reader
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the last step's deltas reach this loop
        rest = [d async for d in stream]
        return first, rest

    first, rest = asyncio.run(main())
    assert len(first.token_ids) == 1 and len(rest) == 1
    (backlog,) = rest
    assert len(backlog.token_ids) == len(backlog.logprobs) == 11
    assert backlog.finish_reason == "length" and backlog.computed_tokens > 0


def test_merge_deltas_keeps_each_samples_order() -> None:
    from hybridserve.workers.engine.outputs import TokenDelta, merge_deltas

    deltas = [
        TokenDelta("r", 0, [1], logprobs=[-0.1], top_logprobs=[[(1, -0.1)]]),
        TokenDelta("r", 1, [7]),
        TokenDelta("r", 0, [2, 3], logprobs=[-0.2, -0.3], top_logprobs=[[(2, -0.2)], [(3, -0.3)]]),
        TokenDelta("r", 1, [8], finish_reason="stop", computed_tokens=9),
    ]
    zero, one = merge_deltas(deltas)
    assert (zero.index, zero.token_ids, zero.logprobs) == (0, [1, 2, 3], [-0.1, -0.2, -0.3])
    assert zero.top_logprobs == [[(1, -0.1)], [(2, -0.2)], [(3, -0.3)]]
    assert (one.token_ids, one.finish_reason, one.computed_tokens) == ([7, 8], "stop", 9)
    assert deltas[0].token_ids == [1]  # the inputs are left as they were
