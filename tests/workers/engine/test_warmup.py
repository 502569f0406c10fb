"""The start-up warm-up (warmup.py): it runs the prefill paths serving will run, then leaves the
engine as a fresh one: empty cache, no KV events, zero counters, the same tokens."""

from __future__ import annotations

from hybridserve.workers.engine import Engine, EngineConfig, SamplingParams
from hybridserve.workers.engine.warmup import warm_up


def _greedy(engine: Engine, prompt: list[int]) -> list[int]:
    engine.add_request(prompt, SamplingParams(temperature=0.0, max_tokens=8, ignore_eos=True))
    tokens: list[int] = []
    while engine.has_work():
        tokens += [t for d in engine.step() for t in d.token_ids]
    return tokens


def test_warm_up_runs_chunked_resumed_and_mixed_prefills_then_resets() -> None:
    engine = Engine(EngineConfig(model="tiny", chunked_prefill_size=64))
    ran = warm_up(engine)
    assert ran.generated_tokens == 5 * 3
    assert ran.cached_prompt_tokens == 2 * engine.grid  # one prompt resumed a saved state
    # 3 prompts the first round, one over the 64-token budget: more steps than tokens sampled
    assert ran.steps > 3 + 3
    stats = engine.stats()
    assert (stats.steps, stats.generated_tokens, stats.prompt_tokens, stats.step_seconds) == (
        0,
        0,
        0,
        0.0,
    )
    assert engine.kv_pool.num_free == engine.kv_pool.num_total
    assert engine.state_pool.num_free == engine.state_pool.num_total
    assert engine.tree.total_cached_pages == 0 and engine.tree.num_state_snapshots == 0
    assert len(engine.tree.events) == 0 and not engine.requests


def test_a_warmed_up_engine_generates_what_a_fresh_one_does() -> None:
    prompt = list(range(40, 140))
    warmed = Engine(EngineConfig(model="tiny", chunked_prefill_size=64))
    warm_up(warmed)
    fresh = Engine(EngineConfig(model="tiny", chunked_prefill_size=64))
    assert _greedy(warmed, prompt) == _greedy(fresh, prompt)
    assert warmed.stats().cached_prompt_tokens == 0  # nothing of the warm-up was left to hit
