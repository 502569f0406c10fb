"""Sampler: filters, penalties, seeded reproducibility across batches, distribution, logprobs."""

from __future__ import annotations

import pytest
import torch

from hybridserve.workers.engine.penalties import (
    apply_penalties,
    mask_stops_before_min_tokens,
    token_counts,
)
from hybridserve.workers.engine.sampler import SampleOutput, Sampler
from hybridserve.workers.engine.sampling_params import SamplingParams

EOS = 2


def _sample(
    sampler: Sampler,
    logits: torch.Tensor,
    params: list[SamplingParams],
    outputs: list[list[int]] | None = None,
    steps: list[int] | None = None,
) -> SampleOutput:
    rows = len(params)
    outputs = outputs if outputs is not None else [[] for _ in range(rows)]
    return sampler.sample(logits, params, [[] for _ in range(rows)], outputs, steps)


def _random_logits(rows: int, vocab: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def test_greedy_is_argmax_of_the_logits() -> None:
    logits = _random_logits(8, 50, seed=0)
    out = _sample(Sampler(seed=0), logits, [SamplingParams(temperature=0.0)] * 8)
    assert out.token_ids == logits.argmax(dim=-1).tolist()
    assert out.logprobs is None and out.top_logprobs is None


def test_top_k_one_and_tiny_top_p_keep_only_the_best_token() -> None:
    logits = _random_logits(6, 50, seed=1)
    best = logits.argmax(dim=-1).tolist()
    sampler = Sampler(seed=0)
    for params in (SamplingParams(top_k=1), SamplingParams(top_p=1e-6)):
        for _ in range(5):
            assert _sample(sampler, logits, [params] * 6).token_ids == best


def test_top_k_keeps_only_the_k_best() -> None:
    logits = torch.tensor([[0.0, 5.0, 4.0, 3.0, 1.0, 2.0]]).repeat(400, 1)
    out = _sample(Sampler(seed=0), logits, [SamplingParams(top_k=2, temperature=5.0)] * 400)
    assert set(out.token_ids) == {1, 2}


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log().repeat(2000, 1)
    # 0.5 < 0.7, then 0.5 + 0.3 >= 0.7: ids 0 and 1 remain.
    out = _sample(Sampler(seed=0), logits, [SamplingParams(top_p=0.7)] * 2000)
    assert set(out.token_ids) == {0, 1}


def test_min_p_drops_ids_below_the_fraction_of_the_best() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.12, 0.08]])
    logits = probs.log().repeat(2000, 1)
    # threshold 0.2 * 0.5 = 0.1: 0.12 stays, 0.08 goes.
    out = _sample(Sampler(seed=0), logits, [SamplingParams(min_p=0.2)] * 2000)
    assert set(out.token_ids) == {0, 1, 2}


def test_penalties_match_the_definitions_on_a_hand_example() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0]])
    params = [SamplingParams(repetition_penalty=2.0, frequency_penalty=0.5, presence_penalty=0.25)]
    out = apply_penalties(logits, params, prompt_ids=[[0]], output_ids=[[1, 3, 3]])
    # repetition on {0, 1, 3}: 2 -> 1, -1 -> -2, 3 -> 1.5; then output counts 1: one, 3: two:
    # id 1: -2 - 0.5 - 0.25 = -2.75; id 3: 1.5 - 2 * 0.5 - 0.25 = 0.25.
    assert out.tolist() == [[1.0, -2.75, 0.5, 0.25, -2.0]]
    assert logits.tolist() == [[2.0, -1.0, 0.5, 3.0, -2.0]]  # input untouched


