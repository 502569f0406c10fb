"""Throwaway requests an engine serves before its first real one.

Triton compiles each kernel variant (constexpr flags, integer arguments specialised on
divisibility by 16) and mamba-ssm autotunes its scan kernels on first use. Decode kernels run
while the CUDA graphs are captured, but the prefill paths first ran under real traffic: in a
serving run on an H200 the engine thread spent ~20 s compiling and autotuning while the first
1,024 requests waited (docs/benchmarks.md, 2026-11-30, "Warm-up"). The requests below cover
what serving runs: several sequences packed into one prefill (token counts on and off multiples
of 16), a prompt cut into chunks, a prompt resuming a cached state, decode rows mixed with a
prefill. Afterwards the engine is as new: cache emptied, its KV events dropped, counters zero.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.engine.stats import EngineStats

if TYPE_CHECKING:
    from hybridserve.workers.engine.engine import Engine


def warm_up(engine: Engine) -> EngineStats:
    """Serve the warm-up requests to completion and reset the engine; returns the engine's
    counters as they were before the reset (what the warm-up ran)."""
    assert not engine.has_work(), "warm up an idle engine"
    grid, budget = engine.grid, engine.scheduler.budget
    room = min(engine.max_model_len, engine.kv_pool.num_total * engine.cfg.page_size // 4) - 4
    rng = random.Random(0)
    vocab = engine.model_config.vocab_size

    def prompt(n: int) -> list[int]:
        return [rng.randrange(vocab) for _ in range(max(1, min(n, room)))]

    first = prompt(2 * grid + 3)  # its prefill saves a state at 2 * grid
    _serve(engine, [first, prompt(37), prompt(budget + grid + 5)])
    _serve(engine, [first[: 2 * grid] + prompt(5), prompt(43)])  # 48 new tokens
    ran = engine.stats()
    _reset(engine)
    return ran


def _serve(engine: Engine, prompts: list[list[int]]) -> None:
    params = SamplingParams(temperature=0.0, max_tokens=3, ignore_eos=True)
    for ids in prompts:
        engine.add_request(ids, params)
    while engine.has_work():
        engine.step()


def _reset(engine: Engine) -> None:
    engine.tree.reset()
    engine.tree.events.drain()
    engine.reset_counters()
