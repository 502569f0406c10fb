"""Mamba's in_proj with the conv update (reference for kernels/mamba_gemv.py), composed from
the other references."""

from __future__ import annotations

import torch

from hybridserve.kernels.ref.conv1d import conv1d_update_slots
from hybridserve.kernels.ref.linear import linear


def in_proj_conv(
    x: torch.Tensor,  # [T, K]
    weight: torch.Tensor,  # [N, K]
    conv_weight: torch.Tensor,  # [hi - lo, KW + 1]
    conv_bias: torch.Tensor | None,
    conv_cache: torch.Tensor,  # [num_slots, hi - lo, KW], advanced in place at `slots`
    slots: torch.Tensor,  # [T] distinct state slots
    lo: int,
) -> torch.Tensor:
    """`x @ weight.T` [T, N] with columns [lo, hi) replaced by silu(conv1d_update(.))."""
    out = linear(x, weight)
    hi = lo + conv_weight.shape[0]
    out[:, lo:hi] = conv1d_update_slots(out[:, lo:hi], conv_cache, conv_weight, conv_bias, slots)
    return out