def test_frequency_and_presence_ignore_the_prompt_and_mix_per_row() -> None:
    logits = torch.zeros(2, 4)
    params = [SamplingParams(frequency_penalty=1.0), SamplingParams(presence_penalty=-1.0)]
    out = apply_penalties(logits, params, [[0, 0], [0]], [[1, 1, 1], [2, 2]])
    assert out.tolist() == [[0.0, -3.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]


def test_token_counts() -> None:
    counts = token_counts([[1, 1, 3], [], [0]], vocab_size=4, device=torch.device("cpu"))
    assert counts.tolist() == [[0, 2, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]
    assert token_counts([[], []], vocab_size=4, device=torch.device("cpu")).sum() == 0
    with pytest.raises(ValueError):
        token_counts([[4]], vocab_size=4, device=torch.device("cpu"))


def test_repetition_penalty_changes_the_greedy_choice() -> None:
    logits = torch.tensor([[3.0, 2.0, 0.0]])
    greedy = SamplingParams(temperature=0.0, repetition_penalty=2.0)
    out = Sampler().sample(logits, [greedy], prompt_ids=[[0]], output_ids=[[]])
    assert out.token_ids == [1]  # 3 / 2 = 1.5 < 2


def test_min_tokens_masks_eos_and_stop_ids_until_reached() -> None:
    logits = torch.zeros(3, 6)
    params = [
        SamplingParams(min_tokens=2, stop_token_ids=[4]),
        SamplingParams(min_tokens=2, stop_token_ids=[4], ignore_eos=True),
        SamplingParams(min_tokens=2, stop_token_ids=[4]),
    ]
    out = mask_stops_before_min_tokens(logits, params, [1, 0, 2], eos_token_ids=[EOS])
    inf = float("-inf")
    assert out.tolist() == [
        [0.0, 0.0, inf, 0.0, inf, 0.0],
        [0.0, 0.0, 0.0, 0.0, inf, 0.0],
        [0.0] * 6,
    ]
    # Through the sampler: EOS is the greedy choice, yet not before min_tokens.
    eos_first = torch.tensor([[0.0, 1.0, 9.0, 0.0]])
    sampler = Sampler(eos_token_ids=[EOS])
    p = SamplingParams(temperature=0.0, min_tokens=1)
    assert sampler.sample(eos_first, [p], [[0]], [[]]).token_ids == [1]
    assert sampler.sample(eos_first, [p], [[0]], [[1]]).token_ids == [EOS]


def test_seeded_rows_reproduce_across_samplers_batches_and_positions() -> None:
    vocab = 1000
    target = SamplingParams(seed=1234, temperature=0.9, top_p=0.95)
    others = [
        SamplingParams(temperature=0.0),
        SamplingParams(seed=7, top_k=40),
        SamplingParams(),
        SamplingParams(seed=1234, temperature=0.5, min_p=0.05, repetition_penalty=1.3),
    ]
    row = _random_logits(1, vocab, seed=5)
    alone, batched = [], []
    a, b = Sampler(seed=1), Sampler(seed=2)
    for step in range(20):
        alone.append(_sample(a, row, [target], steps=[step]).token_ids[0])
        position = step % (len(others) + 1)
        params = others[:position] + [target] + others[position:]
        logits = _random_logits(len(params), vocab, seed=100 + step)
        logits[position] = row[0]
        steps = [step + 3 * i for i in range(len(params))]
        steps[position] = step
        batched.append(_sample(b, logits, params, steps=steps).token_ids[position])
    assert alone == batched
    assert len(set(alone)) > 5  # the step changes the draw
    repeat = [_sample(Sampler(), row, [target], steps=[s]).token_ids[0] for s in range(20)]
    assert repeat == alone
    reseeded = SamplingParams(seed=1235, temperature=0.9, top_p=0.95)
    other = [_sample(a, row, [reseeded], steps=[s]).token_ids[0] for s in range(20)]
    assert other != alone


def test_unseeded_rows_are_reproducible_with_a_sampler_seed() -> None:
    logits = _random_logits(16, 100, seed=3)
    params = [SamplingParams()] * 16
    first = _sample(Sampler(seed=9), logits, params).token_ids
    assert first == _sample(Sampler(seed=9), logits, params).token_ids


def _chi_square(tokens: list[int], expected: torch.Tensor) -> float:
    observed = torch.bincount(torch.tensor(tokens), minlength=len(expected)).double()
    expected = expected.double() * len(tokens)
    return float(((observed - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("seeded", [False, True])
def test_sampled_frequencies_match_the_softmax(temperature: float, seeded: bool) -> None:
    draws = 4000
    logits = torch.tensor([[1.0, 0.0, -0.5, 0.7]])
    params = [
        SamplingParams(temperature=temperature, seed=i if seeded else None) for i in range(draws)
    ]
    out = _sample(Sampler(seed=11), logits.repeat(draws, 1), params)
    expected = (logits[0] / temperature).softmax(dim=-1)
    # 3 degrees of freedom: P(chi2 > 25) is about 1.6e-5.
    assert _chi_square(out.token_ids, expected) < 25.0


def test_logprobs_are_raw_log_softmax_and_top_logprobs_sorted() -> None:
    logits = _random_logits(3, 30, seed=4)
    params = [
        SamplingParams(logprobs=True, top_logprobs=5, repetition_penalty=1.5, temperature=0.3),
        SamplingParams(temperature=0.0),
        SamplingParams(logprobs=True, top_logprobs=20, top_k=3),
    ]
    out = Sampler(seed=0).sample(logits, params, [[0, 1, 2]] * 3, [[3, 4]] * 3)
    raw = logits.log_softmax(dim=-1)
    assert out.logprobs is not None and out.top_logprobs is not None
    for row, token in enumerate(out.token_ids):
        assert out.logprobs[row] == pytest.approx(raw[row, token].item(), abs=1e-6)
    assert [len(t) for t in out.top_logprobs] == [5, 0, 20]
    for row, top in enumerate(out.top_logprobs):
        values = [v for _, v in top]
        assert values == sorted(values, reverse=True)
        for token, value in top:
            assert value == pytest.approx(raw[row, token].item(), abs=1e-6)
        if top:
            assert top[0][0] == raw[row].argmax().item()


def test_input_logits_are_not_modified_and_bad_shapes_raise() -> None:
    logits = _random_logits(2, 10, seed=6)
    before = logits.clone()
    params = [SamplingParams(repetition_penalty=2.0, top_k=3), SamplingParams(min_tokens=5)]
    Sampler(eos_token_ids=[EOS], seed=0).sample(logits, params, [[1], [2]], [[3], []])
    assert torch.equal(logits, before)
    with pytest.raises(ValueError):
        Sampler().sample(logits, params[:1], [[1]], [[]])
    assert Sampler().sample(torch.zeros(0, 10), [], [], []) == SampleOutput([], None, None)
