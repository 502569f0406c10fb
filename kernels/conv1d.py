"""Triton depthwise causal conv1d + SiLU: over a varlen prefill batch with initial states, and one
step for decode over state slots (oracles: kernels/ref/conv1d.py `causal_conv1d_varlen`,
`conv1d_update`)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from hybridserve.kernels.host_copy import device_offsets


class ConvTile(NamedTuple):
    """Positions x channels a program of the varlen conv, and its warps."""

    block_t: int
    block_c: int
    num_warps: int


CONV_TILE = ConvTile(32, 128, 4)


@triton.jit
def _conv1d_update_kernel(
    x_ptr,  # [Bt, C]
    w_ptr,  # [C, K]
    b_ptr,  # [C] or a dummy when HAS_BIAS is false
    state_in_ptr,  # [S, C, K-1]
    state_out_ptr,  # [S', C, K-1] (may alias state_in: each program owns its (slot, channels))
    slot_in_ptr,  # [Bt] int
    slot_out_ptr,  # [Bt] int
    out_ptr,  # [Bt, C]
    C,
    stride_x,
    stride_w,
    stride_si_b,
    stride_si_c,
    stride_so_b,
    stride_so_c,
    stride_out,
    KW: tl.constexpr,  # K - 1
    HAS_BIAS: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = cols < C
    s_in = tl.load(slot_in_ptr + b).to(tl.int64)
    s_out = tl.load(slot_out_ptr + b).to(tl.int64)
    if s_in < 0:  # a padded row (CUDA-graph batch padding): nothing to read or write
        return
    x = tl.load(x_ptr + b * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    acc = tl.load(w_ptr + cols * stride_w + KW, mask=mask, other=0.0).to(tl.float32) * x
    if HAS_BIAS:
        acc += tl.load(b_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    si = state_in_ptr + s_in * stride_si_b + cols * stride_si_c
    so = state_out_ptr + s_out * stride_so_b + cols * stride_so_c
    for j in tl.static_range(KW):
        h = tl.load(si + j, mask=mask, other=0.0)
        wj = tl.load(w_ptr + cols * stride_w + j, mask=mask, other=0.0).to(tl.float32)
        acc += wj * h.to(tl.float32)
        if j > 0:  # shift left; with aliasing, element j-1 was already read by this thread
            tl.store(so + (j - 1), h.to(state_out_ptr.dtype.element_ty), mask=mask)
    tl.store(so + (KW - 1), x.to(state_out_ptr.dtype.element_ty), mask=mask)
    y = acc * tl.sigmoid(acc)
    tl.store(out_ptr + b * stride_out + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def _launch(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    state_in: torch.Tensor,
    state_out: torch.Tensor,
    slot_in: torch.Tensor,
    slot_out: torch.Tensor,
) -> torch.Tensor:
    bt, c = x.shape
    out = torch.empty_like(x)
    if bt == 0:
        return out
    assert state_in.stride(-1) == 1 and state_out.stride(-1) == 1 and x.stride(-1) == 1
    assert weight.stride(-1) == 1
    block_c = 256
    _conv1d_update_kernel[(bt, triton.cdiv(c, block_c))](
        x,
        weight,
        bias if bias is not None else weight,
        state_in,
        state_out,
        slot_in,
        slot_out,
        out,
        c,
        x.stride(0),
        weight.stride(0),
        state_in.stride(0),
        state_in.stride(1),
        state_out.stride(0),
        state_out.stride(1),
        out.stride(0),
        KW=weight.shape[-1] - 1,
        HAS_BIAS=bias is not None,
        BLOCK_C=block_c,
        num_warps=2,
    )
    return out


def conv1d_update(
    x: torch.Tensor,  # [Bt, C] one new input per sequence
    conv_state: torch.Tensor,  # [Bt, C, K-1]
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode step: returns (silu(conv) [Bt, C], the new state [Bt, C, K-1])."""
    rows = torch.arange(x.shape[0], device=x.device, dtype=torch.int32)
    new_state = torch.empty_like(conv_state, dtype=x.dtype)
    out = _launch(x, weight, bias, conv_state, new_state, rows, rows)
    return out, new_state


