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
