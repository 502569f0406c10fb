"""Chunked prefill and prefix reuse with Mamba-state snapshots (tiny preset, grid of 16)."""

from __future__ import annotations

import random

import pytest

from hybridserve import LLM, SamplingParams
from tests.workers.engine.greedy_compare import assert_same_greedy, gaps_from_top_logprobs

GREEDY = SamplingParams(
    temperature=0, max_tokens=24, ignore_eos=True, logprobs=True, top_logprobs=2
)
GRID = 16  # the tiny preset's scan chunk, page size 1


def _tokens(seed: int, n: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(3, 1024) for _ in range(n)]


def _ref(prompt: list[int]) -> tuple[list[int], list[float]]:
    out = LLM("tiny").generate([prompt], GREEDY)[0]
    return out.token_ids, gaps_from_top_logprobs(out.outputs[0].top_logprobs)


def test_chunk_of_16_equals_unchunked():
    prompts = [_tokens(i, n) for i, n in enumerate([5, 40, 97, 160])]
    whole = LLM("tiny", chunked_prefill_size=4096).generate(prompts, GREEDY)
    chunked = LLM("tiny", chunked_prefill_size=16).generate(prompts, GREEDY)
    for a, b in zip(whole, chunked):
        assert_same_greedy(
            a.token_ids, gaps_from_top_logprobs(a.outputs[0].top_logprobs), b.token_ids
        )


@pytest.mark.parametrize("shared", [180, 128], ids=["inside-a-chunk", "on-a-boundary"])
def test_prefix_reuse_after_a_finished_prompt(shared):
    llm = LLM("tiny", chunked_prefill_size=64)  # chunk ends 64, 128, 192; prompt grid point 192
    first = _tokens(1, 200)
    llm.generate([first], GREEDY)
    second = first[:shared] + _tokens(2, 30)
    out = llm.generate([second], GREEDY)[0]
    largest_boundary = max(b for b in (64, 128, 192) if b <= shared)
    assert out.cached_tokens >= largest_boundary
    assert out.computed_tokens == len(second) - out.cached_tokens + GREEDY.max_tokens - 1
    assert_same_greedy(*_ref(second), out.token_ids)


def test_a_match_past_the_last_snapshot_saves_one_on_the_grid():
    llm = LLM("tiny", chunked_prefill_size=64)
    first = _tokens(1, 200)
    llm.generate([first], GREEDY)
    llm.generate([first[:180] + _tokens(2, 30)], GREEDY)  # records grid point 176 on the way
    third = llm.generate([first[:180] + _tokens(3, 10)], GREEDY)[0]
    assert third.cached_tokens == 176


@pytest.mark.parametrize("length, hit", [(100, 96), (128, 112)])
def test_identical_repeated_prompt_hits(length, hit):
    """A repeat hits the last grid point before its last token (which always runs), also when
    the prompt ends exactly on the grid."""
    llm = LLM("tiny")
    prompt = _tokens(4, length)
    a = llm.generate([prompt], GREEDY)[0]
    b = llm.generate([prompt], GREEDY)[0]
    assert a.cached_tokens == 0 and b.cached_tokens == hit
    assert a.token_ids == b.token_ids


@pytest.mark.parametrize("interval, expected", [(0, 0), (64, 128), (100, 112)])
def test_checkpoints_inside_one_chunk_serve_a_partial_match(interval, expected):
    """A 200-token prompt prefilled in one chunk leaves states every `interval` tokens (rounded
    up to the grid: 100 -> 112); a prompt sharing its first 150 resumes from the deepest one."""
    llm = LLM("tiny", chunked_prefill_size=4096, checkpoint_interval=interval)
    first = _tokens(1, 200)
    llm.generate([first], GREEDY)
    second = first[:150] + _tokens(2, 30)
    out = llm.generate([second], GREEDY)[0]
    assert out.cached_tokens == expected
    assert_same_greedy(*_ref(second), out.token_ids)
