"""Depthwise causal conv1d + SiLU over a varlen batch, with a cached conv state (reference).

The conv state of a sequence is its last `K-1` *inputs* (pre-activation), oldest first:
`[channels, K-1]`. A sequence without an initial state starts from zeros.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from hybridserve.kernels.host_copy import device_tensor


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


def conv1d_states_at(
    x: torch.Tensor,  # [T, C] the packed inputs of this chunk
    initial_states: torch.Tensor,  # [B, C, K-1]
    cu_seqlens: list[int],  # B+1 offsets into T
    points: list[tuple[int, int]],  # (sequence, tokens into it)
) -> torch.Tensor:
    """The conv state after each point, [len(points), C, K-1]: the last K-1 inputs, reaching
    back into the sequence's initial state where the point is that close to its start. Gathers
    only those rows (joining all of `x` with the states first copied the whole chunk: 190 us a
    layer at 8192 tokens on an H200)."""
    width, channels = initial_states.shape[-1], x.shape[1]
    index = _state_rows(tuple(cu_seqlens), tuple(points), width, x.device)
    states = initial_states.to(x.dtype).transpose(1, 2).reshape(-1, channels)  # [B*(K-1), C]
    rows = torch.where(index[2, :, None] > 0, states[index[1]], x[index[0]])
    return rows.view(len(points), width, channels).transpose(1, 2)


@functools.lru_cache(maxsize=8)
def _state_rows(
    cu_seqlens: tuple[int, ...],
    points: tuple[tuple[int, int], ...],
    width: int,
    device: torch.device,
) -> torch.Tensor:
    """conv1d_states_at's gather indices, once a batch: [3, P*(K-1)] of (row of x, row of the
    initial states as [B*(K-1), C], 1 where the latter applies)."""
    seq = np.array([p[0] for p in points], dtype=np.int64)
    start = np.asarray(cu_seqlens, dtype=np.int64)[seq]
    rows = (start + np.array([p[1] for p in points], dtype=np.int64))[:, None] - width
    rows = rows + np.arange(width)  # [P, K-1] packed rows; before `start`: the initial state
    before = rows < start[:, None]
    # sequence i's initial state column j is row i*(K-1) + j of the states as rows
    state_rows = seq[:, None] * width + (rows - start[:, None] + width)
    index = np.stack([np.where(before, 0, rows), np.where(before, state_rows, 0), before])
    return device_tensor(index.reshape(3, -1), torch.long, device)


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


def conv1d_update_slots(
    x: torch.Tensor,  # [Bt, C]
    conv_cache: torch.Tensor,  # [num_slots, C, K-1], advanced in place
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,
    slots: torch.Tensor,  # [Bt] distinct state slots
) -> torch.Tensor:
    """`conv1d_update` on `conv_cache[slots]`, writing the new states back; returns [Bt, C]."""
    out, conv_cache[slots] = conv1d_update(x, conv_cache[slots], weight, bias)
    return out
