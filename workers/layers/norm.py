"""RMSNorm modules (block norms, final norm, and the Mamba gated group norm)."""

from __future__ import annotations

import torch
from torch import nn

from hybridserve.kernels import ref


class RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ref.rms_norm(x, self.weight, self.eps)


class GatedRMSNorm(nn.Module):
    """Norm of `y * silu(z)` over groups of `group_size` channels (d_inner / n_groups)."""

    def __init__(self, hidden_size: int, group_size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.group_size = group_size
        self.eps = eps

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ref.gated_rms_norm(y, z, self.weight, self.group_size, self.eps)
