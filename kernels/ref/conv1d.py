"""Depthwise causal conv1d + SiLU over a varlen batch, with a cached conv state (reference).

The conv state of a sequence is its last `K-1` *inputs* (pre-activation), oldest first:
`[channels, K-1]`. A sequence without an initial state starts from zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv1d_varlen(
    x: torch.Tensor,  # [T, C]
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,  # [C]
    cu_seqlens: list[int],  # B+1 offsets into T
    initial_states: torch.Tensor,  # [B, C, K-1]; zeros where a sequence has no history
) -> torch.Tensor:
    """Returns silu(conv(x)) of shape [T, C]; states are read, never written."""
    out = torch.empty_like(x)
    for i in range(len(cu_seqlens) - 1):
        s, e = cu_seqlens[i], cu_seqlens[i + 1]
        if s == e:
            continue
        seq = torch.cat([initial_states[i].to(x.dtype), x[s:e].T], dim=-1)  # [C, K-1+L]
        # Shifted multiply-adds rather than F.conv1d: exact fp32 on every device (cuDNN would
        # use TF32 on GPU), and K is tiny.
        y = sum(weight[:, k : k + 1] * seq[:, k : k + e - s] for k in range(weight.shape[1]))
        if bias is not None:
            y = y + bias[:, None]
        out[s:e] = F.silu(y.T)
    return out


def conv1d_state_at(
    x_seq: torch.Tensor,  # [L, C] the inputs of one sequence in this chunk
    initial_state: torch.Tensor,  # [C, K-1]
    offset: int,
) -> torch.Tensor:
    """The conv state after the first `offset` tokens of `x_seq`: [C, K-1]."""
    width = initial_state.shape[-1]
    tail = x_seq[max(0, offset - width) : offset].T  # only the last K-1 inputs matter
    hist = torch.cat([initial_state.to(x_seq.dtype), tail], dim=-1)
    return hist[:, hist.shape[-1] - width :]


def conv1d_update(
    x: torch.Tensor,  # [Bt, C] one new input per sequence
    conv_state: torch.Tensor,  # [Bt, C, K-1]
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode step: returns (silu(conv) [Bt, C], the new state [Bt, C, K-1])."""
    window = torch.cat([conv_state.to(x.dtype), x[:, :, None]], dim=-1)  # [Bt, C, K]
    y = (window * weight).sum(-1)
    if bias is not None:
        y = y + bias
    return F.silu(y), window[:, :, 1:]