def conv1d_update_slots(
    x: torch.Tensor,  # [Bt, C]
    conv_cache: torch.Tensor,  # [num_slots, C, K-1], updated in place
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,
    slots: torch.Tensor,  # [Bt] int, distinct; a negative slot marks a padded row
) -> torch.Tensor:
    """One decode step reading and advancing `conv_cache[slots]` in place; returns [Bt, C]."""
    return _launch(x, weight, bias, conv_cache, conv_cache, slots, slots)


@triton.jit
def _conv1d_varlen_kernel(
    x_ptr,  # [T, C]
    w_ptr,  # [C, K]
    b_ptr,  # [C] or a dummy when HAS_BIAS is false
    init_ptr,  # [B, C, K-1]
    cu_ptr,  # [B+1] int32
    out_ptr,  # [T, C]
    C,
    stride_x,
    stride_w,
    stride_i_b,
    stride_i_c,
    stride_out,
    KW: tl.constexpr,  # K - 1
    HAS_BIAS: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """Program (sequence, block of its positions, block of channels); taps before the
    sequence's first token read its initial state."""
    seq = tl.program_id(0)
    start = tl.load(cu_ptr + seq).to(tl.int64)
    length = tl.load(cu_ptr + seq + 1).to(tl.int64) - start
    if tl.program_id(1) * BLOCK_T >= length:
        return
    pos = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T).to(tl.int64)
    cols = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = cols < C
    tmask = pos < length
    acc = tl.zeros((BLOCK_T, BLOCK_C), dtype=tl.float32)
    if HAS_BIAS:
        acc += tl.load(b_ptr + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    near_start = tl.program_id(1) * BLOCK_T < KW  # some taps reach into the initial state
    for k in tl.static_range(KW + 1):
        w = tl.load(w_ptr + cols * stride_w + k, mask=cmask, other=0.0).to(tl.float32)
        src = pos - KW + k  # the tap's position in the sequence; < 0: in the initial state
        in_x = (tmask & (src >= 0))[:, None] & cmask[None, :]
        xv = tl.load(
            x_ptr + (start + src)[:, None] * stride_x + cols[None, :], mask=in_x, other=0.0
        ).to(tl.float32)
        if near_start:
            in_state = (tmask & (src < 0))[:, None] & cmask[None, :]
            hist = init_ptr + seq * stride_i_b + cols[None, :] * stride_i_c + (KW + src)[:, None]
            xv += tl.load(hist, mask=in_state, other=0.0).to(tl.float32)
        acc += w[None, :] * xv
    y = acc * tl.sigmoid(acc)
    dst = out_ptr + (start + pos)[:, None] * stride_out + cols[None, :]
    tl.store(dst, y.to(out_ptr.dtype.element_ty), mask=tmask[:, None] & cmask[None, :])


def causal_conv1d_varlen(
    x: torch.Tensor,  # [T, C]
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,  # [C]
    cu_seqlens: list[int],  # B+1 offsets into T
    initial_states: torch.Tensor,  # [B, C, K-1]; zeros where a sequence has no history
    tile: ConvTile = CONV_TILE,
) -> torch.Tensor:
    """Returns silu(conv(x)) of shape [T, C]; states are read, never written."""
    t, c = x.shape
    out = torch.empty_like(x)
    lengths = [b - a for a, b in zip(cu_seqlens, cu_seqlens[1:])]
    if t == 0:
        return out
    assert x.stride(-1) == 1 and weight.stride(-1) == 1 and initial_states.stride(-1) == 1
    cu = device_offsets(tuple(cu_seqlens), x.device)
    grid = (len(lengths), triton.cdiv(max(lengths), tile.block_t), triton.cdiv(c, tile.block_c))
    _conv1d_varlen_kernel[grid](
        x,
        weight,
        bias if bias is not None else weight,
        initial_states,
        cu,
        out,
        c,
        x.stride(0),
        weight.stride(0),
        initial_states.stride(0),
        initial_states.stride(1),
        out.stride(0),
        KW=weight.shape[-1] - 1,
        HAS_BIAS=bias is not None,
        BLOCK_T=tile.block_t,
        BLOCK_C=tile.block_c,
        num_warps=tile.num_warps,
    )
    return out
