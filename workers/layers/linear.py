"""Column- and row-parallel linear layers (weights [out, in], as in nn.Linear and checkpoints)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight)
        if self.reduce:
            y = self.parallel.all_reduce(y)
        if self.bias is not None and (self.reduce or self.parallel.tp_rank == 0):
            y = y + self.bias
        return y
