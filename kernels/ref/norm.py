"""RMSNorm and the Mamba-2 grouped, gated RMSNorm (reference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm in fp32; the weight multiplies in fp32 before the cast back (transformers 5)."""
    x32 = x.float()
    x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return (weight.float() * x32).to(x.dtype)


def add_rms_norm(
    residual: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """A pre-norm block boundary: the residual stream plus the block's output, and the next
    block's RMSNorm of that sum cast to the weight's (the model's) dtype. The output is rounded
    to the model's dtype first when it comes wider (the MoE's fp32 sum), as the reference
    model's blocks return it; the sum is in the stream's dtype."""
    total = residual + delta.to(weight.dtype)
    return total, rms_norm(total.to(weight.dtype), weight, eps)


def gated_rms_norm(
    y: torch.Tensor,  # [T, d_inner]
    z: torch.Tensor,  # [T, d_inner]
    weight: torch.Tensor,  # [d_inner]
    group_size: int,
    eps: float,
) -> torch.Tensor:
    """`weight * norm_per_group(y * silu(z))`: the gate applies before the normalisation."""
    h = y.float() * F.silu(z.float())
    shape = h.shape
    h = h.view(*shape[:-1], shape[-1] // group_size, group_size)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.view(shape).to(y.dtype)
