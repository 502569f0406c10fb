"""Column- and row-parallel linear layers (weights [out, in], as in nn.Linear and checkpoints)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hybridserve import kernels
from hybridserve.workers.distributed import ParallelContext
from hybridserve.workers.distributed.shard import Ranges, Shard, local_size


class ColumnParallelLinear(nn.Module):
    """Output features split: this rank holds rows `ranges` of the full weight (None: all)."""

    def __init__(
        self, in_features: int, out_features: int, ranges: Ranges | None, bias: bool
    ) -> None:
        super().__init__()
        local = local_size(out_features, ranges)
        self.weight = nn.Parameter(torch.empty(local, in_features))
        self.bias = nn.Parameter(torch.empty(local)) if bias else None
        self.shards = {
            "weight": Shard((out_features, in_features), 0, ranges),
            "bias": Shard((out_features,), 0, ranges),
        }

    def forward(self, x: torch.Tensor, relu2: bool = False) -> torch.Tensor:
        """`relu2`: relu(.)^2 of the output (fused into the decode GEMV)."""
        if self.bias is not None:
            y = F.linear(x, self.weight, self.bias)
            return F.relu(y).square() if relu2 else y
        return kernels.linear(x, self.weight, relu2)


class RowParallelLinear(nn.Module):
    """Input features split (columns `ranges` of the full weight); the partial products are
    summed by one all-reduce, or left partial (`reduce=False`) for a caller that combines several
    of them first. The bias is added once: after the reduce, or by rank 0 alone."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        ranges: Ranges | None,
        bias: bool,
        parallel: ParallelContext,
        reduce: bool = True,
    ) -> None:
        super().__init__()
        self.parallel, self.reduce = parallel, reduce
        self.weight = nn.Parameter(torch.empty(out_features, local_size(in_features, ranges)))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.shards = {"weight": Shard((out_features, in_features), 1, ranges)}

    def forward(self, x: torch.Tensor, fp32_out: bool = False) -> torch.Tensor:
        """`fp32_out`: the product in fp32, not rounded to x's dtype (for a caller that adds
        onto it in fp32)."""
        y = kernels.linear(x, self.weight, fp32_out=fp32_out)
        if self.reduce:
            y = self.parallel.all_reduce(y)
        if self.bias is not None and (self.reduce or self.parallel.tp_rank == 0):
            y = y + self.bias
        return y
