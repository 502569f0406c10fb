"""Logit penalties from token history: repetition, frequency/presence, and min_tokens stop masks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from hybridserve.kernels.host_copy import device_tensor
from hybridserve.workers.engine.sampling_params import SamplingParams


def token_counts(
    token_ids: Sequence[Sequence[int]], vocab_size: int, device: torch.device
) -> torch.Tensor:
    """How often each vocabulary id occurs in each row's tokens: [B, V] int32."""
    lengths = [len(ids) for ids in token_ids]
    # Flatten on the host with numpy (a Python list -> tensor copy is several times slower).
    ids = np.fromiter(itertools.chain.from_iterable(token_ids), dtype=np.int64, count=sum(lengths))
    if ids.size and not 0 <= ids.min() <= ids.max() < vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    flat_index = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths) * vocab_size + ids
    index = device_tensor(flat_index, torch.int64, device)  # (a pageable copy would sync)
    counts = torch.zeros(len(lengths), vocab_size, dtype=torch.int32, device=device)
    counts.view(-1).index_add_(0, index, torch.ones_like(index, dtype=torch.int32))
    return counts


def apply_penalties(
    logits: torch.Tensor,  # [B, V] fp32
    params: Sequence[SamplingParams],
    prompt_ids: Sequence[Sequence[int]],
    output_ids: Sequence[Sequence[int]],
) -> torch.Tensor:
    """vLLM's penalties, in its order; returns new logits (the input is not modified).

    Repetition penalty p on every id seen in prompt or output: a positive logit is divided by p,
    a negative one multiplied. Then, on output ids only, `logit -= frequency_penalty * count +
    presence_penalty * (count > 0)`. A step whose rows all have neutral penalties costs nothing.
    """
    if not any(p.has_penalties for p in params):
        return logits
    repetition = any(p.repetition_penalty != 1.0 for p in params)
    additive = any(p.frequency_penalty != 0.0 or p.presence_penalty != 0.0 for p in params)
    vocab, device = logits.shape[1], logits.device
    counts = token_counts(output_ids, vocab, device)  # [B, V]
    if repetition:
        seen = (token_counts(prompt_ids, vocab, device) > 0) | (counts > 0)
        penalty = _column([p.repetition_penalty for p in params], device)
        scaled = torch.where(logits > 0, logits / penalty, logits * penalty)
        logits = torch.where(seen, scaled, logits)
    if additive:
        frequency = _column([p.frequency_penalty for p in params], device)
        presence = _column([p.presence_penalty for p in params], device)
        logits = logits - frequency * counts - presence * (counts > 0)
    return logits


def mask_stops_before_min_tokens(
    logits: torch.Tensor,  # [B, V] fp32
    params: Sequence[SamplingParams],
    generated: Sequence[int],  # tokens each row has generated so far
    eos_token_ids: Sequence[int],
) -> torch.Tensor:
    """Set the stop ids (and EOS unless `ignore_eos`) to -inf in rows below their min_tokens."""
    rows: list[int] = []
    cols: list[int] = []
    for row, (p, count) in enumerate(zip(params, generated, strict=True)):
        if count >= p.min_tokens:
            continue
        stops = set(p.stop_token_ids) if p.ignore_eos else {*p.stop_token_ids, *eos_token_ids}
        rows += [row] * len(stops)
        cols += sorted(stops)
    if not rows:
        return logits
    logits = logits.clone()
    where = device_tensor([rows, cols], torch.long, logits.device)
    logits[where[0], where[1]] = float("-inf")
    return logits


def _column(values: list[float], device: torch.device) -> torch.Tensor:
    return device_tensor(values, torch.float32, device).unsqueeze(1)  # [B, 1]
