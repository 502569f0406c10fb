"""Pick one next token per row of a batch whose rows carry different sampling parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from hybridserve.kernels.host_copy import device_tensor
from hybridserve.workers.engine.penalties import apply_penalties, mask_stops_before_min_tokens
from hybridserve.workers.engine.sampling_params import SamplingParams

_MASK64 = (1 << 64) - 1


class SampleOutput(NamedTuple):
    """One sampled token per row, and the log-probs of the rows that asked for them."""

    token_ids: list[int]
    # Log-prob of each chosen token under log_softmax of the raw logits (before penalties,
    # temperature and filters, as vLLM's default); every row has one when any row asked, else None.
    logprobs: list[float] | None
    # Per row, its `top_logprobs` best (token id, raw log-prob), highest first; [] for rows that
    # asked for none; None when no row asked for logprobs.
    top_logprobs: list[list[tuple[int, float]]] | None


class Sampler:
    """Batched sampling: penalties -> min_tokens -> temperature -> top-k -> top-p -> min-p -> draw.

    The math runs on [B, V] tensors with one parameter per row. Draws use the exponential race,
    `argmax(probs / noise)` with `noise ~ Exp(1)`. A seeded row's noise comes only from a generator
    seeded by (its seed, its step), so its tokens do not depend on the rows batched beside it, nor
    on the order of rows, nor on this sampler's own seed; they do depend on the device type and
    the vocabulary width. Unseeded rows share one generator per device, seeded from `seed`
    (random when None).
    """

    def __init__(self, eos_token_ids: Sequence[int] = (), seed: int | None = None) -> None:
        self.eos_token_ids = tuple(eos_token_ids)
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}
        self._row_generators: dict[torch.device, torch.Generator] = {}

    def sample(
        self,
        logits: torch.Tensor,  # [B, V] fp32, not modified
        params: Sequence[SamplingParams],
        prompt_ids: Sequence[Sequence[int]],
        output_ids: Sequence[Sequence[int]],
        generated: Sequence[int] | None = None,
    ) -> SampleOutput:
        """Sample one token for each row.

        `output_ids[i]` are row i's tokens generated so far (for penalties); `generated[i]` is
        how many there are, by default `len(output_ids[i])` (more while some are still on the
        device): the count min_tokens checks and the step mixed into a seeded row's seed.
        """
        tokens = self.sample_tokens(logits, params, prompt_ids, output_ids, generated)
        token_ids = tokens.tolist()
        if not any(p.logprobs for p in params):
            return SampleOutput(token_ids, None, None)
        return SampleOutput(token_ids, *_logprobs(logits, tokens, params))

    def sample_tokens(
        self,
        logits: torch.Tensor,  # [B, V] fp32, not modified
        params: Sequence[SamplingParams],
        prompt_ids: Sequence[Sequence[int]],
        output_ids: Sequence[Sequence[int]],
        generated: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """`sample`'s tokens as a [B] int64 tensor on the logits' device, without waiting for
        them (the overlapped engine reads them a step later)."""
        batch = logits.shape[0]
        if logits.dim() != 2 or not len(params) == len(prompt_ids) == len(output_ids) == batch:
            raise ValueError(f"logits {tuple(logits.shape)} do not match {len(params)} rows")
        steps = [len(out) for out in output_ids] if generated is None else list(generated)
        if len(steps) != batch:
            raise ValueError(f"generated has {len(steps)} entries for {batch} rows")
        if batch == 0:
            return torch.empty(0, dtype=torch.long, device=logits.device)
        processed = apply_penalties(logits.float(), params, prompt_ids, output_ids)
        processed = mask_stops_before_min_tokens(processed, params, steps, self.eos_token_ids)
        greedy = [p.is_greedy for p in params]
        tokens = processed.argmax(dim=-1)  # [B]
        if not all(greedy):
            sampled = self._draw(processed, params, steps, greedy)
            is_greedy = device_tensor(greedy, torch.bool, logits.device)
            tokens = torch.where(is_greedy, tokens, sampled)
        return tokens

    def _draw(
        self,
        logits: torch.Tensor,  # [B, V] penalised
        params: Sequence[SamplingParams],
        steps: list[int],
        greedy: list[bool],
    ) -> torch.Tensor:  # [B] int64
        device = logits.device
        temperature = [1.0 if g else p.temperature for p, g in zip(params, greedy)]
        logits = logits / device_tensor(temperature, torch.float32, device).unsqueeze(1)
        logits = _top_k_top_p(logits, params)
        logits = _min_p(logits, params)
        probs = logits.softmax(dim=-1)
        noise = torch.ones_like(probs)  # greedy rows draw nothing
        unseeded = [i for i, p in enumerate(params) if p.seed is None and not greedy[i]]
        if unseeded:
            drawn = torch.empty(len(unseeded), probs.shape[1], device=device)
            drawn.exponential_(generator=self._generator(device))
            noise[device_tensor(unseeded, torch.long, device)] = drawn
        row_generator = self._row_generator(device)
        for i, p in enumerate(params):
            if p.seed is not None and not greedy[i]:
                row_generator.manual_seed(_row_seed(p.seed, steps[i]))
                noise[i].exponential_(generator=row_generator)
        # Exp(1) noise can be exactly 0; a tiny floor keeps 0/0 out of the argmax.
        noise.clamp_min_(torch.finfo(noise.dtype).tiny)
        return (probs / noise).argmax(dim=-1)

    def _generator(self, device: torch.device) -> torch.Generator:
        if device not in self._generators:
            generator = torch.Generator(device=device)
            if self.seed is None:
                generator.seed()
            else:
                generator.manual_seed(self.seed & _MASK64)
            self._generators[device] = generator
        return self._generators[device]

    def _row_generator(self, device: torch.device) -> torch.Generator:
        # One object reused for every seeded row; re-seeded before each use, so it keeps no state.
        if device not in self._row_generators:
            self._row_generators[device] = torch.Generator(device=device)
        return self._row_generators[device]


def _top_k_top_p(logits: torch.Tensor, params: Sequence[SamplingParams]) -> torch.Tensor:
    """Keep each row's top_k best ids, then the fewest best ids whose mass reaches top_p."""
    batch, vocab = logits.shape
    if all(p.top_k == -1 and p.top_p >= 1.0 for p in params):
        return logits
    device = logits.device
    # Stable descending sort: among equal logits the lower id ranks first, as in argmax.
    ordered, order = logits.sort(dim=-1, descending=True, stable=True)  # [B, V]
    rank = torch.arange(vocab, device=device).unsqueeze(0)  # [1, V]
    top_k = device_tensor([vocab if p.top_k == -1 else p.top_k for p in params], torch.long, device)
    ordered = ordered.masked_fill(rank >= top_k.unsqueeze(1), float("-inf"))
    top_p = device_tensor([p.top_p for p in params], torch.float32, device).unsqueeze(1)  # [B, 1]
    probs = ordered.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # mass of the strictly better ids
    # Rows with top_p == 1 skip the test: cumsum rounding could otherwise drop tail ids.
    drop = (mass_before >= top_p) & (top_p < 1.0)
    ordered = ordered.masked_fill(drop, float("-inf"))
    return torch.empty_like(logits).scatter_(1, order, ordered)


