"""Vocab-parallel embedding and lm_head: each rank holds ceil(V/tp) rows of the vocab."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hybridserve import kernels
from hybridserve.workers.distributed import ParallelContext
from hybridserve.workers.distributed.shard import Shard


def _vocab_part(vocab: int, parallel: ParallelContext) -> tuple[int, int, int]:
    """(start, end, rows): rank's rows [start, end); `rows` >= end - start (padding at the end)."""
    rows = -(-vocab // parallel.tp_size)
    start = min(vocab, parallel.tp_rank * rows)
    return start, min(vocab, start + rows), rows


class VocabParallelEmbedding(nn.Module):
    """Each rank looks up its rows, zeroes the others; the all-reduce completes every row."""

    def __init__(self, vocab: int, hidden: int, parallel: ParallelContext) -> None:
        super().__init__()
        self.parallel = parallel
        self.start, self.end, rows = _vocab_part(vocab, parallel)
        self.weight = nn.Parameter(torch.empty(rows, hidden))
        self.shards = {"weight": Shard((vocab, hidden), 0, ((self.start, self.end),))}

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.parallel.tp_size == 1:
            return F.embedding(ids, self.weight)
        local = (ids >= self.start) & (ids < self.end)
        h = F.embedding((ids - self.start) * local, self.weight) * local[:, None]
        return self.parallel.all_reduce(h)


class ParallelLMHead(nn.Module):
    """The lm_head's local vocab rows (the checkpoint's `lm_head.weight`)."""

    def __init__(self, vocab: int, hidden: int, parallel: ParallelContext) -> None:
        super().__init__()
        start, end, rows = _vocab_part(vocab, parallel)
        self.weight = nn.Parameter(torch.empty(rows, hidden))
        self.shards = {"weight": Shard((vocab, hidden), 0, ((start, end),))}


def vocab_logits(
    h: torch.Tensor, weight: torch.Tensor, vocab: int, parallel: ParallelContext
) -> torch.Tensor:
    """fp32 logits [n, vocab] from each rank's vocab rows `weight` (lm_head or tied embedding),
    the GEMM's accumulator as it is (no rounding to h's dtype, no cast kernel after)."""
    logits = kernels.linear(h, weight, fp32_out=True)  # [n, rows]
    return parallel.all_gather(logits, dim=-1)[:, :vocab]
