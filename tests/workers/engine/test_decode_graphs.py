"""Decode through the static, padded buffers of DecodeGraphs: the same logits and cache writes as
the eager forward, padding confined to the scratch rows; on a GPU, replayed graphs give the
eager engine's tokens."""

from __future__ import annotations

import pytest
import torch

from hybridserve import LLM, SamplingParams
from hybridserve.workers.engine import Engine, EngineConfig
from hybridserve.workers.engine.decode_graphs import DecodeGraphs, graph_batch_sizes
from tests.workers.engine.greedy_compare import assert_same_greedy, gaps_from_top_logprobs


def test_graph_batch_sizes():
    assert graph_batch_sizes(1) == [1]
    assert graph_batch_sizes(20) == [1, 2, 4, 8, 16, 20]
    assert graph_batch_sizes(64) == [1, 2, 4, 8, 16, 32, 48, 64]


ROW_AXES = (2, 1, 1)  # slot axis: kv [layers, 2, slots, ...], conv and ssm [layers, rows, ...]


def _cache(engine: Engine) -> list[torch.Tensor]:
    b = engine.buffers
    return [b.kv.clone(), b.conv.clone(), b.ssm.clone()]


def _restore(engine: Engine, saved: list[torch.Tensor]) -> None:
    for dst, src in zip((engine.buffers.kv, engine.buffers.conv, engine.buffers.ssm), saved):
        dst.copy_(src)


@pytest.mark.parametrize("running", [1, 3, 5])
def test_padded_static_decode_equals_the_eager_forward(running):
    # Synchronous steps: the forwards below are called by hand, with no token left pending.
    engine = Engine(EngineConfig(model="tiny", cuda_graph_max_bs=0, overlap_schedule=False))
    params = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
    for i in range(running):
        engine.add_request(list(range(3 + i, 40 + 7 * i)), params)
    while any(r.in_prefill for r in engine.scheduler.running) or engine.scheduler.waiting:
        engine.step()
    batch = engine.scheduler.schedule()
    assert batch is not None and all(len(c.slots) == 1 for c in batch.chunks)
    before = _cache(engine)
    eager = engine.runner.forward(batch)
    eager_cache = _cache(engine)
    _restore(engine, before)
    kv_slots = engine.buffers.kv.shape[2]
    graphs = DecodeGraphs(engine.model, engine.buffers, engine.device, 8, kv_slots, capture=False)
    engine.runner.graphs = graphs
    padded = engine.runner.forward(batch)
    assert graphs.padded_size(running) > running or running == 1
    assert padded.shape == eager.shape
    torch.testing.assert_close(padded, eager, rtol=1e-5, atol=1e-5)
    for got, want, rows in zip(_cache(engine), eager_cache, ROW_AXES):  # all but scratch row 0
        n = got.shape[rows] - 1
        torch.testing.assert_close(got.narrow(rows, 1, n), want.narrow(rows, 1, n))


def test_steps_that_do_not_fit_the_static_buffers_run_eagerly():
    """Contexts that share a cached prefix can add up to more KV tokens than the pool holds."""
    engine = Engine(EngineConfig(model="tiny", cuda_graph_max_bs=0))
    graphs = DecodeGraphs(engine.model, engine.buffers, engine.device, 4, 100, capture=False)
    assert graphs.fits(3, 100) and not graphs.fits(3, 104) and not graphs.fits(5, 10)
    engine.runner.graphs = graphs
    prompt = list(range(3, 80))
    params = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)
    with_graphs = [engine.add_request(prompt, params) for _ in range(3)]
    outputs: dict[str, list[int]] = {}
    while engine.has_work():
        for delta in engine.step():
            outputs.setdefault(delta.rid, []).extend(delta.token_ids)
    reference = LLM("tiny", cuda_graph_max_bs=0).generate([prompt], params)[0].token_ids
    assert [outputs[rid] for rid in with_graphs] == [reference] * 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_decode_gives_the_eager_tokens():
    prompts = [list(range(5, 5 + n)) for n in (3, 17, 64, 100, 130)]
    params = SamplingParams(
        temperature=0, max_tokens=24, ignore_eos=True, logprobs=True, top_logprobs=2
    )
    eager = LLM("tiny", cuda_graph_max_bs=0).generate(prompts, params)
    graphed = LLM("tiny", cuda_graph_max_bs=8).generate(prompts, params)
    for a, b in zip(eager, graphed):
        gaps = gaps_from_top_logprobs(a.outputs[0].top_logprobs)
        assert_same_greedy(a.token_ids, gaps, b.token_ids)