def _min_p(logits: torch.Tensor, params: Sequence[SamplingParams]) -> torch.Tensor:
    """Drop ids whose probability is below min_p times the row's best probability."""
    if all(p.min_p == 0.0 for p in params):
        return logits
    min_p = device_tensor([p.min_p for p in params], torch.float32, logits.device).unsqueeze(1)
    # prob / best_prob = exp(logit - best_logit): compare in log space, no softmax needed.
    best = logits.max(dim=-1, keepdim=True).values
    return logits.masked_fill(logits - best < min_p.log(), float("-inf"))


def _logprobs(
    logits: torch.Tensor,  # [B, V] raw
    tokens: torch.Tensor,  # [B]
    params: Sequence[SamplingParams],
) -> tuple[list[float], list[list[tuple[int, float]]]]:
    logprobs = logits.float().log_softmax(dim=-1)
    chosen = logprobs.gather(1, tokens.unsqueeze(1)).squeeze(1).tolist()
    width = min(max(p.top_logprobs for p in params), logprobs.shape[1])
    if width == 0:
        return chosen, [[] for _ in params]
    values, ids = logprobs.topk(width, dim=-1)  # sorted, highest first
    values, ids = values.tolist(), ids.tolist()
    top = [
        list(zip(ids[i][: p.top_logprobs], values[i][: p.top_logprobs]))
        for i, p in enumerate(params)
    ]
    return chosen, top


def _row_seed(seed: int, step: int) -> int:
    """A 64-bit generator seed from (request seed, step): splitmix64 of each, chained."""
    return _splitmix64((_splitmix64(seed & _MASK64) + step) & _MASK64)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)
