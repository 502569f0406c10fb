"""The Mamba-2 mixer's fp32 constants (A = -exp(A_log), dt_bias) are kept between steps and
follow in-place weight changes, as a checkpoint load makes them."""

from __future__ import annotations

import torch

from hybridserve import LLM, SamplingParams
from hybridserve.workers.layers.mamba2 import Mamba2Mixer


def _logprobs(llm: LLM, prompt: list[int]) -> list[float]:
    params = SamplingParams(temperature=0, max_tokens=4, ignore_eos=True, logprobs=True)
    return llm.generate([prompt], params)[0].outputs[0].logprobs


def test_constants_are_kept_and_follow_weight_changes() -> None:
    llm = LLM("tiny")
    mixer = next(m for m in llm.engine.model.modules() if isinstance(m, Mamba2Mixer))
    before = _logprobs(llm, [5, 6, 7, 8, 9])
    A, dt_bias = mixer._fp32_constants()
    assert mixer._fp32_constants()[0] is A  # kept, not recomputed
    torch.testing.assert_close(A, -torch.exp(mixer.A_log.float()))
    torch.testing.assert_close(dt_bias, mixer.dt_bias.float())
    with torch.no_grad():
        mixer.A_log.add_(1.0)  # in place, as load_weights copies
        mixer.dt_bias.mul_(3.0)
    A2, dt_bias2 = mixer._fp32_constants()
    torch.testing.assert_close(A2, -torch.exp(mixer.A_log.float()))
    torch.testing.assert_close(dt_bias2, mixer.dt_bias.float())
    assert not torch.equal(A2, A)
    assert _logprobs(llm, [5, 6, 7, 8, 10]) != _logprobs(LLM("tiny"), [5, 6, 7, 8, 10])
    assert before == _logprobs(LLM("tiny"), [5, 6, 7, 8, 9])  # (the comparison is exact)
