"""relu^2 MLP (dense MLP blocks, the MoE shared expert): up column-, down row-parallel."""

from __future__ import annotations

import torch
from torch import nn

from hybridserve.workers.distributed import ParallelContext, split_range
from hybridserve.workers.layers.linear import ColumnParallelLinear, RowParallelLinear
from hybridserve.workers.models.cache_buffers import HybridCacheBuffers
from hybridserve.workers.models.forward_batch import ForwardBatch


class ReLU2MLP(nn.Module):
    """The intermediate dim is split over the tp group; `reduce=False` leaves the output partial
    (the MoE sums it with its experts' output before its one all-reduce)."""

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        bias: bool = False,
        parallel: ParallelContext | None = None,
        reduce: bool = True,
    ) -> None:
        super().__init__()
        parallel = parallel or ParallelContext()
        part = (split_range(intermediate_size, parallel.tp_rank, parallel.tp_size),)
        self.up_proj = ColumnParallelLinear(hidden_size, intermediate_size, part, bias)
        self.down_proj = RowParallelLinear(
            intermediate_size, hidden_size, part, bias, parallel, reduce
        )

    def forward(
        self,
        x: torch.Tensor,
        batch: ForwardBatch | None = None,
        caches: HybridCacheBuffers | None = None,
        fp32_out: bool = False,
    ) -> torch.Tensor:
        return self.down_proj(self.up_proj(x, relu2=True), fp32_out)
