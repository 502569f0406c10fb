"""Dense ReLU^2 MLP (no gate): the `-` block and the MoE shared expert."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hybridserve.workers.models.cache_buffers import HybridCacheBuffers
from hybridserve.workers.models.forward_batch import ForwardBatch


class ReLU2MLP(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, bias: bool = False) -> None:
        super().__init__()
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=bias)

    def forward(
        self,
        x: torch.Tensor,
        batch: ForwardBatch | None = None,
        caches: HybridCacheBuffers | None = None,
    ) -> torch.Tensor:
        return self.down_proj(F.relu(self.up_proj(x)).square())
