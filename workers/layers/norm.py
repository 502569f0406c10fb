"""RMSNorm modules (block norms, final norm, and the Mamba gated group norm)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hybridserve import kernels
from hybridserve.workers.distributed import ParallelContext


class RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return kernels.rms_norm(x, self.weight, self.eps)


class GatedRMSNorm(nn.Module):
    """Norm of `y * silu(z)` over groups of `group_size` channels (d_inner / n_groups).

    `hidden_size` is this rank's part of d_inner. When it is smaller than a group (tp > n_groups)
    the group spans several ranks: rank's channels all lie in group `group` of `n_groups`, and one
    all-reduce of per-group sums of squares gives every rank its group's full variance."""

    def __init__(
        self,
        hidden_size: int,
        group_size: int,
        eps: float,
        parallel: ParallelContext | None = None,
        group: int = 0,
        n_groups: int = 1,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.group_size = group_size
        self.eps = eps
        self.parallel = parallel or ParallelContext()
        self.group, self.n_groups = group, n_groups

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.group_size <= self.weight.shape[0]:
            return kernels.gated_rms_norm(y, z, self.weight, self.group_size, self.eps)
        h = y.float() * F.silu(z.float())  # [T, local channels]
        sums = h.new_zeros(h.shape[0], self.n_groups)
        sums[:, self.group] = h.pow(2).sum(-1)
        var = self.parallel.all_reduce(sums)[:, self.group, None] / self.group_size
        return self.weight * (h * torch.rsqrt(var + self.eps)).to(y.dtype)
