"""Overlap scheduling (`overlap_schedule=True`): step k+1 is scheduled and launched before step
k's tokens are read back; the engine must produce what it produces without overlap."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from hybridserve import LLM, SamplingParams
from hybridserve.workers.engine.decode_graphs import DecodeGraphs
from tests.workers.engine.greedy_compare import assert_same_greedy, gaps_from_top_logprobs

EOS = 2  # the tiny preset's


def _prompts(n: int, seed: int = 5) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, 1024) for _ in range(rng.randint(5, 80))] for _ in range(n)]


def _mixed_params(prompts: list[list[int]]) -> list[SamplingParams]:
    """Greedy rows of different lengths; every fourth stops on the token its greedy run makes
    fourth (min_tokens 2), so stops happen mid-stream; a third may stop on EOS."""
    rng = random.Random(1)
    probe = SamplingParams(temperature=0, max_tokens=4, ignore_eos=True)
    sync = LLM("tiny", overlap_schedule=False)
    fourth = [out.token_ids[3] for out in sync.generate(prompts, probe)]
    out = []
    for i, stop in enumerate(fourth):
        p = SamplingParams(
            temperature=0, max_tokens=rng.choice([1, 2, 7, 20]), ignore_eos=i % 3 > 0
        )
        if i % 4 == 1:
            p = dataclasses.replace(p, max_tokens=20, stop_token_ids=(stop,), min_tokens=2)
        out.append(p)
    return out


def _with_logprobs(params: list[SamplingParams]) -> list[SamplingParams]:
    return [dataclasses.replace(p, logprobs=True, top_logprobs=2) for p in params]


def _assert_matches(reference, outs) -> None:
    """Greedy tokens agree up to each reference row's first near-tie; where they agree to the
    end the finish reasons do too."""
    for ref, out in zip(reference, outs, strict=True):
        gaps = gaps_from_top_logprobs(ref.outputs[0].top_logprobs)
        n = assert_same_greedy(ref.token_ids, gaps, out.token_ids)
        if n == len(ref.token_ids):
            assert out.token_ids == ref.token_ids
            assert out.finish_reason == ref.finish_reason


def _assert_released(engine) -> None:
    engine.tree.check_invariants()
    assert all(n.kv_lock == 0 and n.state_lock == 0 for n in engine.tree.root.subtree())
    engine.tree.evict_kv(10**9)
    engine.tree.evict_states(10**9)
    assert engine.kv_pool.num_free == engine.kv_pool.num_total
    assert engine.state_pool.num_free == engine.state_pool.num_total


def _steps_until_done(engine) -> tuple[list[int], int]:
    """Steps `engine` until it has no work; returns the tokens it gave and the step() calls."""
    got, calls = [], 0
    while engine.has_work():
        got += [t for d in engine.step() for t in d.token_ids]
        calls += 1
    return got, calls


def test_a_step_returns_the_previous_steps_tokens() -> None:
    """With overlap a step's tokens come back from the next step. A request whose pending token
    reaches max_tokens gets no further row; one that stops on a token has been scheduled once
    more (its wasted row is dropped at read-back)."""
    params = SamplingParams(temperature=0, max_tokens=3, ignore_eos=True)
    sync = LLM("tiny", overlap_schedule=False).engine
    sync.add_request([5, 6, 7], params, rid="r")
    want, _ = _steps_until_done(sync)
    assert len(want) == 3

    overlap = LLM("tiny", overlap_schedule=True).engine
    overlap.add_request([5, 6, 7], params, rid="r")
    assert overlap.step() == [] and overlap.requests["r"][0].pending == 1
    got, calls = _steps_until_done(overlap)
    # prefill, two decodes, a read-back with nothing to launch: no row past the third token
    assert got == want and calls + 1 == 4 and overlap.stats().steps == 3
    _assert_released(overlap)

    stop = SamplingParams(temperature=0, max_tokens=10, ignore_eos=True, stop_token_ids=(want[1],))
    overlap.add_request([5, 6, 7], stop, rid="s")
    got, calls = _steps_until_done(overlap)
    # prefill, the decode that samples the stop token, the wasted decode that reads it back
    assert got == want[:2] and calls == 4 and overlap.stats().steps == 3 + 3
    _assert_released(overlap)


def test_overlap_gives_the_tokens_of_the_synchronous_engine() -> None:
    prompts = _prompts(24)
    params = _mixed_params(prompts)
    reference = LLM("tiny", max_running_requests=16).generate(prompts, _with_logprobs(params))
    assert sum(r.finish_reason == "stop" for r in reference) >= 4  # stops mid-stream happen
    llm = LLM("tiny", max_running_requests=16, overlap_schedule=True)
    _assert_matches(reference, llm.generate(prompts, params))
    assert llm.engine.stats().steps > 0
    _assert_released(llm.engine)


def test_overlap_feeds_pending_tokens_into_the_decode_graph_buffers() -> None:
    """Decode steps through DecodeGraphs' static buffers (captured on a GPU; the same padded
    forward run eagerly here): pending tokens are written into its input buffer."""
    prompts = _prompts(6, seed=3)
    params = [SamplingParams(temperature=0, max_tokens=10, ignore_eos=True)] * 6
    reference = LLM("tiny").generate(prompts, _with_logprobs(params))
    llm = LLM("tiny", overlap_schedule=True)
    engine = llm.engine
    kv_slots = engine.buffers.kv.shape[2]
    graphs = DecodeGraphs(engine.model, engine.buffers, engine.device, 8, kv_slots, capture=False)
    engine.runner.graphs = graphs
    _assert_matches(reference, llm.generate(prompts, params))
    assert bool(graphs.input_ids[:6].ne(0).all())  # the last decode step went through them
    _assert_released(engine)


def test_steps_that_need_the_host_fall_back_between_overlapped_ones() -> None:
    """Rows with logprobs or penalties cannot sample with a token pending: those steps read the
    previous step back first; the plain rows around them still overlap."""
    prompts = _prompts(12, seed=8)
    params = _mixed_params(prompts)
    params[3] = dataclasses.replace(params[3], logprobs=True, max_tokens=9)
    params[7] = dataclasses.replace(params[7], repetition_penalty=1.3, max_tokens=9)
    reference = LLM("tiny", max_running_requests=4).generate(prompts, _with_logprobs(params))
    llm = LLM("tiny", max_running_requests=4, overlap_schedule=True)
    outs = llm.generate(prompts, params)
    _assert_matches(reference, outs)
    assert outs[3].outputs[0].logprobs is not None and len(outs[3].outputs[0].logprobs) == 9
    _assert_released(llm.engine)


def test_overlap_under_memory_pressure() -> None:
    """Retractions while tokens are pending: a retracted request waits for its token before it
    is admitted again; nothing leaks."""
    prompts = _prompts(32, seed=11)
    params = [SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)] * 32
    reference = LLM("tiny").generate(prompts, _with_logprobs(params))
    options = dict(num_kv_pages=200, num_state_slots=6, max_running_requests=8)
    llm = LLM("tiny", chunked_prefill_size=64, overlap_schedule=True, **options)
    _assert_matches(reference, llm.generate(prompts, params))
    assert llm.engine.stats().preemptions > 0
    _assert_released(llm.engine)


def test_abort_while_a_step_is_in_flight() -> None:
    llm = LLM("tiny", overlap_schedule=True)
    engine = llm.engine
    params = SamplingParams(temperature=0, max_tokens=50, ignore_eos=True)
    for rid in ("a", "b"):
        engine.add_request([9, 8, 7, 6], params, rid=rid)
    for _ in range(4):
        engine.step()
    assert engine.requests["a"][0].pending == 1  # its latest token is on the device
    assert engine.abort("a")
    deltas = engine.step()
    assert deltas and all(d.rid == "b" for d in deltas)  # a's in-flight row is dropped
    assert engine.abort("b")
    while engine.has_work():
        assert engine.step() == []
    _assert_released(engine)
    assert (
        len(llm.generate([[1, 2, 3]], dataclasses.replace(params, max_tokens=4))[0].token_ids) == 4
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("graphs", [0, 8])
def test_overlapped_decode_steps_never_wait_for_the_device(graphs: int) -> None:
    """An overlapped step waits only for the step before it (an event), never for the one it
    has just launched, or its host work is not hidden: under CUDA's sync debug mode "error" an
    implicit synchronization raises (selecting logits rows with a Python list did one: a
    pageable copy that waited for the queued forward)."""
    llm = LLM("tiny", overlap_schedule=True, cuda_graph_max_bs=graphs)
    engine = llm.engine
    params = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)
    for prompt in _prompts(5, seed=7):
        engine.add_request(prompt, params)
    for _ in range(3):  # the prefill, then decoding with a step in flight
        engine.step()
    assert all(not r.in_prefill for r in engine.scheduler.running)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(4):
            engine.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    while engine.has_work():
        engine.step()
    _assert_released(engine)
