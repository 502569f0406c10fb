"""Preemption under memory pressure, and aborts that give every slot back."""

from __future__ import annotations

import random

from hybridserve import LLM, SamplingParams
from tests.workers.engine.greedy_compare import assert_same_greedy, gaps_from_top_logprobs

GREEDY = SamplingParams(
    temperature=0, max_tokens=16, ignore_eos=True, logprobs=True, top_logprobs=2
)


def _prompts(n: int) -> list[list[int]]:
    rng = random.Random(11)
    return [[rng.randrange(3, 1024) for _ in range(rng.randint(10, 60))] for _ in range(n)]


def _drain_cache(engine) -> None:
    engine.tree.evict_kv(10**9)
    engine.tree.evict_states(10**9)


def test_64_requests_finish_under_memory_pressure():
    prompts = _prompts(64)
    free = LLM("tiny").generate(prompts, GREEDY)
    tight = LLM(
        "tiny", num_kv_pages=200, num_state_slots=6, max_running_requests=8, chunked_prefill_size=64
    )
    outs = tight.generate(prompts, GREEDY)
    assert tight.engine.stats().preemptions > 0
    for ref, out in zip(free, outs):
        assert out.finish_reason is not None and len(out.token_ids) == 16
        assert_same_greedy(
            ref.token_ids, gaps_from_top_logprobs(ref.outputs[0].top_logprobs), out.token_ids
        )
    engine = tight.engine
    engine.tree.check_invariants()
    _drain_cache(engine)
    assert engine.kv_pool.num_free == engine.kv_pool.num_total
    assert engine.state_pool.num_free == engine.state_pool.num_total


def _assert_everything_released(engine, kv_free0: int, state_free0: int) -> None:
    engine.tree.check_invariants()
    assert all(n.kv_lock == 0 and n.state_lock == 0 for n in engine.tree.root.subtree())
    _drain_cache(engine)
    assert (engine.kv_pool.num_free, engine.state_pool.num_free) == (kv_free0, state_free0)


def test_abort_mid_prefill_and_mid_decode_releases_everything():
    llm = LLM("tiny", chunked_prefill_size=16)
    engine = llm.engine
    kv0, st0 = engine.kv_pool.num_free, engine.state_pool.num_free
    long_prompt, short_prompt = _prompts(2)[0] * 4, [5, 6, 7]
    engine.add_request(short_prompt, GREEDY, rid="decode")
    engine.add_request(short_prompt, SamplingParams(max_tokens=64, n=3, seed=1), rid="group")
    engine.step()
    engine.add_request(long_prompt, GREEDY, rid="prefill")
    for _ in range(2):
        engine.step()
    prefill = engine.requests["prefill"][0]
    assert 0 < prefill.num_processed < len(long_prompt)  # still in prefill
    assert len(engine.requests["decode"][0].output_ids) >= 1  # decoding
    for rid in ("prefill", "decode", "group"):
        assert engine.abort(rid)
    assert not engine.has_work()
    _assert_everything_released(engine, kv0, st0)
    # the engine still serves afterwards
    assert len(llm.generate([short_prompt], GREEDY)[0].token_ids) == 16


def test_a_hit_on_the_only_snapshot_still_admits():
    """With one state slot the tree's snapshot is the only one to evict; admission must not
    evict the node it matched while locked, nor hang: it gives up the hit instead."""
    llm = LLM("tiny", num_state_slots=1)
    first = llm.generate([_prompts(1)[0]], GREEDY)[0]
    assert llm.engine.tree.num_state_snapshots == 1  # the finished sequence's donated state
    again = first.prompt_token_ids + first.token_ids + [7, 8, 9]
    out = llm.generate([again], GREEDY)[0]
    assert out.cached_tokens == 0 and len(out.token_ids) == 16
    llm.engine.tree.check_invariants()


def test_running_requests_hold_one_state_slot_each():
    """Snapshots that prefills save stay evictable while their requests run: 6 slots run 5
    requests at once (a request pinning its own snapshot would hold two, and 3 would run)."""
    llm = LLM("tiny", num_state_slots=6, max_running_requests=5, chunked_prefill_size=512)
    engine = llm.engine
    rng = random.Random(3)
    params = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
    for _ in range(5):  # 100-token prompts: each prefill saves a snapshot on the 48-token grid
        engine.add_request([rng.randrange(3, 1024) for _ in range(100)], params)
    peak = 0
    while engine.has_work():
        engine.step()
        peak = max(peak, engine.stats().running)
        engine.tree.check_invariants()
    assert peak == 5 and engine.stats().preemptions == 0
    assert engine.tree.num_state_snapshots > 0  # the finished requests' states stay cached
