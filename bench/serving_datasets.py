"""Serving-benchmark prompts as token ids: SGLang's `random` and `generated-shared-prefix`."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.routing_workloads import shared_prefix


@dataclass(frozen=True)
class BenchRequest:
    prompt: list[int]
    output_len: int


def _length(rng: random.Random, full: int, range_ratio: float) -> int:
    """Uniform in [range_ratio * full, full], at least 1 (SGLang's --random-range-ratio)."""
    return rng.randint(max(1, int(full * range_ratio)), max(1, full))


def random_requests(
    num: int, input_len: int, output_len: int, range_ratio: float, vocab_size: int, seed: int
) -> list[BenchRequest]:
    """Independent prompts of random token ids drawn from [1, vocab_size)."""
    rng = random.Random(seed)
    out = []
    for _ in range(num):
        n_in, n_out = _length(rng, input_len, range_ratio), _length(rng, output_len, range_ratio)
        out.append(BenchRequest([rng.randrange(1, vocab_size) for _ in range(n_in)], n_out))
    return out


def shared_prefix_requests(
    groups: int,
    prompts_per_group: int,
    system_len: int,
    question_len: int,
    output_len: int,
    seed: int,
) -> list[BenchRequest]:
    """G system prompts of S tokens, each followed by P questions of Q tokens, shuffled (token
    ids from the routing workloads' vocabulary, [1, 1000))."""
    requests = shared_prefix(
        groups, prompts_per_group, system_len, question_len, output_len, 1.0, seed
    )
    return [BenchRequest(r.prompt, output_len) for r in requests]
