"""--mamba-ssm-dtype: the Mamba state cache in bfloat16 instead of the checkpoint's float32."""

from __future__ import annotations

import random

import pytest
import torch

from hybridserve import LLM, SamplingParams
from hybridserve.errors import ConfigError
from hybridserve.workers.engine.engine_config import EngineConfig

PARAMS = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True, logprobs=True)


def test_bfloat16_states_halve_the_cache_and_track_float32() -> None:
    rng = random.Random(5)
    prompts = [[rng.randrange(3, 1024) for _ in range(rng.randint(20, 90))] for _ in range(4)]
    full = LLM("tiny", cache_bytes=4 << 20)
    half = LLM("tiny", cache_bytes=4 << 20, mamba_ssm_dtype="bfloat16")
    assert full.engine.buffers.ssm.dtype == torch.float32
    assert half.engine.buffers.ssm.dtype == torch.bfloat16
    assert half.engine.state_pool.num_total > full.engine.state_pool.num_total  # same budget
    for ref, out in zip(full.generate(prompts, PARAMS), half.generate(prompts, PARAMS)):
        # the first token comes from the prefill's fp32 scan; later ones read the rounded state
        assert out.token_ids[0] == ref.token_ids[0]
        agree = next((i for i, (a, b) in enumerate(zip(ref.token_ids, out.token_ids)) if a != b), 6)
        got, want = out.outputs[0].logprobs[:agree], ref.outputs[0].logprobs[:agree]
        assert max(abs(a - b) for a, b in zip(got, want)) < 0.05


def test_unknown_state_dtype_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="mamba_ssm_dtype"):
        EngineConfig(mamba_ssm_dtype="int8")
